"""Routing over HTTP, tried as a new user would: agents log in, open the inbox (a socket), set themselves
online, and messages arriving through the API channel are handed out among them within capacity."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from hub.runtime import Hub
from hub.web import create_app
from inbox.models import AuditLog, Conversation
from tests.hub.web.conftest import ACCOUNTS, TOKENS, Client, Person, error_of, make_agent
from tests.waiting import eventually, next_frame

CAPACITY = 140  # room for 100 each, then 30 more for each of the two left


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Hub]], tmp_path: Path) -> Hub:
    routing = {"idle_seconds": 0.5, "teams": {"Sales": {"agent_capacity": CAPACITY}}}
    return await hub_factory(accounts=ACCOUNTS, attachments_dir=str(tmp_path / "att"), routing=routing)


@pytest.fixture
async def client(hub: Hub) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(hub, manage_hub=False))) as client:
        yield client


async def socket(stack: AsyncExitStack, client: Client, person: Person) -> ClientWebSocketResponse:
    """The inbox tab of `person`: an agent socket, up once its hello came."""
    ws = await stack.enter_async_context(client.ws_connect("/api/v1/ws", headers=person.headers))
    assert (await next_frame(ws))["type"] == "hello"
    return ws


async def set_status(client: Client, person: Person, status: str) -> dict[str, Any]:
    response = await client.put("/api/v1/me/availability", json={"status": status}, headers=person.headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def messages(client: Client, first: int, count: int) -> None:
    """`count` messages from as many new senders, a few at a time (as a shop's server would send)."""

    async def one(n: int) -> None:
        response = await client.post(
            "/api/v1/channels/shop/messages",
            json={"external_id": f"m{n}", "sender": {"email": f"c{n}@example.com"}, "text": "hello"},
            headers={"Authorization": f"Bearer {TOKENS['shop']}"},
        )
        assert response.status == 201, await response.text()

    for start in range(first, first + count, 20):
        await asyncio.gather(*(one(n) for n in range(start, min(start + 20, first + count))))


async def assignments(hub: Hub) -> Counter[int | None]:
    async with hub.sessionmaker() as session:
        rows = await session.execute(
            select(Conversation.assignee_id, func.count()).group_by(Conversation.assignee_id)
        )
        return Counter({agent: int(n) for agent, n in rows})


async def all_assigned(hub: Hub, total: int) -> Counter[int | None] | None:
    counts = await assignments(hub)
    return counts if counts[None] == 0 and sum(counts.values()) == total else None


async def test_three_online_agents_share_300_dialogs_then_two_share_the_next_60(
    client: Client, hub: Hub
) -> None:
    agents = [await make_agent(hub, f"agent{i}@okno.example.com", teams=("Sales",)) for i in range(3)]
    async with AsyncExitStack() as stack:
        for agent in agents:
            await socket(stack, client, agent)
            assert (await set_status(client, agent, "online"))["presence"] == "online"
        await messages(client, 0, 300)
        counts = await eventually(lambda: all_assigned(hub, 300), "all 300 dialogs assigned")
        assert all(95 <= counts[a.id] <= 105 for a in agents), counts
        assert all(counts[a.id] <= CAPACITY for a in agents), counts

        await set_status(client, agents[0], "offline")
        await messages(client, 300, 60)
        after = await eventually(lambda: all_assigned(hub, 360), "the next 60 assigned")
    assert after[agents[0].id] == counts[agents[0].id]
    assert after[agents[1].id] - counts[agents[1].id] == 30
    assert after[agents[2].id] - counts[agents[2].id] == 30


async def test_without_a_socket_an_online_agent_gets_nothing_and_the_dialog_waits_in_the_queue(
    client: Client, hub: Hub
) -> None:
    agent = await make_agent(hub, "anna@okno.example.com", teams=("Sales",))
    assert (await set_status(client, agent, "online"))["presence"] == "offline"
    await messages(client, 0, 2)

    async def queued() -> list[dict[str, Any]] | None:
        response = await client.get("/api/v1/routing/queue", headers=agent.headers)
        items: list[dict[str, Any]] = (await response.json())["items"]
        return items if len(items) == 2 else None

    items = await eventually(queued, "two dialogs in the queue")
    assert [i["position"] for i in items] == [1, 2]
    async with AsyncExitStack() as stack:
        await socket(stack, client, agent)  # the tab opens: the queue drains to them
        counts = await eventually(lambda: all_assigned(hub, 2), "the queue drained")
    assert counts[agent.id] == 2


async def test_an_unknown_status_is_a_400_naming_the_field(client: Client, hub: Hub) -> None:
    agent = await make_agent(hub, "anna@okno.example.com", teams=("Sales",))
    response = await client.put("/api/v1/me/availability", json={"status": "sleepy"}, headers=agent.headers)
    assert (await error_of(response, 400))["field"] == "status"


async def test_the_board_shows_supervisors_their_teams_agents_and_no_agent_sees_it(
    client: Client, hub: Hub
) -> None:
    anna = await make_agent(hub, "anna@okno.example.com", teams=("Sales",))
    await make_agent(hub, "boris@okno.example.com", teams=("Wholesale",))
    chief = await make_agent(hub, "chief@okno.example.com", role="supervisor", teams=("Sales",))
    await set_status(client, anna, "busy")
    await error_of(await client.get("/api/v1/agents/availability", headers=anna.headers), 403)
    response = await client.get("/api/v1/agents/availability", headers=chief.headers)
    board = {row["agent_id"]: row for row in (await response.json())["items"]}
    assert set(board) == {anna.id, chief.id}  # not Boris: another team
    assert board[anna.id] | {"last_assigned_at": None} == {
        "agent_id": anna.id,
        "name": "Anna",
        "status": "busy",
        "presence": "offline",
        "open": 0,
        "capacity": CAPACITY,
        "channel_capacity": {},
        "team_ids": board[anna.id]["team_ids"],
        "last_assigned_at": None,
    }


async def test_take_gives_a_waiting_dialog_to_one_agent_and_a_second_take_is_409(
    client: Client, hub: Hub
) -> None:
    anna = await make_agent(hub, "anna@okno.example.com", teams=("Sales",))
    vera = await make_agent(hub, "vera@okno.example.com", teams=("Sales",))
    boris = await make_agent(hub, "boris@okno.example.com", teams=("Wholesale",))
    await messages(client, 0, 1)
    async with hub.sessionmaker() as session:
        conv_id = await session.scalar(select(Conversation.id))
    assert conv_id is not None
    url = f"/api/v1/conversations/{conv_id}/take"
    await error_of(await client.post(url, headers=boris.headers), 403)
    outcomes = await asyncio.gather(
        client.post(url, headers=anna.headers), client.post(url, headers=vera.headers)
    )
    assert sorted(r.status for r in outcomes) == [200, 409]
    winner = anna if outcomes[0].status == 200 else vera
    assert (await outcomes[0 if winner is anna else 1].json())["assignee_id"] == winner.id


async def test_admins_replace_the_rules_and_a_bad_one_is_a_422_naming_it(client: Client, hub: Hub) -> None:
    admin = await make_agent(hub, "root@okno.example.com", role="admin")
    anna = await make_agent(hub, "anna@okno.example.com", teams=("Sales",))
    rules = [{"name": "refunds", "team": "Sales", "when": {"keywords": ["refund"]}}]
    url = "/api/v1/routing/rules"
    await error_of(await client.put(url, json={"rules": rules}, headers=anna.headers), 403)
    response = await client.put(url, json={"rules": rules}, headers=admin.headers)
    assert response.status == 200, await response.text()
    # Answered in full: every condition present, those not given empty.
    when = {
        "account": [],
        "channel": [],
        "card": None,
        "tags": [],
        "language": [],
        "keywords": ["refund"],
        "regex": None,
        "business_hours": None,
        "vip": None,
    }
    stored = [
        {"name": "refunds", "team": "Sales", "priority": None, "tags": [], "auto_reply": None, "when": when}
    ]
    assert (await (await client.get(url, headers=admin.headers)).json()) == {"rules": stored}
    bad = [*rules, {"name": "x", "team": "Nobody"}]
    assert (await error_of(await client.put(url, json={"rules": bad}, headers=admin.headers), 422))[
        "field"
    ] == "rules[1].team"


async def test_an_idle_tab_makes_its_agent_away_and_they_get_no_new_dialog_until_active(
    client: Client, hub: Hub
) -> None:
    agent = await make_agent(hub, "anna@okno.example.com", teams=("Sales",))
    chief = await make_agent(hub, "chief@okno.example.com", role="supervisor", teams=("Sales",))

    async def presence_seen(ws: ClientWebSocketResponse, status: str) -> None:
        while True:
            frame = await next_frame(ws, f"agent.presence {status}")
            if frame["type"] == "agent.presence" and frame["data"] == {
                "agent_id": agent.id,
                "status": status,
            }:
                return

    async with AsyncExitStack() as stack:
        ws = await socket(stack, client, agent)
        await set_status(client, agent, "online")
        await ws.send_json({"type": "idle", "idle": True})
        await presence_seen(ws, "away")
        board = (await (await client.get("/api/v1/agents/availability", headers=chief.headers)).json())[
            "items"
        ]
        assert {r["agent_id"]: r["presence"] for r in board}[agent.id] == "away"
        await messages(client, 0, 1)

        async def queued() -> bool:
            async with hub.sessionmaker() as session:
                conv = await session.scalar(select(Conversation))
                return conv is not None and conv.queued_at is not None

        await eventually(queued, "the dialog waits: its only agent is away")
        await ws.send_json({"type": "idle", "idle": False})
        await presence_seen(ws, "online")
        counts = await eventually(
            lambda: all_assigned(hub, 1), "the dialog goes to the agent back at the tab"
        )
    assert counts[agent.id] == 1


async def test_an_admin_sets_a_per_channel_limit_and_routing_respects_it(client: Client, hub: Hub) -> None:
    admin = await make_agent(hub, "root@okno.example.com", role="admin")
    anna = await make_agent(hub, "anna@okno.example.com", teams=("Sales",))
    response = await client.patch(
        f"/api/v1/agents/{anna.id}", json={"channel_capacity": {"api": 2}}, headers=admin.headers
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["channel_capacity"] == {"api": 2}
    bad = await client.patch(
        f"/api/v1/agents/{anna.id}", json={"channel_capacity": {"api": -1}}, headers=admin.headers
    )
    await error_of(bad, 400)
    async with AsyncExitStack() as stack:
        await socket(stack, client, anna)
        await set_status(client, anna, "online")
        await messages(client, 0, 3)

        async def two_assigned_one_queued() -> Counter[int | None] | None:
            counts = await assignments(hub)
            return counts if counts[anna.id] == 2 and counts[None] == 1 else None

        await eventually(two_assigned_one_queued, "two API dialogs for Anna, the third waits")


async def test_a_teams_supervisor_or_an_admin_changes_its_routing_and_it_then_outlives_the_configuration(
    client: Client, hub: Hub, hub_factory: Callable[..., Awaitable[Hub]]
) -> None:
    admin = await make_agent(hub, "root@okno.example.com", role="admin")
    chief = await make_agent(hub, "chief@okno.example.com", role="supervisor", teams=("Sales",))
    anna = await make_agent(hub, "anna@okno.example.com", teams=("Sales",))
    teams = {
        t["name"]: t
        for t in (await (await client.get("/api/v1/teams", headers=anna.headers)).json())["items"]
    }
    sales, wholesale = teams["Sales"], teams["Wholesale"]
    assert (sales["strategy"], sales["agent_capacity"]) == ("round_robin", CAPACITY)  # from the file
    change = {"strategy": "least_busy", "agent_capacity": 3, "answer_timeout_seconds": 600}
    url = f"/api/v1/teams/{sales['id']}/routing"
    await error_of(await client.put(url, json=change, headers=anna.headers), 403)
    other = f"/api/v1/teams/{wholesale['id']}/routing"
    await error_of(await client.put(other, json=change, headers=chief.headers), 403)
    bad = await client.put(url, json={**change, "strategy": "lottery"}, headers=chief.headers)
    assert (await error_of(bad, 422))["field"] == "strategy"
    bad = await client.put(url, json={**change, "agent_capacity": -1}, headers=chief.headers)
    assert (await error_of(bad, 400))["field"] == "agent_capacity"
    await error_of(await client.put("/api/v1/teams/999999/routing", json=change, headers=admin.headers), 404)
    response = await client.put(url, json=change, headers=chief.headers)
    assert response.status == 200, await response.text()
    assert await response.json() == {"id": sales["id"], "name": "Sales", **change}
    async with hub.sessionmaker() as session:
        row = await session.scalar(
            select(AuditLog).where(AuditLog.action == "team.routing").order_by(AuditLog.id.desc())
        )
        assert row is not None and row.actor_agent_id == chief.id
        assert row.detail["before"]["agent_capacity"] == CAPACITY
    # The next start reads [routing.teams.Sales] again, and leaves the edited team as it was changed.
    routing = {"teams": {"Sales": {"agent_capacity": CAPACITY}, "Wholesale": {"strategy": "manual"}}}
    await hub_factory(accounts=ACCOUNTS, routing=routing)
    after = {
        t["name"]: t
        for t in (await (await client.get("/api/v1/teams", headers=admin.headers)).json())["items"]
    }
    assert after["Sales"] == {"id": sales["id"], "name": "Sales", **change}
    assert after["Wholesale"]["strategy"] == "manual"  # never edited in the hub: the file still applies
