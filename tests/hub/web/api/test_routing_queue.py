"""The queue as supervisors and agents see it: a supervisor of the team sees each waiting dialog's place
in line and how long it has waited, an agent of another team sees none of it."""

from __future__ import annotations

from typing import Any

from hub.runtime import Hub
from inbox.models import Conversation
from tests.hub.web.conftest import Client, Person, hand_in, make_agent
from tests.waiting import eventually


async def test_a_supervisor_sees_their_teams_queue_with_place_and_wait_and_another_team_sees_nothing(
    client: Client, hub: Hub, wholesale: Person
) -> None:
    supervisor = await make_agent(hub, "vera@okno.example.com", role="supervisor", teams=("Sales",))
    first = (await hand_in(client, "s-1", email="a@example.com"))["conversation_id"]
    second = (await hand_in(client, "s-2", email="b@example.com"))["conversation_id"]

    async def both_queued() -> list[dict[str, Any]] | None:
        async with hub.sessionmaker() as session:
            convs = [await session.get_one(Conversation, c) for c in (first, second)]
        if any(c.queued_at is None for c in convs):
            return None
        response = await client.get("/api/v1/routing/queue", headers=supervisor.headers)
        assert response.status == 200, await response.text()
        items: list[dict[str, Any]] = (await response.json())["items"]
        return items

    items = await eventually(both_queued, "both dialogs queued (nobody is online)")
    assert [(i["conversation_id"], i["position"]) for i in items] == [(first, 1), (second, 2)]
    assert all(i["waiting_seconds"] >= 0 for i in items)
    other = await client.get("/api/v1/routing/queue", headers=wholesale.headers)
    assert (await other.json())["items"] == []
