"""The Redis event bus: an event published by one hub process reaches the subscribers of another."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from hub import bus_redis
from hub.bus_redis import RedisBus
from inbox.bus import Event
from tests.conftest import require_service
from tests.faults.harness import RedisServer
from tests.waiting import eventually, next_item, resolved

REDIS_URL = os.environ.get("OKNO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@contextlib.asynccontextmanager
async def two_processes(redis_url: str) -> AsyncIterator[tuple[RedisBus, RedisBus, str]]:
    """The buses of two hub processes on one channel of their own (and its name), started."""
    channel = f"okno:test:{uuid.uuid4().hex}"
    a, b = RedisBus(redis_url, channel), RedisBus(redis_url, channel)
    await a.start()
    await b.start()
    try:
        yield a, b, channel
    finally:
        await a.stop()
        await b.stop()


async def test_event_from_process_a_reaches_a_socket_on_process_b(redis_url: str) -> None:
    async with two_processes(redis_url) as (a, b, _), b.subscribe() as on_b, a.subscribe() as on_a:
        sent = Event("message.created", conversation_id=7, team_id=2, data={"preview": "Привет"})
        await a.publish(sent)
        assert await next_item(on_b, "the event on process B") == sent
        assert await next_item(on_a, "the event on process A") == sent  # the publisher's own sockets too


async def test_malformed_events_on_the_channel_are_skipped(redis_url: str) -> None:
    raw = redis.Redis.from_url(redis_url)
    try:
        async with two_processes(redis_url) as (bus, other, channel), bus.subscribe() as sub:
            for malformed in ("not json", "[1, 2]", '{"no": "type"}'):
                await raw.publish(channel, malformed)
            await other.publish(Event("conversation.updated", conversation_id=1))  # after them, via Redis
            assert (await next_item(sub, "the good event")).type == "conversation.updated"
    finally:
        await raw.aclose()


async def test_a_process_gets_its_own_events_once_in_order_and_the_others_get_them_in_order(
    redis_url: str,
) -> None:
    async with two_processes(redis_url) as (a, b, _), a.subscribe() as on_a, b.subscribe() as on_b:
        sent = [Event("message.created", conversation_id=i, data={"n": i}) for i in range(200)]
        for event in sent:
            await a.publish(event)
        await resolved(a.sent(), "Redis taking the events of a")
        marker = Event("conversation.updated", conversation_id=-1)
        await b.publish(marker)  # reaches a through Redis, after a's own would have come back
        on_publisher = [await next_item(on_a, f"event {i} on the publisher") for i in range(201)]
        assert on_publisher == [*sent, marker]  # in order, each once: a skips its own coming back
        on_other = [await next_item(on_b, f"event {i} on the other process") for i in range(201)]
        assert on_other.count(marker) == 1  # b's own, once (at once: wherever a's were by then)
        assert [event for event in on_other if event != marker] == sent


async def test_events_published_while_redis_is_down_reach_local_subscribers_and_redis_when_it_is_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = RedisServer()
    server.start()
    bus = RedisBus(server.url, f"okno:test:{uuid.uuid4().hex}")
    try:
        await bus.start()
        async with bus.subscribe() as local:
            await asyncio.to_thread(server.stop)
            monkeypatch.setattr(bus_redis, "OUTBOUND_LIMIT", 3)
            events = [Event("message.created", conversation_id=i) for i in range(5)]
            for event in events:
                await bus.publish(event)  # does not wait for Redis
            assert [await next_item(local, f"local event {i}") for i in range(5)] == events
            await eventually(lambda: bus.dropped == 2 and bus.pending == 3, "the two oldest dropped")
            await asyncio.to_thread(server.start)
            await eventually(lambda: bus.pending == 0, "the three kept sent once Redis is back")
            assert bus.dropped == 2
    finally:
        await bus.stop(flush_seconds=0)
        await asyncio.to_thread(server.stop)


async def test_hub_uses_redis_when_configured(hub_factory: object, redis_url: str) -> None:
    hub = await hub_factory(bus_url=redis_url)  # type: ignore[operator]
    assert isinstance(hub.bus, RedisBus)


async def test_hubs_on_two_redis_databases_do_not_see_each_others_events() -> None:
    """Redis pub/sub ignores the database number; the bus channel does not (one hub per database)."""
    base = REDIS_URL.rsplit("/", 1)[0]
    first, second, same = RedisBus(f"{base}/14"), RedisBus(f"{base}/13"), RedisBus(f"{base}/14")
    second_peer = RedisBus(f"{base}/13")
    try:
        await first.start()
    except (redis.ConnectionError, OSError) as exc:
        require_service("redis", False, str(exc))
    await second.start()
    await same.start()
    await second_peer.start()
    try:
        async with second.subscribe() as on_second, same.subscribe() as on_same:
            marker = uuid.uuid4().hex
            await first.publish(Event("message.created", conversation_id=1, data={"preview": marker}))
            seen = await next_item(on_same, "the event on the hub sharing the database")
            assert seen.data["preview"] == marker
            # Published on database 13 by another process: it comes through Redis, after where first's
            # event would have come had it crossed.
            await second_peer.publish(Event("message.created", conversation_id=2, data={"preview": "own"}))
            own = await next_item(on_second, "the other database's own event")
            assert own.data["preview"] == "own"  # first's event never reached it: its own came first
    finally:
        for bus in (first, second, same, second_peer):
            await bus.stop()
