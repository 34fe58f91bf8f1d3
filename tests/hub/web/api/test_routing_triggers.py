"""The queue drains on the events that free capacity or bring an agent, not on a timer: with the router's
idle look-up set to an hour, a dialog waiting behind a full agent goes to them when they resolve or
snooze a dialog, and to a colleague the moment the colleague comes online. A snoozed dialog does not
count against the capacity."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub.runtime import Hub
from hub.web import create_app
from inbox.models import Conversation
from tests.hub.web.api.test_routing import set_status, socket
from tests.hub.web.conftest import ACCOUNTS, Client, Person, hand_in, make_agent
from tests.waiting import eventually


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Hub]]) -> Hub:
    # An hour between the router's own look-ups: within a test, only a wake can hand a dialog out.
    routing = {"idle_seconds": 3600, "teams": {"Sales": {"agent_capacity": 1}}}
    return await hub_factory(accounts=ACCOUNTS, routing=routing)


async def assigned_to(hub: Hub, conversation_id: int, person: Person) -> None:
    async def given() -> bool:
        async with hub.sessionmaker() as session:
            return (await session.get_one(Conversation, conversation_id)).assignee_id == person.id

    await eventually(given, f"conversation {conversation_id} assigned to {person.email}")


async def still_waiting(hub: Hub, *conversation_ids: int) -> None:
    async with hub.sessionmaker() as session:
        for conv_id in conversation_ids:
            conv = await session.get_one(Conversation, conv_id)
            assert conv.assignee_id is None and conv.queued_at is not None, conv_id


async def test_resolving_snoozing_and_a_colleague_coming_online_each_drain_the_queue_at_once(
    hub: Hub,
) -> None:
    anna = await make_agent(hub, "anna@okno.example.com", teams=("Sales",))
    boris = await make_agent(hub, "boris@okno.example.com", teams=("Sales",))
    client: Client
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(TestClient(TestServer(create_app(hub, manage_hub=False))))
        await socket(stack, client, anna)
        await set_status(client, anna, "online")
        first = (await hand_in(client, "m1", email="c1@example.com"))["conversation_id"]
        await assigned_to(hub, first, anna)  # woken by the ingest's commit
        waiting = [
            (await hand_in(client, f"m{n}", email=f"c{n}@example.com"))["conversation_id"] for n in (2, 3, 4)
        ]

        async def queued() -> bool:
            async with hub.sessionmaker() as session:
                convs = [await session.get_one(Conversation, c) for c in waiting]
                return all(c.queued_at is not None for c in convs)

        await eventually(queued, "three dialogs queued behind Anna's capacity of 1")

        done = await client.post(
            f"/api/v1/conversations/{first}/status", json={"status": "resolved"}, headers=anna.headers
        )
        assert done.status == 200, await done.text()
        await assigned_to(hub, waiting[0], anna)  # the longest-waiting first
        await still_waiting(hub, *waiting[1:])

        until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        snoozed = await client.post(
            f"/api/v1/conversations/{waiting[0]}/status",
            json={"status": "snoozed", "snoozed_until": until},
            headers=anna.headers,
        )
        assert snoozed.status == 200, await snoozed.text()
        await assigned_to(hub, waiting[1], anna)  # a snoozed dialog does not count
        await still_waiting(hub, waiting[2])

        await socket(stack, client, boris)
        await set_status(client, boris, "online")
        await assigned_to(hub, waiting[2], boris)
