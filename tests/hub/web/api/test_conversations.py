"""Conversations over the API: visibility (403 for another team's), filters, assign, status, replies."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.runtime import Hub
from hub.web.api.schemas.conversation_views import ConversationList, ConversationListItem
from inbox.agents import agent_with_teams, viewer_of
from inbox.bus import Event
from inbox.contacts import contacts_by_id
from inbox.conversations import ConversationFilter, list_conversations
from inbox.models import Conversation, Message, Outbox, ReportWait, utcnow
from inbox.reads import unread_counts
from inbox.reports.due import open_dues
from inbox.scheduler import Scheduler
from tests.hub.web.conftest import Client, Person, error_of, hand_in, login, make_agent
from tests.waiting import next_frame, within


@pytest.fixture
async def depot_conv(client: Client) -> int:
    """A conversation of the Wholesale team (through the "depot" account)."""
    result = await hand_in(client, "d-1", account="depot", email="buyer@example.com", name="Оптовик")
    return int(result["conversation_id"])


@pytest.fixture
async def shop_conv(client: Client) -> int:
    """A conversation of the Sales team (through the "shop" account)."""
    result = await hand_in(client, "s-1", account="shop", email="client@example.com")
    return int(result["conversation_id"])


async def test_agent_of_team_a_gets_403_on_a_conversation_of_team_b(
    client: Client, sales: Person, depot_conv: int
) -> None:
    url = f"/api/v1/conversations/{depot_conv}"
    error = await error_of(await client.get(url, headers=sales.headers), 403)
    assert error["code"] == "forbidden"
    for action, body in (
        ("assign", {"assignee_id": sales.id}),
        ("status", {"status": "resolved"}),
        ("replies", {"text": "hello"}),
        ("notes", {"text": "hm"}),
    ):
        await error_of(await client.post(f"{url}/{action}", json=body, headers=sales.headers), 403)
    listed = await (await client.get("/api/v1/conversations", headers=sales.headers)).json()
    assert depot_conv not in [c["id"] for c in listed["items"]]


async def test_the_same_check_holds_for_a_browser_session(
    client: Client, sales: Person, depot_conv: int
) -> None:
    await login(client, sales.email)
    await error_of(await client.get(f"/api/v1/conversations/{depot_conv}"), 403)


async def test_missing_conversation_is_404(client: Client, sales: Person) -> None:
    await error_of(await client.get("/api/v1/conversations/4242", headers=sales.headers), 404)


async def test_agent_sees_own_teams_unassigned_and_loses_it_once_assigned_to_someone_else(
    client: Client, hub: Hub, sales: Person, shop_conv: int
) -> None:
    colleague = await make_agent(hub, "vera@okno.example.com", teams=("Sales",))
    url = f"/api/v1/conversations/{shop_conv}"
    assert (await client.get(url, headers=sales.headers)).status == 200
    response = await client.post(f"{url}/assign", json={"assignee_id": colleague.id}, headers=sales.headers)
    assert response.status == 200
    assigned = await response.json()
    assert assigned["assignee_id"] == colleague.id
    assert assigned["team_id"] is not None  # left out of the body: kept
    await error_of(await client.get(url, headers=sales.headers), 403)
    assert (await client.get(url, headers=colleague.headers)).status == 200


async def test_supervisor_sees_everything_of_their_team(
    client: Client, hub: Hub, sales: Person, shop_conv: int, depot_conv: int
) -> None:
    boss = await make_agent(hub, "boss@okno.example.com", role="supervisor", teams=("Sales",))
    url = f"/api/v1/conversations/{shop_conv}"
    await client.post(f"{url}/assign", json={"assignee_id": sales.id}, headers=sales.headers)
    assert (await client.get(url, headers=boss.headers)).status == 200
    await error_of(await client.get(f"/api/v1/conversations/{depot_conv}", headers=boss.headers), 403)


async def test_conversation_detail_has_contact_and_messages(
    client: Client, admin: Person, shop_conv: int
) -> None:
    await hand_in(client, "s-2", text="И ещё вопрос")
    body = await (await client.get(f"/api/v1/conversations/{shop_conv}", headers=admin.headers)).json()
    assert body["contact"]["identities"][0] == {**body["contact"]["identities"][0], "kind": "email"}
    assert [m["text"] for m in body["messages"]] == ["Здравствуйте, где мой заказ?", "И ещё вопрос"]
    assert all(m["direction"] == "in" and m["attachments"] == [] for m in body["messages"])


async def test_list_filters(client: Client, hub: Hub, admin: Person, shop_conv: int, depot_conv: int) -> None:
    async def ids(query: str, who: Person = admin) -> list[int]:
        response = await client.get(f"/api/v1/conversations?{query}", headers=who.headers)
        assert response.status == 200, await response.text()
        return [c["id"] for c in (await response.json())["items"]]

    assert sorted(await ids("")) == sorted([shop_conv, depot_conv])
    shop = await (await client.get(f"/api/v1/conversations/{shop_conv}", headers=admin.headers)).json()
    assert await ids(f"team={shop['team_id']}") == [shop_conv]
    assert await ids("channel=api&limit=1") in ([shop_conv], [depot_conv])
    assert await ids("channel=email") == []
    await client.post(
        f"/api/v1/conversations/{shop_conv}/assign", json={"assignee_id": admin.id}, headers=admin.headers
    )
    assert await ids("assignee=me") == [shop_conv]
    assert await ids(f"assignee={admin.id}") == [shop_conv]
    assert await ids("unassigned=true") == [depot_conv]
    await client.post(
        f"/api/v1/conversations/{depot_conv}/status", json={"status": "resolved"}, headers=admin.headers
    )
    assert await ids("status=resolved") == [depot_conv]
    assert await ids("status=open") == [shop_conv]
    listed = await (await client.get("/api/v1/conversations", headers=admin.headers)).json()
    assert {c["contact"]["name"] for c in listed["items"]} == {"Ирина", "Оптовик"}


async def test_status_changes_and_snooze(client: Client, admin: Person, shop_conv: int) -> None:
    url = f"/api/v1/conversations/{shop_conv}/status"
    until = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    snoozed = await (
        await client.post(url, json={"status": "snoozed", "snoozed_until": until}, headers=admin.headers)
    ).json()
    assert snoozed["status"] == "snoozed"
    assert datetime.fromisoformat(snoozed["snoozed_until"]) == datetime.fromisoformat(until)
    resolved = await (await client.post(url, json={"status": "resolved"}, headers=admin.headers)).json()
    assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
    assert resolved["snoozed_until"] is None


async def test_a_snooze_set_over_the_api_wakes_the_scheduler_and_agents_see_it_end(
    client: Client, hub: Hub, admin: Person, shop_conv: int
) -> None:
    await hub.scheduler.stop()
    two_hours_on = utcnow() + timedelta(hours=2)
    # A clock two hours ahead and an idle poll of an hour: the snooze is due at once, and only the
    # wake() of the status route makes the worker look before the test ends.
    hub.scheduler = Scheduler(
        hub.sessionmaker, publisher=hub.bus, clock=lambda: two_hours_on, idle_seconds=3600
    )
    await hub.scheduler.start()
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    async with client.ws_connect("/api/v1/ws", headers=admin.headers) as ws:
        await next_frame(ws)
        url = f"/api/v1/conversations/{shop_conv}/status"
        response = await client.post(
            url, json={"status": "snoozed", "snoozed_until": until}, headers=admin.headers
        )
        assert response.status == 200
        async with within("the conversation reopened by the scheduler"):
            while True:
                frame = await next_frame(ws)
                if frame["type"] == "conversation.updated" and frame["data"].get("previous") == "snoozed":
                    break
    assert frame == {
        "type": "conversation.updated",
        "conversation_id": shop_conv,
        "data": {"status": "open", "previous": "snoozed", "reason": "snooze_ended"},
    }
    async with hub.sessionmaker() as session:
        conv = await session.get_one(Conversation, shop_conv)
    assert (conv.status, conv.snoozed_until) == ("open", None)


async def _count(hub: Hub, model: type[Any], **where: Any) -> int:
    async with hub.sessionmaker() as session:
        stmt = select(func.count()).select_from(model).filter_by(**where)
        return int(await session.scalar(stmt) or 0)


async def test_reply_creates_an_outbox_row_and_a_note_creates_none(
    client: Client, hub: Hub, sales: Person, shop_conv: int
) -> None:
    url = f"/api/v1/conversations/{shop_conv}"
    response = await client.post(
        f"{url}/replies",
        json={"text": "Заказ в пути", "html": "<p>Заказ <script>x</script></p>"},
        headers=sales.headers,
    )
    assert response.status == 201
    reply = await response.json()
    assert reply["direction"] == "out" and reply["agent_id"] == sales.id
    assert "<script>" not in reply["html"]
    assert await _count(hub, Outbox, message_id=reply["id"]) == 1

    note = await (
        await client.post(f"{url}/notes", json={"text": "клиент VIP"}, headers=sales.headers)
    ).json()
    assert note["direction"] == "note" and note["delivery_status"] is None
    assert await _count(hub, Outbox, message_id=note["id"]) == 0
    assert await _count(hub, Outbox) == 1


async def test_a_reply_answers_with_the_subject_it_replies_to(
    client: Client, hub: Hub, sales: Person, shop_conv: int
) -> None:
    async with hub.sessionmaker() as session:
        conv = await session.get_one(Conversation, shop_conv)
        conv.subject = "Где мой заказ?"
        await session.commit()
    url = f"/api/v1/conversations/{shop_conv}"
    reply = await (await client.post(f"{url}/replies", json={"text": "В пути"}, headers=sales.headers)).json()
    assert reply["subject"] == "Где мой заказ?"
    note = await (await client.post(f"{url}/notes", json={"text": "VIP"}, headers=sales.headers)).json()
    assert note["subject"] is None  # a note goes nowhere: it answers nothing


async def test_a_reply_carries_files_sent_as_base64(
    client: Client, hub: Hub, sales: Person, shop_conv: int
) -> None:
    pdf = base64.b64encode(b"%PDF-1.4 invoice").decode()
    response = await client.post(
        f"/api/v1/conversations/{shop_conv}/replies",
        json={
            "text": "Счёт во вложении",
            "attachments": [
                {"filename": "счёт.pdf", "content_type": "application/pdf", "content_base64": pdf}
            ],
        },
        headers=sales.headers,
    )
    assert response.status == 201, await response.text()
    reply = await response.json()
    assert [(a["filename"], a["size"]) for a in reply["attachments"]] == [("счёт.pdf", 16)]
    bad = await client.post(
        f"/api/v1/conversations/{shop_conv}/replies",
        json={
            "text": "x",
            "attachments": [{"filename": "a", "content_type": "text/plain", "content_base64": "%%"}],
        },
        headers=sales.headers,
    )
    assert (await error_of(bad, 400))["field"] == "attachments.0.content_base64"


async def test_empty_reply_is_refused_naming_text(client: Client, sales: Person, shop_conv: int) -> None:
    response = await client.post(
        f"/api/v1/conversations/{shop_conv}/replies", json={"text": ""}, headers=sales.headers
    )
    assert (await error_of(response, 400))["field"] == "text"
    response = await client.post(
        f"/api/v1/conversations/{shop_conv}/replies", json={"text": "  "}, headers=sales.headers
    )
    assert (await error_of(response, 422))["field"] == "text"


async def test_events_are_published_only_after_commit(
    client: Client, hub: Hub, sales: Person, shop_conv: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When message.created is published, another session already sees the message."""
    seen: list[tuple[str, bool]] = []
    publish = hub.bus.publish

    async def checking(event: Event) -> None:
        if event.type in ("message.created", "conversation.assigned", "conversation.updated"):
            message_id = event.data.get("message_id")
            async with hub.sessionmaker() as session:
                visible = message_id is None or await session.get(Message, message_id) is not None
            seen.append((event.type, visible))
        await publish(event)

    monkeypatch.setattr(hub.bus, "publish", checking)
    url = f"/api/v1/conversations/{shop_conv}"
    await client.post(f"{url}/replies", json={"text": "Добрый день"}, headers=sales.headers)
    await client.post(f"{url}/notes", json={"text": "заметка"}, headers=sales.headers)
    await client.post(f"{url}/status", json={"status": "pending"}, headers=sales.headers)
    taken = ["conversation.assigned", "conversation.assigned"]  # the reply took it: to Anna, to the queue
    assert [t for t, _ in seen] == ["message.created", *taken, "message.created", "conversation.updated"]
    assert all(visible for _, visible in seen)


async def _list_by_the_models(hub: Hub, person: Person, limit: int) -> str:
    """The list's JSON as respond() of the response models gives it (the handler reads it straight from
    the rows: the same bytes)."""
    async with hub.sessionmaker() as session:
        agent = await agent_with_teams(session, person.id)
        assert agent is not None
        convs = await list_conversations(session, viewer_of(agent), ConversationFilter(), limit=limit)
        cards = await contacts_by_id(session, (c.contact_id for c in convs))
        dues = await open_dues(
            session, (c.id for c in convs), sla=hub.sla, calendars=hub.policy.calendars, now=utcnow()
        )
        unread = await unread_counts(session, person.id, (c.id for c in convs))
    items = [
        ConversationListItem.of(c, cards[c.contact_id], dues.get(c.id), unread.get(c.id, 0)) for c in convs
    ]
    model = ConversationList(items=items, limit=limit, offset=0, next_cursor=None)
    return json.dumps(model.model_dump(mode="json", by_alias=True))


async def test_the_list_carries_each_waiting_clients_sla_due_time_and_breach(
    client: Client, hub: Hub, sales: Person, shop_conv: int
) -> None:
    later = await hand_in(client, "s-2", account="shop", email="other@example.com")
    async with hub.sessionmaker() as session:  # the first client has waited two hours (the default SLA: 1)
        waits = await session.scalars(select(ReportWait).where(ReportWait.conversation_id == shop_conv))
        for wait in waits:
            wait.started_at = utcnow() - timedelta(hours=2)
        await session.commit()
    response = await client.get("/api/v1/conversations?limit=5", headers=sales.headers)
    assert await response.text() == await _list_by_the_models(hub, sales, limit=5)
    body = await response.json()
    items = {item["id"]: item for item in body["items"]}
    late, fresh = items[shop_conv], items[later["conversation_id"]]
    assert late["sla_breached"] is True
    assert datetime.fromisoformat(late["sla_due_at"]) < utcnow() - timedelta(minutes=59)
    assert fresh["sla_breached"] is False
    assert utcnow() < datetime.fromisoformat(fresh["sla_due_at"]) <= utcnow() + timedelta(hours=1)
    await client.post(
        f"/api/v1/conversations/{shop_conv}/replies", json={"text": "Ответ"}, headers=sales.headers
    )
    body = await (await client.get("/api/v1/conversations", headers=sales.headers)).json()
    answered = next(item for item in body["items"] if item["id"] == shop_conv)
    assert (answered["sla_due_at"], answered["sla_breached"]) == (None, False)


async def test_cursor_pages_give_the_same_rows_as_one_long_page_and_a_foreign_cursor_is_a_422(
    client: Client, hub: Hub, admin: Person, sales: Person
) -> None:
    ids = []
    for n in range(7):
        account = "depot" if n % 3 == 0 else "shop"
        ids.append(
            (await hand_in(client, f"c-{n}", account=account, email=f"c{n}@example.com"))["conversation_id"]
        )
    async with hub.sessionmaker() as session:  # ties on the latest activity, and one with no message time
        same = utcnow() - timedelta(hours=1)
        for conv_id in ids[1:4]:
            (await session.get_one(Conversation, conv_id)).last_message_at = same
        (await session.get_one(Conversation, ids[5])).last_message_at = None
        await session.commit()
    for person in (admin, sales):
        whole = await (await client.get("/api/v1/conversations?limit=200", headers=person.headers)).json()
        assert whole["next_cursor"] is None
        paged: list[int] = []
        url = "/api/v1/conversations?limit=2"
        while True:
            page = await (await client.get(url, headers=person.headers)).json()
            paged += [item["id"] for item in page["items"]]
            if page["next_cursor"] is None:
                break
            url = f"/api/v1/conversations?limit=2&cursor={page['next_cursor']}"
        assert paged == [item["id"] for item in whole["items"]]
    assert len(paged) < len(ids)  # the sales agent's pages kept to what they may see
    for cursor in ("x", "12.", "1.2.3"):
        url = f"/api/v1/conversations?cursor={cursor}"
        assert (await error_of(await client.get(url, headers=admin.headers), 422))["field"] == "cursor"
