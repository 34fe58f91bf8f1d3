"""The Redis event bus: an event published by one hub process reaches the subscribers of another."""

from __future__ import annotations

import os
import uuid

import redis.asyncio as redis

from hub.bus_redis import RedisBus
from inbox.bus import Event
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
