"""The event bus over Redis pub/sub, for several hub processes sharing one database.

Every process publishes to one Redis channel and keeps one subscription to it; a reader task fans each
event out to the process's local subscribers (agent WebSockets). So a socket on process A sees a message
ingested on process B. Events are notifications, not data: a subscriber that missed some (Redis restarted,
a slow socket) reloads from the database, which stays the source of truth. Events published while Redis is
down are lost from the bus (the publisher logs it; the data is committed): when the reader subscribes again
after losing Redis, it tells every local subscriber to reload (:meth:`hub.bus.LocalBus.lost`).

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

import redis.asyncio as redis

from hub.bus import LocalBus, Subscription
from inbox.bus import Event

log = logging.getLogger(__name__)


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

    async def start(self) -> None:
        await self._client.ping()  # fail at start, with a clear error, if Redis is not there
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="okno-redis-bus")
            await self._ready.wait()

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._client.aclose()

    async def publish(self, event: Event) -> None:
        await self._client.publish(self._channel, json.dumps(event.to_dict(), ensure_ascii=False))

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
                        event = Event.from_dict(json.loads(raw["data"]))
                    except (ValueError, KeyError, TypeError):
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
