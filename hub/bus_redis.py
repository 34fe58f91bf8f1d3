"""The event bus over Redis pub/sub, for several hub processes sharing one database.

Every process publishes to one Redis channel and keeps one subscription to it; a reader task fans each
event out to the process's local subscribers (agent WebSockets). So a socket on process A sees a message
ingested on process B. Events are notifications, not data: a subscriber that missed some (Redis restarted,
a slow socket) reloads from the database, which stays the source of truth. When the reader subscribes
again after losing Redis, it tells every local subscriber to reload (:meth:`hub.bus.LocalBus.lost`).

`publish` does not wait for Redis. The process's own subscribers get the event at once, and a writer task
sends what was published meanwhile to Redis in one round trip (a pipeline of PUBLISH commands, in order);
each payload names its process (``origin``), and the reader skips its own. Waiting for one PUBLISH per event
held the ingest loop between two group commits (a batch's events went out one round trip each before the
next batch could start) and sent each event to Redis and back before a socket of the same process saw it:
with 200 web-chat messages/s and 80 channel items/s on one process, p50 to the agent socket was 17-19 ms.
While Redis is down the writer keeps trying with the unsent events (at most `OUTBOUND_LIMIT`, the oldest
dropped past that, logged): the data is committed, and the other processes reload when they reconnect.

The channel is named after the database number of the bus URL (``okno:events:db<N>``): Redis keeps keys
apart by database but not pub/sub channels, and two hubs told apart by their Redis database (a staging and a
production hub on one Redis) must not see each other's events — agents would be shown another hub's
conversation ids and previews.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque

import redis.asyncio as redis

from hub.bus import LocalBus, Subscription
from inbox.bus import Event

log = logging.getLogger(__name__)

OUTBOUND_LIMIT = 10_000  # events waiting for Redis; past it the oldest are dropped (and logged)
RETRY_SECONDS = (0.1, 5.0)  # the writer's first and longest wait before sending again after a failure


def channel_for(url: str) -> str:
    """The bus channel of a Redis URL: one per Redis database number (see the module docstring)."""
    database = redis.Redis.from_url(url).connection_pool.connection_kwargs.get("db", 0)
    return f"okno:events:db{int(database or 0)}"


class RedisBus:
    def __init__(self, url: str, channel: str | None = None) -> None:
        self._client = redis.Redis.from_url(url)
        self._channel = channel or channel_for(url)
        self._local = LocalBus()
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._origin = uuid.uuid4().hex  # this process, on each payload it sends: its reader skips them
        self._outbound: deque[str] = deque()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._sent = asyncio.Event()  # set while nothing waits for Redis
        self._sent.set()
        self.dropped = 0  # events never sent to Redis (the outbound queue was full): for tests and logs

    async def start(self) -> None:
        await self._client.ping()  # fail at start, with a clear error, if Redis is not there
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="okno-redis-bus")
            await self._ready.wait()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="okno-redis-bus-writer")

    async def stop(self, flush_seconds: float = 2.0) -> None:
        """Send what is still queued (waiting at most `flush_seconds` for Redis), then disconnect."""
        if self._writer is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(flush_seconds):
                    await self.sent()
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
            if self._outbound:
                log.warning("event bus: %d events never reached Redis before the stop", len(self._outbound))
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._client.aclose()

    async def publish(self, event: Event) -> None:
        """Hand `event` to this process's subscribers now and queue it for Redis (module docstring)."""
        await self._local.publish(event)
        self._outbound.append(json.dumps({**event.to_dict(), "origin": self._origin}, ensure_ascii=False))
        self._trim()
        self._sent.clear()
        self._wake.set()

    async def sent(self) -> None:
        """Return once Redis has taken every event published here so far."""
        await self._sent.wait()

    @property
    def pending(self) -> int:
        """Events published here that Redis has not taken yet."""
        return len(self._outbound)

    def _trim(self) -> None:
        excess = len(self._outbound) - OUTBOUND_LIMIT
        if excess <= 0:
            return
        for _ in range(excess):
            self._outbound.popleft()
        before, self.dropped = self.dropped, self.dropped + excess
        if before == 0 or before // 1000 != self.dropped // 1000:  # the first drop, then every 1,000th
            log.warning("event bus: Redis takes no events; %d dropped so far", self.dropped)

    async def _write(self) -> None:
        """Send the queued events in order: each round trip takes all that were queued when it began."""
        delay = RETRY_SECONDS[0]
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbound:
                batch, self._outbound = self._outbound, deque()
                try:
                    async with self._client.pipeline(transaction=False) as pipe:
                        for payload in batch:
                            pipe.publish(self._channel, payload)
                        await pipe.execute()
                except (redis.RedisError, OSError) as exc:
                    log.warning("event bus: Redis did not take %d events (%s); retrying", len(batch), exc)
                    batch.extend(self._outbound)  # unsent first, in order
                    self._outbound = batch
                    self._trim()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_SECONDS[1])
                    continue
                except Exception:  # a bug must not stop the writer: these events are lost, the next go
                    log.exception("event bus: sending %d events to Redis failed", len(batch))
                    self.dropped += len(batch)
                delay = RETRY_SECONDS[0]
            self._sent.set()

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        return self._local.subscribe(maxsize)

    @property
    def subscriber_count(self) -> int:
        return self._local.subscriber_count

    async def _read(self) -> None:
        delay = 0.5
        lost_since: str | None = None  # why the last subscription ended, until a new one holds
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self._ready.set()
                delay = 0.5
                if lost_since is not None:
                    log.info("event bus reconnected to Redis; subscribers reload what they missed")
                    self._local.lost(f"the event bus lost Redis ({lost_since}): reload")
                    lost_since = None
                async for raw in pubsub.listen():
                    try:
                        payload = json.loads(raw["data"])
                        if payload.get("origin") == self._origin:
                            continue  # published here: this process's subscribers already have it
                        event = Event.from_dict(payload)
                    except (ValueError, KeyError, TypeError, AttributeError):
                        log.warning("ignoring a malformed event on %s", self._channel)
                        continue
                    await self._local.publish(event)
            except asyncio.CancelledError:
                raise
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                lost_since = lost_since or f"{exc.__class__.__name__}: {exc}"
                log.warning("event bus lost Redis (%s); reconnecting in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
