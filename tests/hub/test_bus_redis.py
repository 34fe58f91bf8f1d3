"""The Redis event bus: an event published by one hub process reaches the subscribers of another."""

from __future__ import annotations

import os
import uuid

import redis.asyncio as redis

from hub.bus_redis import RedisBus
from inbox.bus import Event
from tests.conftest import require_service
from tests.waiting import next_item

REDIS_URL = os.environ.get("OKNO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def test_event_from_process_a_reaches_a_socket_on_process_b(redis_url: str) -> None:
    channel = f"okno:test:{uuid.uuid4().hex}"
    a, b = RedisBus(redis_url, channel), RedisBus(redis_url, channel)
    await a.start()
    await b.start()
    try:
        async with b.subscribe() as on_b, a.subscribe() as on_a:
            sent = Event("message.created", conversation_id=7, team_id=2, data={"preview": "Привет"})
            await a.publish(sent)
            assert await next_item(on_b, "the event on process B") == sent
            assert await next_item(on_a, "the event on process A") == sent  # the publisher's own sockets too
    finally:
        await a.stop()
        await b.stop()


async def test_malformed_events_on_the_channel_are_skipped(redis_url: str) -> None:
    channel = f"okno:test:{uuid.uuid4().hex}"
    bus = RedisBus(redis_url, channel)
    await bus.start()
    raw = redis.Redis.from_url(redis_url)
    try:
        async with bus.subscribe() as sub:
            await raw.publish(channel, "not json")
            await bus.publish(Event("conversation.updated", conversation_id=1))
            assert (await next_item(sub, "the good event")).type == "conversation.updated"
    finally:
        await raw.aclose()
        await bus.stop()


async def test_hub_uses_redis_when_configured(hub_factory: object, redis_url: str) -> None:
    hub = await hub_factory(bus_url=redis_url)  # type: ignore[operator]
    assert isinstance(hub.bus, RedisBus)


async def test_hubs_on_two_redis_databases_do_not_see_each_others_events() -> None:
    """Redis pub/sub ignores the database number; the bus channel does not (one hub per database)."""
    base = REDIS_URL.rsplit("/", 1)[0]
    first, second, same = RedisBus(f"{base}/14"), RedisBus(f"{base}/13"), RedisBus(f"{base}/14")
    try:
        await first.start()
    except (redis.ConnectionError, OSError) as exc:
        require_service("redis", False, str(exc))
    await second.start()
    await same.start()
    try:
        async with second.subscribe() as on_second, same.subscribe() as on_same:
            marker = uuid.uuid4().hex
            await first.publish(Event("message.created", conversation_id=1, data={"preview": marker}))
            seen = await next_item(on_same, "the event on the hub sharing the database")
            assert seen.data["preview"] == marker
            await second.publish(Event("message.created", conversation_id=2, data={"preview": "own"}))
            own = await next_item(on_second, "the other database's own event")
            assert own.data["preview"] == "own"  # first's event never reached it: its own came first
    finally:
        for bus in (first, second, same):
            await bus.stop()
