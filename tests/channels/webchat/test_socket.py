"""The visitor socket end to end on the real app: history, acknowledgements by the widget's own ids, no
duplicates on resend, replies and typing both ways, limits, and only the visitor's own conversation."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event, func, select

from hub import db
from hub import quarantine as retrying
from hub.runtime import Hub
from hub.web import create_app
from inbox import quarantine
from inbox.bus import Event
from inbox.models import Contact, DuplicateCandidate, Identity, Message
from tests.channels.messenger_harness import quarantined
from tests.channels.webchat.conftest import SITE, Visitor
from tests.hub.web.conftest import Client, make_agent
from tests.waiting import eventually, next_frame, resolved, within

XSS = "<img src=x onerror=alert(1)>"


async def count_messages(hub: Hub, direction: str = "in") -> int:
    async with hub.sessionmaker() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Message).where(Message.direction == direction)
            )
            or 0
        )


async def reply(client: Client, hub: Hub, conversation_id: int, text: str) -> dict[str, Any]:
    agent = await make_agent(hub, "anna@okno.example.com")
    response = await client.post(
        f"/api/v1/conversations/{conversation_id}/replies", json={"text": text}, headers=agent.headers
    )
    assert response.status == 201, await response.text()
    hub.outbox.wake()
    body: dict[str, Any] = await response.json()
    return body


async def test_a_new_visitor_gets_a_token_and_an_empty_history(visitor: Callable[..., Any]) -> None:
    async with visitor() as v:
        hello = await v.hello()
    assert hello["messages"] == [] and hello["agent"] is None
    assert "." in hello["token"]


async def test_a_message_is_acknowledged_after_commit_and_a_resend_is_not_doubled(
    hub: Hub, visitor: Callable[..., Any]
) -> None:
    async with visitor() as v:
        token = (await v.hello())["token"]
        ack = await v.say("c1", XSS)
        assert ack["message"]["text"] == XSS and ack["message"]["cid"] == "c1"
        again = await v.say("c1", XSS)  # the ack was "lost": the widget sends it again
        assert again["message"]["id"] == ack["message"]["id"]
    assert await count_messages(hub) == 1
    async with visitor() as v:  # a reload: the same token brings the history back
        hello = await v.hello(token)
    assert hello["token"] == token
    assert [(m["cid"], m["from"], m["text"]) for m in hello["messages"]] == [("c1", "visitor", XSS)]
    async with hub.sessionmaker() as session:
        identity = await session.scalar(select(Identity).where(Identity.kind == "webchat"))
    assert identity is not None and token.startswith(identity.value + ".")


async def test_a_forged_or_foreign_token_gets_a_new_visitor_and_no_history(
    visitor: Callable[..., Any],
) -> None:
    async with visitor() as v:
        token = (await v.hello())["token"]
        await v.say("c1", "секрет первого посетителя")
    visitor_id = token.split(".")[0]
    for forged in (visitor_id + ".AAAA", visitor_id, "garbage"):
        async with visitor() as v:
            hello = await v.hello(forged)
        assert hello["messages"] == [] and not hello["token"].startswith(visitor_id)


async def test_the_agents_reply_reaches_every_tab_of_the_visitor_with_the_agents_name(
    client: Client, hub: Hub, visitor: Callable[..., Any]
) -> None:
    async with visitor() as first:
        token = (await first.hello())["token"]
        ack = await first.say("c1", "Где мой заказ?")
        async with visitor() as second:
            await second.hello(token)
            await first.say("c2", "Номер 1042")
            echoed = await second.until("message", message__cid="c2")  # what one tab writes, the other shows
            assert echoed["message"]["from"] == "visitor"
            assert ack["message"]["from"] == "visitor"
            sent = await reply(client, hub, await _conversation(hub), "Уже едет!")
            for tab in (first, second):
                frame = await tab.until("message", message__id=sent["id"])
                assert frame["message"] | {"at": None} == {
                    "id": sent["id"],
                    "cid": None,
                    "from": "agent",
                    "text": "Уже едет!",
                    "at": None,
                    "agent": "Anna",
                    "seen": False,
                    "files": [],
                }
            await first.send(type="seen", ids=[sent["id"]])
            await _eventually(lambda: _status(hub, sent["id"]), "delivered")


async def test_the_visitors_own_message_comes_back_as_its_ack_only_and_the_ack_shows_it_as_history_does(
    client: Client, hub: Hub, visitor: Callable[..., Any]
) -> None:
    async with visitor() as v:
        token = (await v.hello())["token"]
        first = await v.say("c1", "Где мой заказ?")
        second = await v.say("c2", "Номер 1042")
        sent = await reply(client, hub, await _conversation(hub), "Уже едет!")
        # The socket relays events in order: by the reply, an echo of c1 or c2 would have come.
        await v.until("message", message__id=sent["id"])
        assert [f["message"]["id"] for f in v.seen if f["type"] == "message"] == [sent["id"]]
    async with visitor() as v:
        hello = await v.hello(token)
    assert hello["messages"][:2] == [first["message"], second["message"]]


async def test_a_visitor_away_gets_the_reply_from_history_and_notes_never(
    client: Client, hub: Hub, visitor: Callable[..., Any]
) -> None:
    async with visitor() as v:
        token = (await v.hello())["token"]
        await v.say("c1", "Есть доставка в Тверь?")
    conv = await _conversation(hub)
    sent = await reply(client, hub, conv, "Да, есть")
    agent = await make_agent(hub, "boss@okno.example.com", role="admin")
    note = await client.post(
        f"/api/v1/conversations/{conv}/notes", json={"text": "VIP, не забыть"}, headers=agent.headers
    )
    assert note.status == 201
    await _eventually(lambda: _status(hub, sent["id"]), "sent")
    async with visitor() as v:
        hello = await v.hello(token)
    assert [m["text"] for m in hello["messages"]] == ["Есть доставка в Тверь?", "Да, есть"]
    assert hello["agent"] == "Anna"


async def test_typing_goes_both_ways(client: Client, hub: Hub, visitor: Callable[..., Any]) -> None:
    agent = await make_agent(hub, "anna@okno.example.com", role="admin")
    async with visitor() as v, client.ws_connect("/api/v1/ws", headers=agent.headers) as agent_ws:
        await next_frame(agent_ws, "the agent's hello")
        await v.hello()
        await v.say("c1", "Здравствуйте")
        conv = await _conversation(hub)
        await v.send(type="typing", on=True)
        async with within("conversation.typing on the agent's socket"):
            while True:
                frame = await next_frame(agent_ws)
                if frame["type"] == "conversation.typing":
                    break
        assert frame["conversation_id"] == conv and frame["data"] == {"from": "visitor", "on": True}
        response = await client.post(
            f"/webchat/conversations/{conv}/typing", json={"on": True}, headers=agent.headers
        )
        assert response.status == 204
        typing = await v.until("typing")
        assert typing == {"type": "typing", "on": True, "name": "Anna"}


async def test_limits_size_rate_and_garbage(visitor: Callable[..., Any]) -> None:
    async with visitor() as v:
        await v.hello()
        await v.send(type="message", id="big", text="x" * 4001)
        assert (await v.until("error"))["code"] == "too_long"
        await v.send(type="message", id="bad id!", text="x")
        assert (await v.until("error"))["field"] == "id"  # kept in the quarantine (below), counted
        await v.ws.send_str("not json")
        assert (await v.until("error"))["code"] == "invalid"
        await v.send(type="nonsense")
        assert (await v.until("error"))["code"] == "unknown_type"
        for n in range(7):  # the account allows 8 a minute: the bad id took one
            await v.say(f"m{n}", f"сообщение {n}")
        await v.send(type="message", id="m8", text="ещё")
        limited = await v.until("error", id="m8")
        assert limited["code"] == "rate_limited" and limited["retry_after"] > 0
        await v.ws.send_bytes(b"x" * 70_000)  # past the frame limit: the hub closes the socket
        message = await resolved(v.ws.receive(), "the socket closed")
        while message.type == aiohttp.WSMsgType.TEXT:
            message = await resolved(v.ws.receive(), "the socket closed")
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_a_message_frame_the_parser_refuses_is_quarantined_and_the_visitors_own_mistakes_are_not(
    hub: Hub, visitor: Callable[..., Any]
) -> None:
    async with visitor() as v:
        token = (await v.hello())["token"]
        await v.send(type="profile", name="Ирина")
        await v.until("profile", ok=True)
        await v.send(type="message", id="c1", text="Заказ №5\x00 не пришёл")
        nul = await v.until("error", id="c1")
        await v.send(type="message", id="c2", text={"html": "<b>Заказ</b>"})
        shape = await v.until("error", id="c2")
        await v.send(type="message", id="c3", text="   ")  # the visitor's mistakes: told, not kept
        assert (await v.until("error", id="c3"))["code"] == "invalid"
        await v.send(type="message", id="c4", text="x" * 4001)
        assert (await v.until("error", id="c4"))["code"] == "too_long"
        await v.say("c5", "А это дошло")
    assert (nul["code"], nul["field"]) == ("refused", "text") and "NUL" in nul["message"]
    assert (shape["code"], shape["field"]) == ("refused", "text")
    visitor_id = token.split(".")[0]
    kept = await quarantined(hub.sessionmaker)
    assert [(k.position, k.account_id) for k in kept] == [
        (f"visitor {visitor_id} c1", hub.accounts["site"].context.id),
        (f"visitor {visitor_id} c2", hub.accounts["site"].context.id),
    ]
    assert "NUL" in kept[0].reason and kept[1].reason.startswith("visitor message: text:")
    raws = [json.loads(await quarantine.raw_bytes(k, retrying.blob_store(hub))) for k in kept]
    assert (raws[1]["id"], raws[1]["text"]) == ("c2", {"html": "<b>Заказ</b>"})  # as the visitor sent it
    assert raws[0] == {
        "visitor_id": visitor_id,
        "id": "c1",
        "text": "Заказ №5\x00 не пришёл",
        "page": None,
        "name": "Ирина",
        "email": None,
        "phone": None,
    }
    assert await count_messages(hub) == 1


async def test_a_socket_must_say_hello_first(visitor: Callable[..., Any]) -> None:
    async with visitor() as v:
        await v.send(type="message", id="c1", text="hi")
        message = await resolved(v.ws.receive(), "the socket closed")
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_pre_chat_identities_stay_typed_on_the_visitors_card_and_a_known_email_is_a_duplicate(
    client: Client, hub: Hub, visitor: Callable[..., Any]
) -> None:
    response = await client.post(
        "/api/v1/channels/shop/messages",
        json={
            "external_id": "e1",
            "sender": {"email": "irina@example.com", "name": "Ирина"},
            "text": "Заказ",
        },
        headers={"Authorization": "Bearer t0ken"},
    )
    assert response.status == 201
    async with visitor() as v:
        await v.hello()
        await v.send(type="profile", name="Ирина", email="bad")
        assert (await v.until("error"))["field"] == "email"
        await v.send(type="profile", name="Ирина", email="Irina@example.com", phone="+7 913 909 73 32")
        await v.until("profile", ok=True)
        await v.say("c1", "Это снова я")
    async with hub.sessionmaker() as session:
        kinds = {(i.kind, i.trust) for i in await session.scalars(select(Identity))}
        people = await session.scalar(select(func.count()).select_from(Contact))
        pairs = await session.scalar(select(func.count()).select_from(DuplicateCandidate))
    # Typed answers never match another card: the visitor keeps their own card, an agent decides.
    assert {("webchat", "vouched"), ("email", "typed"), ("phone", "typed"), ("email", "vouched")} == kinds
    assert people == 2 and pairs == 1


async def test_unknown_account_and_other_kinds_are_404(client: Client) -> None:
    for path in ("/webchat/nope/config", "/webchat/shop/config"):
        assert (await client.get(path)).status == 404


async def test_config_tells_the_widget_what_to_show_with_cors(client: Client) -> None:
    response = await client.get("/webchat/site/config", headers={"Origin": "https://shop.example"})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = await response.json()
    assert body.pop("strings")["send"] == "Отправить"  # the widget's words, in the account's language
    assert body == {
        "title": "Поддержка магазина",
        "greeting": "Здравствуйте!",
        "color": "#1f7a5c",
        "language": "ru",
        "prechat": False,
        "max_message_chars": 4000,
        "online": True,
        "max_file_bytes": 10 * 2**20,  # the largest file a visitor may send (0: no attach button)
    }


async def test_widget_script_is_small_static_and_cached(client: Client) -> None:
    response = await client.get("/widget.js")
    body = await response.read()
    assert response.status == 200 and response.content_type == "text/javascript"
    assert len(body) < 30 * 1024
    assert "max-age=3600" in response.headers["Cache-Control"]
    assert b"innerHTML" not in body and b"eval(" not in body
    again = await client.get("/widget.js", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304


async def test_offline_form_becomes_a_conversation_with_the_email_on_the_card(
    client: Client, hub: Hub, hub_factory: Callable[..., Any]
) -> None:
    headers = {"Origin": "https://shop.example"}
    preflight = await client.options(
        "/webchat/site/offline", headers={**headers, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status == 204 and preflight.headers["Access-Control-Allow-Methods"] == "POST"
    bad = await client.post(
        "/webchat/site/offline", json={"text": "Перезвоните", "email": "nope"}, headers=headers
    )
    assert bad.status == 400 and bad.headers["Access-Control-Allow-Origin"] == "*"
    assert (await bad.json())["error"]["field"] == "email"
    body = {"id": "f1", "name": "Олег", "email": "oleg@example.com", "text": XSS}
    first = await client.post("/webchat/site/offline", json=body, headers=headers)
    assert first.status == 201
    again = await client.post(
        "/webchat/site/offline", json={**body, "token": (await first.json())["token"]}, headers=headers
    )
    assert again.status == 200  # a double click: the same message
    async with hub.sessionmaker() as session:
        message = await session.scalar(select(Message))
        emails = list(await session.scalars(select(Identity.value).where(Identity.kind == "email")))
    assert message is not None and message.body_text == XSS and message.meta["offline_form"] is True
    assert emails == ["oleg@example.com"]


@pytest.mark.parametrize("hours_open", [True, False])
async def test_the_offline_form_shows_with_nobody_online_or_outside_business_hours(
    hub_factory: Callable[..., Any], hours_open: bool
) -> None:
    closed = {day: "" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    hours = {day: "00:00-23:59" for day in closed} if hours_open else closed
    site = {**SITE, "require_agent_online": True, "hours": "business"}
    hub = await hub_factory(accounts={"site": site}, business_hours={"timezone": "UTC", **hours})
    async with TestClient(TestServer(create_app(hub, manage_hub=False))) as client:
        assert (await (await client.get("/webchat/site/config")).json())["online"] is False
        agent = await make_agent(hub, "anna@okno.example.com")
        async with client.ws_connect("/api/v1/ws", headers=agent.headers) as ws:
            await next_frame(ws, "the agent's hello")
            online = (await (await client.get("/webchat/site/config")).json())["online"]
    assert online is hours_open


async def test_allowed_origins_are_enforced(hub_factory: Callable[..., Any]) -> None:
    hub = await hub_factory(accounts={"site": {**SITE, "allowed_origins": ["https://shop.example"]}})
    async with TestClient(TestServer(create_app(hub, manage_hub=False))) as client:
        ok = await client.get("/webchat/site/config", headers={"Origin": "https://shop.example"})
        assert ok.headers["Access-Control-Allow-Origin"] == "https://shop.example"
        assert (
            await client.get("/webchat/site/config", headers={"Origin": "https://evil.example"})
        ).status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await client.ws_connect("/webchat/site/ws", origin="https://evil.example")


async def _conversation(hub: Hub) -> int:
    async with hub.sessionmaker() as session:
        conv_id = await session.scalar(select(Message.conversation_id).order_by(Message.id.desc()).limit(1))
    assert conv_id is not None
    return int(conv_id)


async def _status(hub: Hub, message_id: int) -> str | None:
    async with hub.sessionmaker() as session:
        message = await session.get(Message, message_id)
        return message.delivery_status if message else None


async def _eventually(check: Callable[[], Awaitable[object]], expected: object) -> None:
    async def became() -> bool:
        return await check() == expected

    await eventually(became, f"the status became {expected!r}")


__all__ = ["Visitor"]


async def test_a_visitor_s_own_new_conversation_is_not_read_back_by_its_socket_but_by_its_other_tab(
    hub: Hub, visitor: Callable[..., Any]
) -> None:
    # The messages a read-only session of the hub selects (the sockets' reads of what to show).
    reads: list[str] = []

    def note(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if conn.get_execution_options().get(db.READ_ONLY) and "FROM message" in statement:
            reads.append(statement)

    event.listen(hub.engine.sync_engine, "before_cursor_execute", note)
    try:
        async with visitor() as v:
            token = (await v.hello())["token"]
            async with visitor() as other:  # the same visitor's second tab, watching nothing yet
                await other.hello(token)
                reads.clear()
                ack = await v.say("c1", "первое сообщение")
                conversation_id = await _conversation_of(hub, ack["message"]["id"])
                # The other tab learns of the new conversation and reads it: the message comes as a frame.
                shown = await other.until("message")
                assert shown["message"]["cid"] == "c1" and len(reads) == 1
                # Two typing hints after the announcement: once the second reaches the sending socket,
                # its relay has handled every event before it (one batch at a time, in order).
                for on in (True, False):
                    typing = {"from": "agent", "on": on, "name": "Анна"}
                    await hub.bus.publish(
                        Event("conversation.typing", conversation_id=conversation_id, data=typing)
                    )
                    await v.until("typing", on=on)
        assert len(reads) == 1  # the sending socket read nothing back: the ack showed its message
        assert not [f for f in v.seen if f["type"] == "message"]
    finally:
        event.remove(hub.engine.sync_engine, "before_cursor_execute", note)


async def _conversation_of(hub: Hub, message_id: int) -> int:
    async with hub.sessionmaker() as session:
        message = await session.get(Message, message_id)
    assert message is not None
    return message.conversation_id
