"""Unread per agent over the API (the list's `unread`, POST …/read, the inbox's conversation view marks it
read) and the agent's own time zone (PUT /api/v1/me/timezone; the inbox renders times in it)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import update

from hub.runtime import Hub
from inbox.models import Message
from tests.hub.web.conftest import Client, Person, error_of, hand_in, login, make_agent


def unread_of(listed: dict[str, object], conversation_id: int) -> int:
    items = listed["items"]
    assert isinstance(items, list)
    found = [c["unread"] for c in items if c["id"] == conversation_id]
    assert len(found) == 1, listed
    return int(found[0])


async def test_the_list_counts_client_messages_after_each_agents_own_read_marker(
    client: Client, hub: Hub, sales: Person
) -> None:
    colleague = await make_agent(hub, "vera@okno.example.com", teams=("Sales",))
    first = await hand_in(client, "s-1", text="Где мой заказ?")
    await hand_in(client, "s-2", text="Алло?")
    conv = int(first["conversation_id"])
    listed = await (await client.get("/api/v1/conversations", headers=sales.headers)).json()
    assert unread_of(listed, conv) == 2

    marked = await client.post(f"/api/v1/conversations/{conv}/read", headers=sales.headers)
    assert marked.status == 200
    body = await marked.json()
    assert body["conversation_id"] == conv and body["unread"] == 0 and body["last_read_message_id"] > 0
    listed = await (await client.get("/api/v1/conversations", headers=sales.headers)).json()
    assert unread_of(listed, conv) == 0
    # Her colleague has not read it; her reply is unread for nobody; a new client message is, again.
    others = await (await client.get("/api/v1/conversations", headers=colleague.headers)).json()
    assert unread_of(others, conv) == 2
    reply = await client.post(
        f"/api/v1/conversations/{conv}/replies", json={"text": "Едет"}, headers=sales.headers
    )
    assert reply.status == 201
    listed = await (await client.get("/api/v1/conversations", headers=sales.headers)).json()
    assert unread_of(listed, conv) == 0
    await hand_in(client, "s-3", text="Спасибо!")
    listed = await (await client.get("/api/v1/conversations", headers=sales.headers)).json()
    assert unread_of(listed, conv) == 1


async def test_marking_read_needs_a_visible_conversation_and_no_body(
    client: Client, sales: Person, wholesale: Person
) -> None:
    conv = int((await hand_in(client, "s-1"))["conversation_id"])
    await error_of(await client.post(f"/api/v1/conversations/{conv}/read", headers=wholesale.headers), 403)
    await error_of(await client.post("/api/v1/conversations/4242/read", headers=sales.headers), 404)
    refused = await client.post(f"/api/v1/conversations/{conv}/read", json={"x": 1}, headers=sales.headers)
    assert (await error_of(refused, 400))["code"] == "invalid_request"
    assert (
        await client.post(f"/api/v1/conversations/{conv}/read", json={}, headers=sales.headers)
    ).status == 200


async def test_opening_a_conversation_in_the_inbox_reads_it_for_that_agent(
    client: Client, hub: Hub, sales: Person
) -> None:
    conv = int((await hand_in(client, "s-1"))["conversation_id"])
    await login(client, sales.email)
    listed = await (await client.get("/inbox/parts/list?queue=all&status=open")).text()
    assert f'class="row unread" href="/inbox/{conv}?' in listed and 'class="unread-count"' in listed
    assert (await client.get(f"/inbox/parts/conversation/{conv}")).status == 200
    listed = await (await client.get("/inbox/parts/list?queue=all&status=open")).text()
    assert 'class="row unread"' not in listed and 'class="unread-count"' not in listed
    assert 'class="badge"' in listed  # still awaiting a reply: that is another mark


async def test_an_agent_sets_a_valid_time_zone_and_the_inbox_shows_times_in_it(
    client: Client, hub: Hub, sales: Person
) -> None:
    conv = int((await hand_in(client, "s-1"))["conversation_id"])
    at = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)  # 19:05 in Vladivostok (UTC+10), 12:05 in Moscow
    async with hub.sessionmaker() as session:
        await session.execute(update(Message).values(created_at=at, sent_at=at))
        await session.commit()
    for zone, shown in (("Asia/Vladivostok", "19:05"), ("Europe/Moscow", "12:05")):
        response = await client.put("/api/v1/me/timezone", json={"timezone": zone}, headers=sales.headers)
        assert response.status == 200
        assert await response.json() == {"agent_id": sales.id, "timezone": zone, "effective": zone}
        await login(client, sales.email)
        html = await (await client.get(f"/inbox/parts/conversation/{conv}")).text()
        assert re.search(rf"<time[^>]*>\s*{shown}\s*</time>", html), (zone, html[:2000])
    me = await (await client.get("/api/v1/me", headers=sales.headers)).json()
    assert me["agent"]["timezone"] == "Europe/Moscow"


async def test_an_unknown_time_zone_is_a_422_naming_it(client: Client, sales: Person) -> None:
    for bad in ("Mars/Olympus", "", "../../etc/passwd"):
        response = await client.put("/api/v1/me/timezone", json={"timezone": bad}, headers=sales.headers)
        error = await error_of(response, 422)
        assert error["field"] == "timezone" and "time zone" in error["message"], error
    response = await client.put("/api/v1/me/timezone", json={"timezone": 3}, headers=sales.headers)
    assert (await error_of(response, 400))["field"] == "timezone"  # not text at all: a malformed request
    cleared = await client.put("/api/v1/me/timezone", json={"timezone": None}, headers=sales.headers)
    assert (await cleared.json())["timezone"] is None
