"""VK end to end through a real hub: event in → conversation → agent reply → messages.send at the fake VK
API, over Bots Long Poll and over the Callback API, across a restart on the same database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from hub.runtime import Hub
from inbox.items import OutboundAttachment
from inbox.models import Contact, Conversation, Message
from tests.channels import messenger_harness as harness
from tests.channels.messenger_harness import HubFactory, delivered, inbound, inbound_count, reply
from tests.channels.ready import ready_connector
from tests.channels.vk.events import MARIA, PETR, message_new
from tests.channels.vk.fake_vk_api import FakeVkApi
from tests.waiting import eventually

SECRET = "vk-e2e-secret"
CONFIRMATION = "5e6f7a8b"


def longpoll(api: FakeVkApi, tmp_path: Path) -> dict[str, Any]:
    account = {"kind": "vk", "token": api.token, "group_id": api.group_id, "api_base": f"{api.url}/method"}
    return harness.hub_settings(tmp_path, "vk", account)


def callback(api: FakeVkApi, tmp_path: Path) -> dict[str, Any]:
    account = {
        "kind": "vk",
        "mode": "callback",
        "token": api.token,
        "secret": SECRET,
        "confirmation": CONFIRMATION,
        "group_id": api.group_id,
        "api_base": f"{api.url}/method",
    }
    return harness.hub_settings(tmp_path, "vk", account)


async def test_long_poll_end_to_end_survives_a_restart_without_loss_or_repeat(
    hub_factory: HubFactory, vk_api: FakeVkApi, tmp_path: Path
) -> None:
    hub: Hub = await hub_factory(**longpoll(vk_api, tmp_path))
    await eventually(lambda: harness.cursor_is(hub, "vk", None), "the long poll started")
    vk_api.push(message_new("Здравствуйте! Есть размер M?", message_id=1001))
    await eventually(lambda: inbound_count(hub, 1), "the first message is stored")
    await eventually(lambda: harness.cursor_is(hub, "vk", str(vk_api.ts)), "ts saved")
    await hub.stop()

    vk_api.push(message_new("Жду ответа", message_id=1002))  # while the hub is down
    vk_api.push(message_new("Добрый вечер", message_id=1003, from_id=PETR))
    hub = await hub_factory(**longpoll(vk_api, tmp_path))
    await eventually(lambda: inbound_count(hub, 3), "the events sent while down are stored")
    assert set(vk_api.delivered.values()) == {1}
    messages = await inbound(hub)
    assert [m.body_text for m in messages] == ["Здравствуйте! Есть размер M?", "Жду ответа", "Добрый вечер"]
    maria = messages[0].conversation_id
    async with hub.sessionmaker() as session:
        card = await session.get_one(Contact, messages[0].contact_id or 0)
        assert card.name == "Мария Иванова"  # from users.get

    reply_id = await reply(hub, maria, "Мария, размер M есть.")
    await eventually(lambda: bool(vk_api.sent_texts), "messages.send reached VK")
    ((peer, text, random_id),) = vk_api.sent_texts
    assert (peer, text) == (MARIA, "Мария, размер M есть.") and 0 < random_id < 2**31
    stored = await delivered(hub, reply_id)
    assert (stored.delivery_status, stored.external_id) == ("sent", "830")
    # VK echoes our reply as message_reply: it must not become a second message.
    await eventually(lambda: sum(vk_api.delivered.values()) == 4, "the echo was received")
    await eventually(lambda: harness.cursor_is(hub, "vk", str(vk_api.ts)), "ts moved past the echo")
    async with hub.sessionmaker() as session:
        texts = list(await session.scalars(select(Message.body_text).order_by(Message.id)))
    assert texts.count("Мария, размер M есть.") == 1 and len(texts) == 4


async def test_callback_end_to_end_survives_a_restart_and_refuses_forgeries(
    hub_factory: HubFactory,
    vk_api: FakeVkApi,
    tmp_path: Path,
    hooks: tuple[harness.Hooks, TestClient[Any, Any]],
) -> None:
    routes, client = hooks
    routes.hub = hub = await hub_factory(**callback(vk_api, tmp_path))
    await ready_connector(hub, "vk")
    confirm = await client.post(
        "/hooks/vk", json={"type": "confirmation", "group_id": vk_api.group_id, "secret": SECRET}
    )
    assert await confirm.text() == CONFIRMATION

    def body(text: str, message_id: int, event_id: str, secret: str = SECRET) -> dict[str, Any]:
        event = message_new(text, message_id=message_id)
        return {**event, "group_id": vk_api.group_id, "event_id": event_id, "v": "5.199", "secret": secret}

    first = body("Здравствуйте, через Callback API", 2001, "ev-1")
    response = await client.post("/hooks/vk", json=first)
    assert (response.status, await response.text()) == (200, "ok")
    forged = await client.post("/hooks/vk", json=body("Подделка", 2002, "ev-2", secret="wrong"))
    assert forged.status == 403
    assert [m.body_text for m in await inbound(hub)] == ["Здравствуйте, через Callback API"]

    await hub.stop()
    assert (await client.post("/hooks/vk", json=first)).status == 404  # VK retries later
    routes.hub = hub = await hub_factory(**callback(vk_api, tmp_path))
    await ready_connector(hub, "vk")
    for event in (first, body("После перезапуска", 2003, "ev-3"), first):  # VK delivering ev-1 again
        response = await client.post("/hooks/vk", json=event)
        assert (response.status, await response.text()) == (200, "ok")
    messages = await inbound(hub)
    assert [m.body_text for m in messages] == ["Здравствуйте, через Callback API", "После перезапуска"]

    reply_id = await reply(hub, messages[0].conversation_id, "Здравствуйте! Чем помочь?")
    await eventually(lambda: bool(vk_api.sent_texts), "messages.send reached VK")
    assert vk_api.sent_texts[0][:2] == (MARIA, "Здравствуйте! Чем помочь?")
    assert (await delivered(hub, reply_id)).delivery_status == "sent"


async def test_a_user_who_denied_messages_marks_the_conversation_with_vks_reason(
    hub_factory: HubFactory, vk_api: FakeVkApi, tmp_path: Path
) -> None:
    hub: Hub = await hub_factory(**longpoll(vk_api, tmp_path))
    await eventually(lambda: harness.cursor_is(hub, "vk", None), "the long poll started")
    vk_api.push(message_new("Пришлите каталог", message_id=3001))
    await eventually(lambda: inbound_count(hub, 1), "stored")
    vk_api.denied.add(MARIA)
    conv_id = (await inbound(hub))[0].conversation_id
    stored = await delivered(hub, await reply(hub, conv_id, "Отправляем каталог"))
    assert stored.delivery_status == "failed"
    assert stored.delivery_error is not None and "VK error 901" in stored.delivery_error
    async with hub.sessionmaker() as session:
        conv = await session.get_one(Conversation, conv_id)
        assert conv.blocked_reason is not None
        assert "VK error 901: Can't send messages for users without permission" in conv.blocked_reason


async def test_a_reply_with_a_file_and_buttons_reaches_vk_with_both_not_dropped(
    hub_factory: HubFactory, vk_api: FakeVkApi, tmp_path: Path
) -> None:
    hub: Hub = await hub_factory(**longpoll(vk_api, tmp_path))
    await eventually(lambda: harness.cursor_is(hub, "vk", None), "the long poll started")
    vk_api.push(message_new("Пришлите счёт", message_id=1001))
    await eventually(lambda: inbound_count(hub, 1), "the message is stored")
    (first,) = await inbound(hub)
    pdf = b"%PDF-1.4 invoice"
    reply_id = await reply(
        hub,
        first.conversation_id,
        "Счёт во вложении",
        [OutboundAttachment("счёт.pdf", "application/pdf", pdf)],
        buttons=["Оплачу сегодня"],
    )
    stored = await delivered(hub, reply_id)
    assert stored.delivery_status == "sent", stored.delivery_error
    [(peer, attachment)] = vk_api.sent_attachments
    assert peer == MARIA and vk_api.saved[attachment] == ("счёт.pdf", pdf)
    [(_, keyboard)] = vk_api.sent_keyboards
    assert keyboard["buttons"][0][0]["action"]["label"] == "Оплачу сегодня"
