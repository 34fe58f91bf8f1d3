"""Telegram end to end through a real hub: update in → conversation → agent reply → sendMessage at the
fake Bot API, in polling and in webhook mode, across a restart on the same database (no loss, no repeat)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from channels.telegram.connector import SECRET_HEADER
from hub.runtime import Hub
from inbox.models import Conversation, Message, Outbox
from tests.channels import messenger_harness as harness
from tests.channels.messenger_harness import HubFactory, delivered, inbound, inbound_count, reply
from tests.channels.ready import ready_connector
from tests.channels.telegram.fake_bot_api import FakeBotApi, blocked_by_user, too_many_requests
from tests.channels.telegram.updates import IVAN, OLGA, msg
from tests.waiting import eventually

SECRET = "e2e-secret"


def polling(api: FakeBotApi, tmp_path: Path) -> dict[str, Any]:
    account = {"kind": "telegram", "token": api.token, "mode": "polling", "api_base": api.url}
    return harness.hub_settings(tmp_path, "tg", account)


def webhook(api: FakeBotApi, tmp_path: Path) -> dict[str, Any]:
    account = {
        "kind": "telegram",
        "token": api.token,
        "secret": SECRET,
        "mode": "webhook",
        "webhook_url": "https://hub.example/hooks/tg",
        "api_base": api.url,
    }
    return harness.hub_settings(tmp_path, "tg", account)


async def test_polling_end_to_end_survives_a_restart_without_loss_or_repeat(
    hub_factory: HubFactory, bot_api: FakeBotApi, tmp_path: Path
) -> None:
    hub: Hub = await hub_factory(**polling(bot_api, tmp_path))
    first = bot_api.push({"message": msg("Где мой заказ?", message_id=1)})
    await eventually(lambda: inbound_count(hub, 1), "the first message is stored")
    await eventually(lambda: harness.cursor_is(hub, "tg", str(first["update_id"] + 1)), "the offset is saved")
    await hub.stop()

    second = bot_api.push({"message": msg("Номер 4512", message_id=2)})  # while the hub is down
    third = bot_api.push({"message": msg("Добрый день", message_id=1, user=IVAN)})
    hub = await hub_factory(**polling(bot_api, tmp_path))
    await eventually(lambda: inbound_count(hub, 3), "the messages sent while down are stored")
    assert dict(bot_api.delivered) == {first["update_id"]: 1, second["update_id"]: 1, third["update_id"]: 1}
    messages = await inbound(hub)
    assert [m.body_text for m in messages] == ["Где мой заказ?", "Номер 4512", "Добрый день"]
    olga = messages[0].conversation_id
    assert messages[1].conversation_id == olga and messages[2].conversation_id != olga

    reply_id = await reply(hub, olga, "Ольга, заказ 4512 уже в пути.")
    await eventually(lambda: bool(bot_api.sent()), "sendMessage reached Telegram")
    (call,) = bot_api.sent()
    assert int(call.params["chat_id"]) == OLGA["id"]
    assert call.params["text"] == "Ольга, заказ 4512 уже в пути."
    assert call.params["reply_parameters"]["message_id"] == 2  # the client's last message
    stored = await delivered(hub, reply_id)
    assert (stored.delivery_status, stored.external_id) == ("sent", f"{OLGA['id']}:5001")

    # The client answers our reply after the dialog was closed: it joins (and reopens) that dialog.
    async with hub.sessionmaker() as session:
        conv = await session.get_one(Conversation, olga)
        conv.status = "resolved"
        await session.commit()
    bot_api.push(
        {"message": msg("Спасибо!", message_id=3, reply_to_message=msg("Ольга, заказ…", message_id=5001))}
    )
    await eventually(lambda: inbound_count(hub, 4), "the answer to our reply is stored")
    thanks = (await inbound(hub))[-1]
    assert thanks.conversation_id == olga
    async with hub.sessionmaker() as session:
        assert (await session.get_one(Conversation, olga)).status == "open"


async def test_webhook_end_to_end_survives_a_restart_and_refuses_forgeries(
    hub_factory: HubFactory,
    bot_api: FakeBotApi,
    tmp_path: Path,
    hooks: tuple[harness.Hooks, TestClient[Any, Any]],
) -> None:
    routes, client = hooks
    good = {SECRET_HEADER: SECRET}
    routes.hub = hub = await hub_factory(**webhook(bot_api, tmp_path))
    await ready_connector(hub, "tg")
    assert bot_api.webhook is not None and bot_api.webhook["secret_token"] == SECRET
    assert bot_api.token not in bot_api.webhook["url"]

    first = {"update_id": 1, "message": msg("Здравствуйте, через вебхук", message_id=1)}
    assert (await client.post("/hooks/tg", json=first, headers=good)).status == 200
    assert [m.body_text for m in await inbound(hub)] == ["Здравствуйте, через вебхук"]
    forged = {"update_id": 2, "message": msg("Поддельное", message_id=2)}
    for headers in ({}, {SECRET_HEADER: "wrong"}):
        assert (await client.post("/hooks/tg", json=forged, headers=headers)).status == 401
    assert len(await inbound(hub)) == 1

    await hub.stop()
    assert (await client.post("/hooks/tg", json=forged, headers=good)).status == 404  # Telegram retries later
    routes.hub = hub = await hub_factory(**webhook(bot_api, tmp_path))
    await ready_connector(hub, "tg")
    second = {"update_id": 3, "message": msg("После перезапуска", message_id=3)}
    for body in (first, second, first):  # Telegram delivering the first one again
        assert (await client.post("/hooks/tg", json=body, headers=good)).status == 200
    messages = await inbound(hub)
    assert [m.body_text for m in messages] == ["Здравствуйте, через вебхук", "После перезапуска"]

    reply_id = await reply(hub, messages[0].conversation_id, "Добрый день! Чем помочь?")
    await eventually(lambda: bool(bot_api.sent()), "sendMessage reached Telegram")
    (call,) = bot_api.sent()
    assert (int(call.params["chat_id"]), call.params["text"]) == (OLGA["id"], "Добрый день! Чем помочь?")
    assert (await delivered(hub, reply_id)).delivery_status == "sent"


async def test_a_blocked_bot_marks_the_conversation_so_agents_see_why(
    hub_factory: HubFactory, bot_api: FakeBotApi, tmp_path: Path
) -> None:
    hub: Hub = await hub_factory(**polling(bot_api, tmp_path))
    bot_api.push({"message": msg("Перезвоните мне", message_id=1)})
    await eventually(lambda: inbound_count(hub, 1), "the message is stored")
    conv_id = (await inbound(hub))[0].conversation_id
    bot_api.script("sendMessage", blocked_by_user())
    stored = await delivered(hub, await reply(hub, conv_id, "Звоним!"))
    assert stored.delivery_status == "failed"
    assert stored.delivery_error is not None and "bot was blocked by the user" in stored.delivery_error
    async with hub.sessionmaker() as session:
        conv = await session.get_one(Conversation, conv_id)
        assert conv.blocked_reason is not None and "bot was blocked by the user" in conv.blocked_reason


async def test_a_rate_limited_reply_waits_telegrams_retry_after(
    hub_factory: HubFactory, bot_api: FakeBotApi, tmp_path: Path
) -> None:
    hub: Hub = await hub_factory(**polling(bot_api, tmp_path))
    bot_api.push({"message": msg("Алло", message_id=1)})
    await eventually(lambda: inbound_count(hub, 1), "the message is stored")
    bot_api.script("sendMessage", too_many_requests(120))
    reply_id = await reply(hub, (await inbound(hub))[0].conversation_id, "Минуту")

    async def retried_later() -> bool:
        async with hub.sessionmaker() as session:
            row = await session.scalar(select(Outbox).where(Outbox.message_id == reply_id))
            return row is not None and row.attempts == 1 and row.status == "pending"

    await eventually(retried_later, "the reply was put back for later")
    async with hub.sessionmaker() as session:
        row = await session.scalar(select(Outbox).where(Outbox.message_id == reply_id))
        assert row is not None and row.last_error is not None and "retry after 120" in row.last_error
        assert (
            row.next_attempt_at - row.created_at
        ).total_seconds() > 100  # Telegram's 120 s, not 5 s backoff
        assert (
            await session.scalar(select(func.count()).select_from(Message).where(Message.direction == "out"))
            == 1
        )


async def test_an_edit_through_the_hub_is_applied_or_reported_never_silently_lost(
    hub_factory: HubFactory, bot_api: FakeBotApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub: Hub = await hub_factory(**polling(bot_api, tmp_path))
    bot_api.push({"message": msg("Адрес: Ленина 1", message_id=1)})
    edit = bot_api.push({"edited_message": msg("Адрес: Ленина 10", message_id=1, edit_date=1_763_800_100)})
    await eventually(lambda: harness.cursor_is(hub, "tg", str(edit["update_id"] + 1)), "both updates handled")
    (stored,) = await inbound(hub)
    applied = stored.body_text == "Адрес: Ленина 10"
    reported = "ingests edits and blocks as plain items" in caplog.text
    assert applied or reported
    assert applied != reported  # a hub that routes edits applies them and says nothing
