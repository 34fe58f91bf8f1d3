"""The Telegram connector against the fake Bot API: polling and its offset, webhooks and their secret,
downloads, button answers, edits and blocks reaching the inbox, and configuration problems."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.base import ChannelAuthError, MemoryCursor
from channels.telegram import TelegramConnector, read_settings
from channels.telegram.connector import SECRET_HEADER, TelegramConfigError
from inbox.models import ChannelAccount, Contact, Conversation, Identity, Message
from tests.channels.messenger_harness import InboxSink, connector_running, quarantined, stored_messages
from tests.channels.telegram.conftest import context
from tests.channels.telegram.fake_bot_api import FakeBotApi
from tests.channels.telegram.updates import IVAN, OLGA, callback_update, member_update, msg, update
from tests.waiting import event_set, eventually

SECRET = "hook-secret_42"


async def test_polling_saves_the_offset_after_the_sink_returned_and_hands_chats_in_side_by_side(
    bot_api: FakeBotApi, tg_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first = bot_api.push({"message": msg("Добрый день", message_id=1)})
    bot_api.push({"message": msg("Я Иван", message_id=3, user=IVAN)})
    second = bot_api.push({"message": msg("Есть вопрос", message_id=2)})
    cursor = MemoryCursor()
    sink = InboxSink(sessionmaker)
    sink.gate = asyncio.Event()
    conn = TelegramConnector(context(bot_api, tg_account.id, cursor=cursor))
    async with connector_running(conn, sink):
        await eventually(lambda: bot_api.delivered[first["update_id"]] == 1, "the updates were fetched")
        # Olga's and Ivan's first messages are handed in together; Olga's second waits for her first.
        await eventually(lambda: sink.waiting == 2, "a message of each chat waits for its commit")
        assert cursor.value is None and sink.items == []  # handed over, not yet committed: nothing saved
        sink.gate.set()
        await eventually(lambda: cursor.value == str(second["update_id"] + 1), "the offset was saved")
    stored = [m.body_text for m in await stored_messages(sessionmaker)]
    assert sorted(stored) == sorted(["Добрый день", "Я Иван", "Есть вопрос"])
    assert [t for t in stored if t != "Я Иван"] == ["Добрый день", "Есть вопрос"]  # one chat in its order


async def test_a_new_connector_resumes_from_the_saved_offset_without_repeating(
    bot_api: FakeBotApi, tg_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cursor = MemoryCursor()
    sink = InboxSink(sessionmaker)
    first = bot_api.push({"message": msg("раз", message_id=1)})
    async with connector_running(TelegramConnector(context(bot_api, tg_account.id, cursor=cursor)), sink):
        await eventually(lambda: cursor.value == str(first["update_id"] + 1), "the first offset was saved")
    later = bot_api.push({"message": msg("два", message_id=2)})
    async with connector_running(TelegramConnector(context(bot_api, tg_account.id, cursor=cursor)), sink):
        await eventually(lambda: cursor.value == str(later["update_id"] + 1), "the second offset was saved")
    assert bot_api.delivered == {first["update_id"]: 1, later["update_id"]: 1}
    assert [m.body_text for m in await stored_messages(sessionmaker)] == ["раз", "два"]


async def test_skipped_and_malformed_updates_move_the_offset_too_and_malformed_ones_are_quarantined(
    bot_api: FakeBotApi, tg_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cursor = MemoryCursor()
    sink = InboxSink(sessionmaker)
    bot_api.push({"poll_answer": {"poll_id": "1", "option_ids": [0]}})
    broken = bot_api.push({"message": {"message_id": "broken"}})
    unknown = bot_api.push({"something_new": {"a": 1}})
    bot_api.push(
        {"message": msg("после мусора", message_id=3, chat={"id": -5, "type": "group", "title": "g"})}
    )
    last = bot_api.push({"message": msg("нормальное", message_id=4)})
    async with connector_running(TelegramConnector(context(bot_api, tg_account.id, cursor=cursor)), sink):
        await eventually(lambda: cursor.value == str(last["update_id"] + 1), "the offset passed all five")
    assert [m.body_text for m in await stored_messages(sessionmaker)] == ["нормальное"]
    kept = await quarantined(sessionmaker)
    assert [q.position for q in kept] == [f"update {broken['update_id']}", f"update {unknown['update_id']}"]
    assert "unknown type 'something_new'" in kept[1].reason and kept[0].account_id == tg_account.id
    assert json.loads(kept[1].raw or b"") == unknown  # the update as received: a retry reads it again


async def test_a_message_of_unknown_content_and_a_business_message_are_quarantined_not_only_logged(
    bot_api: FakeBotApi, tg_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cursor = MemoryCursor()
    sink = InboxSink(sessionmaker)
    bot_api.push({"message_reaction_count": {"chat": {"id": 1, "type": "private"}, "message_id": 1}})
    unread = bot_api.push({"message": msg(None, message_id=1, checklist={"title": "Покупки", "tasks": []})})
    business = bot_api.push(
        {"business_message": msg("Вы работаете?", message_id=2) | {"business_connection_id": "b"}}
    )
    last = bot_api.push({"message": msg("обычное", message_id=3)})
    async with connector_running(TelegramConnector(context(bot_api, tg_account.id, cursor=cursor)), sink):
        await eventually(lambda: cursor.value == str(last["update_id"] + 1), "the offset passed all four")
    assert [m.body_text for m in await stored_messages(sessionmaker)] == ["обычное"]
    kept = await quarantined(sessionmaker)  # the reaction counts are a signal: skipped by design
    assert [q.position for q in kept] == [f"update {unread['update_id']}", f"update {business['update_id']}"]
    assert "fields: checklist" in kept[0].reason and "business message" in kept[1].reason
    assert [json.loads(q.raw or b"") for q in kept] == [unread, business]


async def test_button_press_is_stored_in_the_buttons_thread_and_then_answered(
    bot_api: FakeBotApi, tg_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sink = InboxSink(sessionmaker)
    bot_api.push({"callback_query": callback_update("pickup", query_id="q-1")["callback_query"]})
    async with connector_running(TelegramConnector(context(bot_api, tg_account.id)), sink):
        await eventually(lambda: bool(bot_api.sent("answerCallbackQuery")), "the press was answered")
    (stored,) = await stored_messages(sessionmaker)
    assert stored.body_text == "[Button: Самовывоз]"
    assert bot_api.sent("answerCallbackQuery")[0].params["callback_query_id"] == "q-1"


async def test_inbound_files_are_downloaded_and_stored_with_the_message(
    bot_api: FakeBotApi, tg_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    data = b"%PDF-1.7 invoice"
    bot_api.add_file("doc-1", data)
    big = {"file_id": "huge", "file_unique_id": "h", "file_name": "video.mkv", "file_size": 30 * 1024 * 1024}
    doc = {"file_id": "doc-1", "file_unique_id": "d", "file_name": "счёт.pdf", "mime_type": "application/pdf"}
    bot_api.push({"message": msg(None, message_id=1, document=doc, caption="Счёт")})
    bot_api.push({"message": msg(None, message_id=2, document=big)})
    gone = {"file_id": "expired", "file_unique_id": "e", "file_name": "old.pdf", "file_size": 100}
    bot_api.push({"message": msg(None, message_id=3, document=gone)})
    sink = InboxSink(sessionmaker)
    async with connector_running(TelegramConnector(context(bot_api, tg_account.id)), sink):
        await eventually(lambda: len(sink.items) == 3, "all messages stored")
    first, second, third = await stored_messages(sessionmaker)
    (invoice,) = first.attachments
    assert (invoice.filename, invoice.size, invoice.sha256) == (
        "счёт.pdf",
        len(data),
        hashlib.sha256(data).hexdigest(),
    )
    (video,) = second.attachments
    assert video.refused is not None and "not downloaded" in video.refused and video.sha256 is None
    (old,) = third.attachments
    assert old.refused == "Telegram would not give the file: Bad Request: invalid file_id"


async def test_an_edit_updates_the_stored_message_and_keeps_the_previous_text(
    bot_api: FakeBotApi, tg_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    bot_api.push({"message": msg("Заказ №12", message_id=7)})
    bot_api.push({"edited_message": msg("Заказ №21", message_id=7, edit_date=1_763_800_100)})
    sink = InboxSink(sessionmaker)
    async with connector_running(TelegramConnector(context(bot_api, tg_account.id)), sink):
        await eventually(lambda: len(sink.items) == 2, "message and edit handled")
    (stored,) = await stored_messages(sessionmaker)
    assert stored.body_text == "Заказ №21"
    assert [v["text"] for v in stored.meta["previous_versions"]] == ["Заказ №12"]
    assert stored.edited_at is not None


async def test_blocking_the_bot_marks_the_conversation_and_unblocking_clears_it(
    bot_api: FakeBotApi, tg_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    bot_api.push({"message": msg("Привет", message_id=1)})
    bot_api.push({"my_chat_member": member_update("member", "kicked")["my_chat_member"]})
    sink = InboxSink(sessionmaker)
    async with connector_running(TelegramConnector(context(bot_api, tg_account.id)), sink):
        await eventually(lambda: len(sink.items) == 2, "message and block handled")
        async with sessionmaker() as session:
            conv = await session.scalar(select(Conversation))
            assert conv is not None and conv.blocked_reason == "The user blocked the bot"
            kinds = list(await session.scalars(select(Message.kind).order_by(Message.id)))
            assert kinds == ["message", "event"]
        bot_api.push(
            {"my_chat_member": member_update("kicked", "member", date=1_763_800_500)["my_chat_member"]}
        )
        await eventually(lambda: len(sink.items) == 3, "unblock handled")
    async with sessionmaker() as session:
        conv = await session.scalar(select(Conversation))
        assert conv is not None and conv.blocked_reason is None


async def test_a_shared_own_contact_puts_the_phone_on_the_senders_card(
    bot_api: FakeBotApi, tg_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    bot_api.push({"message": msg("Здравствуйте", message_id=1)})
    bot_api.push(
        {
            "message": msg(
                None,
                message_id=2,
                contact={"phone_number": "+7 913 909-73-32", "first_name": "Ольга", "user_id": OLGA["id"]},
            )
        }
    )
    sink = InboxSink(sessionmaker)
    async with connector_running(TelegramConnector(context(bot_api, tg_account.id)), sink):
        await eventually(lambda: len(sink.items) == 2, "both handled")
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Contact)) == 1
        identities = {(i.kind, i.value) for i in await session.scalars(select(Identity))}
        contact = await session.scalar(select(Contact))
    assert identities == {("telegram", "4242"), ("phone", "+79139097332")}
    assert contact is not None and contact.name == "Ольга Петрова"


# -- webhooks --------------------------------------------------------------------------------------------


@pytest.fixture
async def hook(
    bot_api: FakeBotApi, tg_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[tuple[TestClient[Any, Any], TelegramConnector, InboxSink]]:
    """A webhook-mode connector running, mounted at /hooks/tg as the hub will mount it."""
    conn = TelegramConnector(
        context(
            bot_api, tg_account.id, secret=SECRET, mode="webhook", webhook_url="https://hub.example/hooks/tg"
        )
    )
    app = web.Application()

    async def route(request: web.Request) -> web.StreamResponse:
        return await conn.handle_webhook(request, request.match_info.get("tail", ""))

    app.router.add_post("/hooks/{account}", route)
    sink = InboxSink(sessionmaker)
    async with connector_running(conn, sink), TestClient(TestServer(app)) as client:
        await event_set(conn.ready, "the connector is ready for pushes")
        yield client, conn, sink


async def count_messages(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Message)) or 0)


async def test_webhook_mode_registers_the_hook_with_the_secret_and_without_the_token(
    bot_api: FakeBotApi, hook: tuple[TestClient[Any, Any], TelegramConnector, InboxSink]
) -> None:
    assert bot_api.webhook is not None
    assert bot_api.webhook["url"] == "https://hub.example/hooks/tg"
    assert bot_api.webhook["secret_token"] == SECRET
    assert bot_api.token not in bot_api.webhook["url"]


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "guess"}, {SECRET_HEADER: SECRET + "x"}])
async def test_forged_webhook_is_refused_before_parsing_and_nothing_is_stored(
    hook: tuple[TestClient[Any, Any], TelegramConnector, InboxSink],
    sessionmaker: async_sessionmaker[AsyncSession],
    headers: dict[str, str],
) -> None:
    client, _, sink = hook
    response = await client.post("/hooks/tg", json=update(1, message=msg("подделка")), headers=headers)
    assert response.status == 401
    response = await client.post("/hooks/tg", data=b"not even json", headers=headers)
    assert response.status == 401  # the body is never read without the secret
    assert sink.items == [] and await count_messages(sessionmaker) == 0


async def test_webhook_update_is_committed_before_the_answer(
    hook: tuple[TestClient[Any, Any], TelegramConnector, InboxSink],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    client, _, _ = hook
    response = await client.post(
        "/hooks/tg", json=update(1, message=msg("через вебхук")), headers={SECRET_HEADER: SECRET}
    )
    assert response.status == 200
    assert await count_messages(sessionmaker) == 1
    response = await client.post("/hooks/tg", data=b"{broken", headers={SECRET_HEADER: SECRET})
    assert response.status == 400


async def test_a_polling_account_takes_no_webhooks(bot_api: FakeBotApi, tg_account: ChannelAccount) -> None:
    conn = TelegramConnector(context(bot_api, tg_account.id, secret=SECRET))
    app = web.Application()

    async def route(request: web.Request) -> web.StreamResponse:
        return await conn.handle_webhook(request, "")

    app.router.add_post("/hooks/tg", route)
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/hooks/tg", json={}, headers={SECRET_HEADER: SECRET})
    await conn.close()
    assert response.status == 404


# -- configuration ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "secrets", "problem"),
    [
        ({}, {}, "no bot token"),
        ({"mode": "webhook"}, {"token": "1:a"}, "needs a secret"),
        ({"mode": "push"}, {"token": "1:a"}, "'polling' or 'webhook'"),
        (
            {"mode": "webhook", "webhook_url": "https://h/hooks/1:a"},
            {"token": "1:a", "secret": "s"},
            "must not contain the bot token",
        ),
        ({"allow_group": True}, {"token": "1:a"}, "unknown option(s) allow_group"),
        ({"allow_groups": "yes"}, {"token": "1:a"}, "true or false"),
        ({}, {"token": "1:a", "secret": "has space"}, "secret must be"),
    ],
)
def test_configuration_problems_are_named(
    options: dict[str, Any], secrets: dict[str, str], problem: str
) -> None:
    from channels.base import AccountContext

    account = AccountContext(id=1, name="tg", kind="telegram", options=options, secrets=secrets)
    with pytest.raises(TelegramConfigError) as err:
        read_settings(account)
    assert problem in str(err.value)


async def never_called(item: object) -> object:
    raise AssertionError("nothing should reach the sink")


async def test_run_reports_configuration_and_token_problems_as_auth_failures(bot_api: FakeBotApi) -> None:
    from channels.base import AccountContext

    broken = TelegramConnector(AccountContext(id=1, name="tg", kind="telegram"))  # constructing never raises
    with pytest.raises(ChannelAuthError, match="no bot token"):
        await broken.run(never_called)
    refused = TelegramConnector(
        AccountContext(
            id=1, name="tg", kind="telegram", options={"api_base": bot_api.url}, secrets={"token": "1:nope"}
        )
    )
    try:
        with pytest.raises(ChannelAuthError, match="Unauthorized"):
            await refused.run(never_called)
    finally:
        await refused.close()
