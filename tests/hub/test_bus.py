"""The in-process event bus."""

from __future__ import annotations

from hub.bus import LocalBus
from inbox.bus import Event


async def test_every_subscriber_gets_every_event_until_it_leaves() -> None:
    bus = LocalBus()
    async with bus.subscribe() as a, bus.subscribe() as b:
        await bus.publish(Event("message.created", conversation_id=1))
        assert (await a.get()).conversation_id == 1
        assert (await b.get()).type == "message.created"
    assert bus.subscriber_count == 0


async def test_a_slow_subscriber_loses_its_oldest_events_and_is_told() -> None:
    bus = LocalBus()
    async with bus.subscribe(maxsize=2) as sub:
        for n in range(3):
            await bus.publish(Event("message.created", conversation_id=n))
        assert sub.overflowed
        assert [(await sub.get()).conversation_id for _ in range(2)] == [1, 2]


def test_events_survive_a_round_trip_through_json_shapes() -> None:
    event = Event("message.created", conversation_id=1, team_id=2, assignee_id=None, data={"x": 1})
    assert Event.from_dict(event.to_dict()) == event
