"""Leads through the running hub: a new lead's first dialog goes to the "new clients" team (a rule that
names a team still wins), the first agent to answer gets a follow-up task in the hub's language, and a
returning client's message reaches their owner's socket alone — also when the owner's socket is on
another hub process."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hub.runtime import Hub
from hub.web import create_app
from inbox.models import Conversation, Team
from tests.conftest import make_settings
from tests.hub.web.api.test_ws import frames_until
from tests.hub.web.conftest import TOKENS, Client, Person, hand_in, make_agent
from tests.waiting import eventually, next_frame

REDIS_URL = os.environ.get("OKNO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ACCOUNTS: dict[str, dict[str, Any]] = {"shop": {"kind": "api", "token": TOKENS["shop"], "team": "Support"}}
ROUTING: dict[str, Any] = {
    "new_clients_team": "Sales",
    "lead_follow_up_hours": 48,
    "teams": {"Sales": {}, "Billing": {}},
    "rules": [{"name": "refunds", "team": "Billing", "when": {"keywords": ["возврат"]}}],
}


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Hub]]) -> Hub:
    return await hub_factory(accounts=ACCOUNTS, routing=ROUTING)


async def team_id(hub: Hub, name: str) -> int:
    async with hub.sessionmaker() as session:
        found = await session.scalar(select(Team.id).where(Team.name == name))
        assert found is not None
        return found


async def ruled(hub: Hub, conversation_id: int) -> Conversation:
    """The conversation once the router's rules have looked at it."""
    found: list[Conversation] = []

    async def looked_at() -> bool:
        async with hub.sessionmaker() as session:
            conv = await session.get_one(Conversation, conversation_id)
            found[:] = [conv]
            return conv.rules_applied_at is not None

    await eventually(looked_at, f"the rules looked at conversation {conversation_id}")
    return found[0]


async def test_a_new_leads_first_dialog_goes_to_the_new_clients_team_unless_a_rule_names_another(
    client: Client, hub: Hub
) -> None:
    sales, billing, support = [await team_id(hub, n) for n in ("Sales", "Billing", "Support")]
    lead = await hand_in(client, "m-1", email="new@example.com", text="Сколько стоит доставка?")
    assert (await ruled(hub, lead["conversation_id"])).team_id == sales
    refund = await hand_in(client, "m-2", email="other@example.com", text="Хочу возврат")
    assert (await ruled(hub, refund["conversation_id"])).team_id == billing  # the rule wins

    admin = await make_agent(hub, "admin@okno.example.com", role="admin")
    resolved = await client.post(
        f"/api/v1/conversations/{lead['conversation_id']}/status",
        json={"status": "resolved"},
        headers=admin.headers,
    )
    assert resolved.status == 200, await resolved.text()
    again = await hand_in(client, "m-3", email="new@example.com", text="И ещё вопрос")
    assert again["contact_id"] == lead["contact_id"]
    assert again["conversation_id"] != lead["conversation_id"]
    assert (await ruled(hub, again["conversation_id"])).team_id == support  # a known card: its account's team


async def test_an_unknown_new_clients_team_is_a_configuration_error_naming_the_key(database_url: str) -> None:
    hub = Hub(make_settings(database_url, accounts=ACCOUNTS, routing={"new_clients_team": "Продажи"}))
    try:
        with pytest.raises(ValueError, match=r"^routing\.new_clients_team: no team is named 'Продажи'"):
            await hub.sync_accounts()
    finally:
        await hub.engine.dispose()


async def test_the_first_agent_to_answer_a_lead_gets_one_follow_up_task_in_the_hubs_language(
    client: Client, hub: Hub
) -> None:
    first = await make_agent(hub, "anna@okno.example.com", teams=("Sales",))
    second = await make_agent(hub, "oleg@okno.example.com", teams=("Sales",))
    lead = await hand_in(client, "m-1", email="new@example.com", name="Ирина")
    conv = lead["conversation_id"]
    sent = await client.post(
        f"/api/v1/conversations/{conv}/replies", json={"text": "Добрый день!"}, headers=first.headers
    )
    assert sent.status == 201, await sent.text()
    replied_at = datetime.fromisoformat((await sent.json())["created_at"])
    await client.post(
        f"/api/v1/conversations/{conv}/assign", json={"assignee_id": None}, headers=first.headers
    )
    again = await client.post(
        f"/api/v1/conversations/{conv}/replies", json={"text": "Подключаюсь"}, headers=second.headers
    )
    assert again.status == 201, await again.text()

    tasks = (await (await client.get("/api/v1/tasks", headers=first.headers)).json())["items"]
    (task,) = tasks
    assert task["kind"] == "follow_up" and task["assignee_id"] == first.id
    assert task["title"] == "Связаться с новым клиентом: Ирина"  # [ui] language: ru
    assert task["contact_id"] == lead["contact_id"] and task["conversation_id"] == conv
    assert datetime.fromisoformat(task["due_at"]) - replied_at == timedelta(hours=48)
    seen_by_second = (await (await client.get("/api/v1/tasks", headers=second.headers)).json())["items"]
    assert [t["id"] for t in seen_by_second] == [task["id"]]  # once per card: no task of their own


async def owner_and_colleague(hub: Hub, client: Client) -> tuple[Person, Person, int]:
    """Anna answers a new lead (she becomes the card's owner), then the dialog goes to Oleg."""
    owner = await make_agent(hub, "anna@okno.example.com", teams=("Support",))
    colleague = await make_agent(hub, "oleg@okno.example.com", teams=("Support",))
    conv = (await hand_in(client, "m-1", email="back@example.com"))["conversation_id"]
    sent = await client.post(
        f"/api/v1/conversations/{conv}/replies", json={"text": "Здравствуйте!"}, headers=owner.headers
    )
    assert sent.status == 201, await sent.text()
    moved = await client.post(
        f"/api/v1/conversations/{conv}/assign", json={"assignee_id": colleague.id}, headers=owner.headers
    )
    assert moved.status == 200, await moved.text()
    return owner, colleague, conv


async def no_client_returned_until_the_message(ws: aiohttp.ClientWebSocketResponse, conv: int) -> None:
    frames = await frames_until(ws, "message.created", conv)
    assert [f for f in frames if f["type"] == "client.returned"] == []


async def test_a_returning_clients_message_reaches_their_owners_socket_and_no_one_elses(
    hub_factory: Callable[..., Awaitable[Hub]],
) -> None:
    hub = await hub_factory(accounts=ACCOUNTS)  # one process
    async with TestClient(TestServer(create_app(hub, manage_hub=False))) as client:
        owner, colleague, conv = await owner_and_colleague(hub, client)
        async with (
            client.ws_connect("/api/v1/ws", headers=owner.headers) as on_owner,
            client.ws_connect("/api/v1/ws", headers=colleague.headers) as on_colleague,
        ):
            await next_frame(on_owner)
            await next_frame(on_colleague)
            await hand_in(client, "m-2", email="back@example.com", text="Это снова я")
            told = (await frames_until(on_owner, "client.returned", conv))[-1]
            assert told["data"]["owner_id"] == owner.id and told["data"]["preview"] == "Это снова я"
            await no_client_returned_until_the_message(on_colleague, conv)


async def test_the_owner_hears_of_the_returning_client_on_another_hub_process(
    hub_factory: Callable[..., Awaitable[Hub]], redis_url: str
) -> None:
    a = await hub_factory(accounts=ACCOUNTS, bus_url=redis_url)
    b = await hub_factory(accounts=ACCOUNTS, bus_url=redis_url)
    async with (
        TestClient(TestServer(create_app(a, manage_hub=False))) as on_a,
        TestClient(TestServer(create_app(b, manage_hub=False))) as on_b,
    ):
        owner, colleague, conv = await owner_and_colleague(b, on_b)
        async with (
            on_a.ws_connect("/api/v1/ws", headers=owner.headers) as owner_on_a,
            on_a.ws_connect("/api/v1/ws", headers=colleague.headers) as colleague_on_a,
        ):
            await next_frame(owner_on_a)
            await next_frame(colleague_on_a)
            await hand_in(on_b, "m-2", email="back@example.com", text="Это снова я")  # ingested by B
            told = (await frames_until(owner_on_a, "client.returned", conv))[-1]
            assert told["data"]["owner_id"] == owner.id
            await no_client_returned_until_the_message(colleague_on_a, conv)
