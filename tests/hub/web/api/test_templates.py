"""/api/v1/templates and conversation suggestions: search in Russian and English, suggestions for what
the client wrote, insertion counted as use, the template a reply came from recorded, who may change what.
Every answer is also validated against the OpenAPI document."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from hub.runtime import Hub
from inbox.models import AuditLog, Message, ReportingEvent, Template
from tests.hub.web.api.test_openapi import Checked
from tests.hub.web.conftest import Client, Person, hand_in, make_agent
from tests.waiting import next_frame, within


@pytest.fixture
def call(client: Client) -> Checked:
    return Checked(client)


async def _keys(call: Checked, person: Person, query: str) -> list[str]:
    found = await call("GET", f"/api/v1/templates?{query}", headers=person.headers, status=200)
    return [t["key"] for t in found["items"]]


async def test_search_finds_word_forms_and_typos_in_the_shipped_templates(
    call: Checked, admin: Person
) -> None:
    delivery = {"ru.delivery-terms", "ru.delivery-status"}
    assert delivery <= set((await _keys(call, admin, "q=доставкой&language=ru"))[:3])
    assert {"en.delivery-terms", "en.delivery-status"} <= set(
        (await _keys(call, admin, "q=delivered&language=en"))[:3]
    )
    assert "ru.returns" in (await _keys(call, admin, "q=вазврат"))[:2]  # and the refund one: both «возврат»
    listed = await call("GET", "/api/v1/templates?limit=500", headers=admin.headers, status=200)
    assert len(listed["items"]) >= 30


async def test_suggestions_answer_the_client_s_recent_message_in_its_language(
    call: Checked, client: Client, sales: Person
) -> None:
    ru = await hand_in(client, "m-1", text="здравствуйте, заказ до сих пор не привезли, жду неделю")
    found = await call(
        "GET", f"/api/v1/conversations/{ru['conversation_id']}/suggestions", headers=sales.headers, status=200
    )
    assert found["language"] == "ru"
    assert len(found["items"]) == 3
    assert "ru.delivery-status" in [t["key"] for t in found["items"]]

    en = await hand_in(client, "m-2", email="john@example.com", name="John", text="I forgot my pasword")
    found = await call(
        "GET", f"/api/v1/conversations/{en['conversation_id']}/suggestions", headers=sales.headers, status=200
    )
    assert (found["language"], found["items"][0]["key"]) == ("en", "en.password-reset")


async def test_a_conversation_of_another_queue_gets_no_suggestions(client: Client, wholesale: Person) -> None:
    result = await hand_in(client, "m-1")
    response = await client.get(
        f"/api/v1/conversations/{result['conversation_id']}/suggestions", headers=wholesale.headers
    )
    assert response.status == 403


async def test_inserting_renders_for_the_client_counts_a_use_and_the_reply_records_the_template(
    call: Checked, client: Client, hub: Hub, sales: Person
) -> None:
    result = await hand_in(client, "m-1", name="Ирина Соколова", text="где мой заказ")
    conv = result["conversation_id"]
    async with hub.sessionmaker() as session:
        template = await session.scalar(select(Template).where(Template.key == "ru.delivery-status"))
        assert template is not None
        template_id = template.id
    inserted = await call(
        "POST",
        f"/api/v1/templates/{template_id}/use",
        body={"conversation_id": conv},
        headers=sales.headers,
        status=200,
    )
    assert inserted["text"].startswith("Ирина, проверяю ваш заказ.")
    assert inserted["template"]["usage_count"] == 1
    assert inserted["template"]["last_used_at"] is not None

    await call(
        "POST",
        f"/api/v1/conversations/{conv}/replies",
        body={"text": inserted["text"] + " Номер 1042.", "template_id": template_id},
        headers=sales.headers,
        status=201,
    )
    async with hub.sessionmaker() as session:
        event = await session.scalar(select(ReportingEvent).where(ReportingEvent.name == "template_reply"))
        assert event is not None
        assert (event.template_id, event.agent_id, event.conversation_id) == (template_id, sales.id, conv)
        reply = await session.scalar(select(Message).where(Message.direction == "out"))
        assert reply is not None and reply.meta == {"template_id": template_id}

    unknown = await client.post(
        f"/api/v1/conversations/{conv}/replies",
        json={"text": "Hi", "template_id": 999999},
        headers=sales.headers,
    )
    assert unknown.status == 422
    assert (await unknown.json())["error"]["field"] == "template_id"


async def test_preview_renders_missing_variables_as_empty_and_refuses_an_escape(
    call: Checked, admin: Person
) -> None:
    shown = await call(
        "POST",
        "/api/v1/templates/preview",
        body={"body": "Hi {{ contact.first_name }}! {{ agent.first_name }} here."},
        headers=admin.headers,
        status=200,
    )
    assert shown["text"] == "Hi ! Admin here."
    refused = await call(
        "POST",
        "/api/v1/templates/preview",
        body={"body": "{{ ''.__class__.__mro__ }}"},
        headers=admin.headers,
        status=422,
    )
    assert refused["error"]["field"] == "body"
    assert "not allowed" in refused["error"]["message"]


async def test_managers_keep_shared_templates_and_agents_their_own(
    call: Checked, client: Client, hub: Hub, admin: Person, sales: Person
) -> None:
    template = {"key": "vip", "title": "VIP", "body": "Для вас — скидка 10%.", "tags": ["скидка"]}
    refused = await call("POST", "/api/v1/templates", body=template, headers=sales.headers, status=403)
    assert "admins and supervisors" in refused["error"]["message"]
    escape = {**template, "body": "{{ cycler.__init__.__globals__ }}"}
    refused = await call("POST", "/api/v1/templates", body=escape, headers=admin.headers, status=422)
    assert refused["error"]["field"] == "body"

    shared = await call("POST", "/api/v1/templates", body=template, headers=admin.headers, status=201)
    mine = await call(
        "POST",
        "/api/v1/templates",
        body={**template, "key": "anna-vip", "personal": True},
        headers=sales.headers,
        status=201,
    )
    assert (shared["personal"], mine["personal"]) == (False, True)
    other = await make_agent(hub, "other@okno.example.com")
    assert (await client.get(f"/api/v1/templates/{mine['id']}", headers=other.headers)).status == 404
    assert "anna-vip" not in await _keys(call, other, "q=скидка")
    assert "anna-vip" in await _keys(call, sales, "q=скидка")

    await call(
        "PATCH", f"/api/v1/templates/{shared['id']}", body={"title": "Нет"}, headers=sales.headers, status=403
    )
    changed = await call(
        "PATCH",
        f"/api/v1/templates/{shared['id']}",
        body={"title": "VIP-клиент"},
        headers=admin.headers,
        status=200,
    )
    assert (changed["title"], changed["body"]) == ("VIP-клиент", template["body"])
    assert "vip" in await _keys(call, sales, "q=клиентом")  # the index saw the change
    await call("DELETE", f"/api/v1/templates/{shared['id']}", headers=admin.headers, status=204)
    await call("GET", f"/api/v1/templates/{shared['id']}", headers=admin.headers, status=404)
    async with hub.sessionmaker() as session:
        actions = list(await session.scalars(select(AuditLog.action).where(AuditLog.entity == "template")))
    assert sorted(actions) == ["template.create", "template.create", "template.delete", "template.update"]


async def test_an_inserted_template_comes_first_among_equally_relevant_ones(
    call: Checked, admin: Person, sales: Person
) -> None:
    twin = {"title": "Упаковка подарка", "body": "Упакуем подарок бесплатно.", "tags": ["упаковка"]}
    first = await call(
        "POST", "/api/v1/templates", body={**twin, "key": "gift-a"}, headers=admin.headers, status=201
    )
    second = await call(
        "POST", "/api/v1/templates", body={**twin, "key": "gift-b"}, headers=admin.headers, status=201
    )
    assert (await _keys(call, sales, "q=упаковка"))[:2] == ["gift-a", "gift-b"]
    await call("POST", f"/api/v1/templates/{second['id']}/use", body={}, headers=sales.headers, status=200)
    assert (await _keys(call, sales, "q=упаковка"))[:2] == ["gift-b", "gift-a"]
    assert first["id"] < second["id"]


async def _template_frames(ws: aiohttp.ClientWebSocketResponse, last: str, key: str) -> list[dict[str, Any]]:
    """The template.* frames received up to and including `last` of the template `key`."""
    seen = []
    async with within(f"a {last} frame of template {key}"):
        while True:
            frame = await next_frame(ws)
            if frame["type"].startswith("template."):
                seen.append(frame)
                if frame["type"] == last and frame["data"]["key"] == key:
                    return seen


async def test_template_changes_are_announced_personal_ones_to_their_owner_only(
    call: Checked, client: Client, admin: Person, sales: Person, wholesale: Person
) -> None:
    async with (
        client.ws_connect("/api/v1/ws", headers=sales.headers) as owner,
        client.ws_connect("/api/v1/ws", headers=wholesale.headers) as colleague,
        client.ws_connect("/api/v1/ws", headers=admin.headers) as manager,
    ):
        for ws in (owner, colleague, manager):
            assert (await next_frame(ws))["type"] == "hello"
        mine = {"key": "anna-sign", "title": "Подпись", "body": "Анна, магазин", "personal": True}
        await call("POST", "/api/v1/templates", body=mine, headers=sales.headers, status=201)
        shared = {"key": "gift", "title": "Подарок", "body": "Упакуем подарок."}
        created = await call("POST", "/api/v1/templates", body=shared, headers=admin.headers, status=201)
        await call(
            "PATCH",
            f"/api/v1/templates/{created['id']}",
            body={"title": "Упаковка"},
            headers=admin.headers,
            status=200,
        )
        await call("DELETE", f"/api/v1/templates/{created['id']}", headers=admin.headers, status=204)

        seen_by_owner = await _template_frames(owner, "template.deleted", "gift")
        seen_by_colleague = await _template_frames(colleague, "template.deleted", "gift")
        seen_by_manager = await _template_frames(manager, "template.deleted", "gift")
    assert [(f["type"], f["data"]["key"]) for f in seen_by_owner] == [
        ("template.created", "anna-sign"),
        ("template.created", "gift"),
        ("template.updated", "gift"),
        ("template.deleted", "gift"),
    ]
    assert seen_by_owner[0]["data"] == {
        "id": seen_by_owner[0]["data"]["id"],
        "key": "anna-sign",
        "language": "ru",
        "personal": True,
    }
    others = [(f["type"], f["data"]["key"]) for f in seen_by_colleague]
    assert others == [
        ("template.created", "gift"),
        ("template.updated", "gift"),
        ("template.deleted", "gift"),
    ]
    assert [(f["type"], f["data"]["key"]) for f in seen_by_manager] == others  # not even an admin sees it
    assert "Упакуем" not in str(seen_by_colleague)  # events name a template, never carry its text


async def test_suggestions_for_russian_in_latin_letters_are_russian_and_a_short_ok_keeps_the_language(
    call: Checked, client: Client, sales: Person
) -> None:
    first = await hand_in(
        client, "t-1", email="oleg@example.com", name="Oleg", text="zakaz ne prishel, gde on?"
    )
    conv = first["conversation_id"]
    found = await call("GET", f"/api/v1/conversations/{conv}/suggestions", headers=sales.headers, status=200)
    assert found["language"] == "ru"
    assert "ru.delivery-status" in [t["key"] for t in found["items"]]
    second = await hand_in(client, "t-2", email="oleg@example.com", name="Oleg", text="ok")
    assert second["conversation_id"] == conv
    found = await call("GET", f"/api/v1/conversations/{conv}/suggestions", headers=sales.headers, status=200)
    assert found["language"] == "ru"
    assert all(t["language"] == "ru" for t in found["items"])
