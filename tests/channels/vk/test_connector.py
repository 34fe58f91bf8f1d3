"""The VK connector against the fake VK API: the long poll and its ts (failed 1/2/3), names, files, our own
echoes, the Callback API and its secret, sending, and configuration problems."""

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

from channels.base import AccountContext, ChannelAuthError, MemoryCursor
from channels.vk import VkConnector, read_settings
from channels.vk.connector import VkConfigError
from inbox.items import DeliveryError, IdentityRef, OutboundAttachment, OutboundMessage
from inbox.models import ChannelAccount, Contact, Conversation, Message
from tests.channels.messenger_harness import (
    InboxSink,
    connector_running,
    outbound_message,
    quarantined,
    stored_messages,
)
from tests.channels.vk.conftest import context
from tests.channels.vk.events import MARIA, PETR, doc, message, message_edit, message_new, permission, photo
from tests.channels.vk.fake_vk_api import NO_PERMISSION, FakeVkApi
from tests.waiting import event_set, eventually

SECRET = "callback-secret-1"
CONFIRMATION = "a1b2c3d4"


def outbound(**changes: Any) -> OutboundMessage:
    data: dict[str, Any] = {
        "text": "Мария, заказ готов.",
        "recipients": (IdentityRef("vk", str(MARIA)),),
        "contact_name": "Мария",
        "meta": {"vk": {"peer_id": MARIA}},
    }
    return outbound_message(**(data | changes))


async def test_long_poll_saves_ts_after_the_sink_returned_chats_side_by_side_and_names_from_users_get(
    vk_api: FakeVkApi, vk_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cursor = MemoryCursor()
    sink = InboxSink(sessionmaker)
    sink.gate = asyncio.Event()
    async with connector_running(VkConnector(context(vk_api, vk_account.id, cursor=cursor)), sink):
        await eventually(lambda: cursor.value == str(vk_api.ts), "the starting ts is saved")
        start = cursor.value
        vk_api.push(message_new("Здравствуйте", message_id=1))
        vk_api.push(message_new("Ещё вопрос", message_id=2))
        vk_api.push(message_new("А я Пётр", message_id=3, from_id=PETR))
        await eventually(lambda: sum(vk_api.delivered.values()) == 3, "the events were fetched")
        # The two chats' first messages are handed in side by side; Maria's second waits for her first.
        await eventually(lambda: sink.waiting == 2, "a message of each chat waits for its commit")
        assert cursor.value == start and sink.items == []  # handed over, not committed: ts not moved
        sink.gate.set()
        await eventually(lambda: cursor.value == str(vk_api.ts), "the ts moved past the events")
    messages = await stored_messages(sessionmaker)
    assert sorted(m.body_text for m in messages) == sorted(["Здравствуйте", "Ещё вопрос", "А я Пётр"])
    maria = [m.body_text for m in messages if m.body_text != "А я Пётр"]
    assert maria == ["Здравствуйте", "Ещё вопрос"]  # one chat's messages in the order VK sent them
    async with sessionmaker() as session:
        names = sorted(n or "" for n in await session.scalars(select(Contact.name)))
    assert names == ["Мария Иванова", "Пётр Сидоров"]
    assert len(vk_api.method_calls("users.get")) == 1  # one batch for the whole answer, then cached


async def test_long_poll_handles_failed_1_2_and_3(
    vk_api: FakeVkApi, vk_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cursor = MemoryCursor()
    sink = InboxSink(sessionmaker)
    async with connector_running(VkConnector(context(vk_api, vk_account.id, cursor=cursor)), sink):
        await eventually(lambda: cursor.value is not None, "started")
        vk_api.fail_next_poll(2)  # key expired: new key, same ts
        vk_api.push(message_new("после смены ключа", message_id=1))
        await eventually(lambda: len(sink.items) == 1, "the event after failed=2 arrived")
        assert len(vk_api.method_calls("groups.getLongPollServer")) == 2
        vk_api.fail_next_poll(3)  # key and ts lost: a new session
        await eventually(lambda: len(vk_api.method_calls("groups.getLongPollServer")) == 3, "a new session")
        vk_api.push(message_new("после потери сессии", message_id=2))
        await eventually(lambda: len(sink.items) == 2, "the event after failed=3 arrived")
        vk_api.fail_next_poll(1)  # history lost: move on to the ts given
        await eventually(lambda: vk_api.next_failure is None, "failed=1 was answered")
        vk_api.push(message_new("после failed=1", message_id=3))
        await eventually(lambda: len(sink.items) == 3, "the event after failed=1 arrived")
    assert [m.body_text for m in await stored_messages(sessionmaker)] == [
        "после смены ключа",
        "после потери сессии",
        "после failed=1",
    ]
    assert cursor.value == str(vk_api.ts)


async def test_a_restarted_connector_resumes_from_the_saved_ts(
    vk_api: FakeVkApi, vk_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cursor = MemoryCursor()
    sink = InboxSink(sessionmaker)
    async with connector_running(VkConnector(context(vk_api, vk_account.id, cursor=cursor)), sink):
        await eventually(lambda: cursor.value is not None, "the long poll started")
        vk_api.push(message_new("первое", message_id=1))
        await eventually(lambda: len(sink.items) == 1, "first stored")
        await eventually(lambda: cursor.value == str(vk_api.ts), "ts saved")
    saved_ts = cursor.value
    polls_before = len(vk_api.polls)
    vk_api.push(message_new("пока никого не было", message_id=2))
    async with connector_running(VkConnector(context(vk_api, vk_account.id, cursor=cursor)), sink):
        await eventually(lambda: len(sink.items) == 2, "second stored")
        await eventually(lambda: cursor.value == str(vk_api.ts), "ts saved again")
    # The new connector asked from the saved ts (a stale long poll of the stopped one may still be open on
    # the server, so wire-level delivery counts are not the measure here; what was stored is).
    resumed = [p for p in vk_api.polls[polls_before:] if p.get("act") == "a_check"]
    assert resumed[0]["ts"] == saved_ts
    assert [m.body_text for m in await stored_messages(sessionmaker)] == ["первое", "пока никого не было"]


async def test_files_are_fetched_only_from_vk_file_hosts_and_a_failing_host_does_not_hold_up_the_dialog(
    vk_api: FakeVkApi, vk_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    data = b"\xff\xd8\xff jpeg bytes"
    vk_api.files["photo.jpg"] = data
    sink = InboxSink(sessionmaker)
    vk_api.broken_files.add("voice.ogg")
    attachments = [
        photo(url=f"{vk_api.url}/files/photo.jpg"),
        doc(url="https://evil.example/doc.pdf"),
        doc(title="voice", ext="ogg", url=f"{vk_api.url}/files/voice.ogg"),
    ]
    async with connector_running(VkConnector(context(vk_api, vk_account.id)), sink):
        await eventually(lambda: bool(vk_api.polls), "the long poll started")
        vk_api.push(message_new("Фото и документ", message_id=1, attachments=attachments))
        await eventually(lambda: len(sink.items) == 1, "stored")
    (message_row,) = await stored_messages(sessionmaker)
    picture, document, voice = message_row.attachments
    assert picture.sha256 == hashlib.sha256(data).hexdigest() and picture.size == len(data)
    assert document.sha256 is None and document.refused == "not downloaded: not a VK file host"
    # A file host in trouble is tried a few times, then the file is given up: the message is not held up.
    assert voice.sha256 is None and voice.refused is not None and voice.refused.startswith("download failed")


async def test_our_own_reply_is_never_ingested_twice(
    vk_api: FakeVkApi, vk_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sink = InboxSink(sessionmaker)
    conn = VkConnector(context(vk_api, vk_account.id))
    async with connector_running(conn, sink):
        await eventually(lambda: bool(vk_api.polls), "the long poll started")
        vk_api.push(message_new("Вопрос", message_id=1))
        await eventually(lambda: len(sink.items) == 1, "question stored")
        delivery = await conn.send(outbound())  # the fake echoes it as message_reply at once
        await eventually(lambda: sum(vk_api.delivered.values()) == 2, "the echo was received")
    assert delivery.external_id == "830"
    assert len(sink.items) == 1  # the echo was recognized by its random_id and dropped

    # A fresh connector (no memory of what it sent) relies on the stored id: a duplicate, nothing new.
    (question,) = await stored_messages(sessionmaker)
    async with sessionmaker() as session:
        session.add(
            Message(
                conversation_id=question.conversation_id,
                account_id=vk_account.id,
                direction="out",
                body_text="Мария, заказ готов.",
                external_id="830",
                meta={},
            )
        )
        await session.commit()
    echo = {
        "type": "message_reply",
        "object": message("Мария, заказ готов.", message_id=830, from_id=-1, peer_id=MARIA, out=1),
    }
    fresh = VkConnector(context(vk_api, vk_account.id))
    try:
        await fresh.process({**echo, "group_id": vk_api.group_id}, sink)
    finally:
        await fresh.close()
    assert sink.results[-1].duplicate
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 2


async def test_edits_and_permission_changes_reach_the_conversation(
    vk_api: FakeVkApi, vk_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sink = InboxSink(sessionmaker)
    async with connector_running(VkConnector(context(vk_api, vk_account.id)), sink):
        await eventually(lambda: bool(vk_api.polls), "the long poll started")
        vk_api.push(message_new("Адрес: Ленина 1", message_id=1))
        vk_api.push(message_edit("Адрес: Ленина 10", message_id=1))
        vk_api.push(permission(False))
        await eventually(lambda: len(sink.items) == 3, "all three handled")
        async with sessionmaker() as session:
            conv = await session.scalar(select(Conversation))
            assert conv is not None and conv.blocked_reason == "The user denied messages from the community"
        vk_api.push(permission(True))
        await eventually(lambda: len(sink.items) == 4, "allow handled")
    first, deny, allow = await stored_messages(sessionmaker)
    assert first.body_text == "Адрес: Ленина 10"
    assert [v["text"] for v in first.meta["previous_versions"]] == ["Адрес: Ленина 1"]
    assert (deny.kind, allow.kind) == ("event", "event")
    async with sessionmaker() as session:
        conv = await session.scalar(select(Conversation))
        assert conv is not None and conv.blocked_reason is None


async def test_send_splits_long_text_and_shows_901_as_a_block(vk_api: FakeVkApi) -> None:
    conn = VkConnector(context(vk_api))
    try:
        long_text = "а" * 4000 + "\n" + "б" * 500
        delivery = await conn.send(outbound(text=long_text))
        assert [len(t) for _, t, _ in vk_api.sent_texts] == [4000, 500]
        assert delivery.external_id == "830"
        vk_api.denied.add(PETR)
        with pytest.raises(DeliveryError) as err:
            await conn.send(outbound(meta={"vk": {"peer_id": PETR}}, idempotency_key="k2"))
        assert err.value.permanent and err.value.blocks_conversation
        assert "VK error 901: Can't send messages for users without permission" in err.value.reason
        vk_api.script("messages.send", NO_PERMISSION)
        with pytest.raises(DeliveryError):
            await conn.send(outbound(idempotency_key="k3"))
    finally:
        await conn.close()


async def test_a_reply_carries_a_photo_and_a_document_through_vks_upload_flow(vk_api: FakeVkApi) -> None:
    conn = VkConnector(context(vk_api))
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    pdf = b"%PDF-1.4 invoice"
    files = (
        OutboundAttachment("фото.png", "image/png", png),
        OutboundAttachment("счёт.pdf", "application/pdf", pdf),
    )
    try:
        delivery = await conn.send(outbound(attachments=files))
    finally:
        await conn.close()
    assert delivery.external_id == "830"
    [(peer, attachment)] = vk_api.sent_attachments
    photo, document = attachment.split(",")
    assert peer == MARIA
    assert photo.startswith(f"photo-{vk_api.group_id}_") and photo.endswith("_ak1")
    assert document.startswith(f"doc-{vk_api.group_id}_")
    assert vk_api.saved[photo.rsplit("_", 1)[0]] == ("фото.png", png)
    assert vk_api.saved[document] == ("счёт.pdf", pdf)
    assert [c.params["peer_id"] for c in vk_api.method_calls("photos.getMessagesUploadServer")] == [
        str(MARIA)
    ]
    [doc_server] = vk_api.method_calls("docs.getMessagesUploadServer")
    assert doc_server.params == {"type": "doc", "peer_id": str(MARIA)}


async def test_a_retry_after_a_failed_send_reuses_the_uploaded_files(vk_api: FakeVkApi) -> None:
    conn = VkConnector(context(vk_api))
    files = (
        OutboundAttachment("a.pdf", "application/pdf", b"%PDF-1 a"),
        OutboundAttachment("b.pdf", "application/pdf", b"%PDF-1 b"),
    )
    vk_api.script("messages.send", (10, "Internal server error"))
    try:
        with pytest.raises(DeliveryError) as err:
            await conn.send(outbound(attachments=files))
        assert not err.value.permanent and "VK error 10" in err.value.reason
        delivery = await conn.send(outbound(attachments=files))
    finally:
        await conn.close()
    assert delivery.external_id == "830"
    [(_, attachment)] = vk_api.sent_attachments
    assert len(attachment.split(",")) == 2
    assert len(vk_api.method_calls("docs.save")) == 2  # each file uploaded and saved once


async def test_a_refused_upload_fails_the_send_with_the_reason_and_sends_nothing(vk_api: FakeVkApi) -> None:
    conn = VkConnector(context(vk_api))
    vk_api.script("docs.getMessagesUploadServer", (15, "Access denied: no access to call this method"))
    try:
        with pytest.raises(DeliveryError) as err:
            await conn.send(outbound(attachments=(OutboundAttachment("a.pdf", "application/pdf", b"%PDF"),)))
    finally:
        await conn.close()
    assert err.value.permanent and "VK error 15" in err.value.reason
    assert vk_api.sent_texts == []  # never the text without its file


async def test_a_replys_buttons_are_an_inline_keyboard_under_its_last_part(vk_api: FakeVkApi) -> None:
    conn = VkConnector(context(vk_api))
    labels = ("Да", "Нет", "Позвоните мне")
    try:
        await conn.send(outbound(text="а" * 4000 + "\n" + "б" * 500, buttons=labels))
    finally:
        await conn.close()
    [(peer, keyboard)] = vk_api.sent_keyboards  # only the last of the two parts carries it
    assert peer == MARIA and keyboard["inline"] is True
    rows = [[button["action"]["label"] for button in row] for row in keyboard["buttons"]]
    assert rows == [["Да", "Нет"], ["Позвоните мне"]]
    assert {button["action"]["type"] for row in keyboard["buttons"] for button in row} == {"text"}


# -- Callback API ----------------------------------------------------------------------------------------


@pytest.fixture
async def callback(
    vk_api: FakeVkApi, vk_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[tuple[TestClient[Any, Any], InboxSink]]:
    conn = VkConnector(
        context(vk_api, vk_account.id, secret=SECRET, mode="callback", confirmation=CONFIRMATION)
    )
    app = web.Application()

    async def route(request: web.Request) -> web.StreamResponse:
        return await conn.handle_webhook(request, "")

    app.router.add_post("/hooks/vk", route)
    sink = InboxSink(sessionmaker)
    async with connector_running(conn, sink), TestClient(TestServer(app)) as client:
        await event_set(conn.ready, "the callback connector is ready")
        yield client, sink


async def test_confirmation_request_gets_the_configured_string(
    vk_api: FakeVkApi, callback: tuple[TestClient[Any, Any], InboxSink]
) -> None:
    client, _ = callback
    body = {"type": "confirmation", "group_id": vk_api.group_id, "secret": SECRET}
    response = await client.post("/hooks/vk", json=body)
    assert response.status == 200 and await response.text() == CONFIRMATION


@pytest.mark.parametrize("secret", [None, "guess", SECRET + "x"])
async def test_forged_callback_is_refused_and_nothing_is_stored(
    vk_api: FakeVkApi,
    callback: tuple[TestClient[Any, Any], InboxSink],
    sessionmaker: async_sessionmaker[AsyncSession],
    secret: str | None,
) -> None:
    client, sink = callback
    body: dict[str, Any] = {**message_new("подделка"), "group_id": vk_api.group_id, "event_id": "x"}
    if secret is not None:
        body["secret"] = secret
    assert (await client.post("/hooks/vk", json=body)).status == 403
    confirm = {"type": "confirmation", "group_id": vk_api.group_id, "secret": "guess"}
    response = await client.post("/hooks/vk", json=confirm)
    assert response.status == 403 and CONFIRMATION not in await response.text()
    assert sink.items == [] and await stored_messages(sessionmaker) == []


async def test_callback_event_is_committed_before_ok(
    vk_api: FakeVkApi,
    callback: tuple[TestClient[Any, Any], InboxSink],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    client, _ = callback
    body = {
        **message_new("через Callback API"),
        "group_id": vk_api.group_id,
        "event_id": "e1",
        "secret": SECRET,
    }
    response = await client.post("/hooks/vk", json=body)
    assert response.status == 200 and await response.text() == "ok"
    assert [m.body_text for m in await stored_messages(sessionmaker)] == ["через Callback API"]
    other_group = {**body, "group_id": 1}
    assert (await client.post("/hooks/vk", json=other_group)).status == 403


# -- configuration ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "secrets", "problem"),
    [
        ({"group_id": 1}, {}, "no community token"),
        ({}, {"token": "t"}, "group_id"),
        ({"group_id": 1, "mode": "callback"}, {"token": "t"}, "needs the secret key"),
        ({"group_id": 1, "mode": "callback"}, {"token": "t", "secret": "s"}, "needs confirmation"),
        ({"group_id": 1, "mode": "webhook"}, {"token": "t"}, "'longpoll' or 'callback'"),
        ({"group_id": 1, "groupid": 1}, {"token": "t"}, "unknown option(s) groupid"),
    ],
)
def test_configuration_problems_are_named(
    options: dict[str, Any], secrets: dict[str, str], problem: str
) -> None:
    with pytest.raises(VkConfigError) as err:
        read_settings(AccountContext(id=1, name="vk", kind="vk", options=options, secrets=secrets))
    assert problem in str(err.value)


async def never_called(item: object) -> object:
    raise AssertionError("nothing should reach the sink")


async def test_a_refused_token_is_an_auth_failure(vk_api: FakeVkApi) -> None:
    ctx = context(vk_api)
    conn = VkConnector(
        AccountContext(id=1, name="vk", kind="vk", options=ctx.options, secrets={"token": "wrong"})
    )
    try:
        with pytest.raises(ChannelAuthError, match="refused the community token"):
            await conn.run(never_called)
    finally:
        await conn.close()
    wrong_group = VkConnector(context(vk_api, group_id=1))
    try:
        with pytest.raises(VkConfigError, match="group_id"):
            await wrong_group.run(never_called)
    finally:
        await wrong_group.close()


async def test_a_malformed_event_is_quarantined_with_its_bytes_and_the_ts_moves_past_it(
    vk_api: FakeVkApi, vk_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cursor = MemoryCursor()
    sink = InboxSink(sessionmaker)
    async with connector_running(VkConnector(context(vk_api, vk_account.id, cursor=cursor)), sink):
        await eventually(lambda: cursor.value == str(vk_api.ts), "the starting ts is saved")
        broken = vk_api.push({"type": "message_new", "object": {"message": {"id": "not a number"}}})
        vk_api.push(message_new("После мусора", message_id=2))
        await eventually(lambda: cursor.value == str(vk_api.ts), "the ts moved past both events")
    assert [m.body_text for m in await stored_messages(sessionmaker)] == ["После мусора"]
    (kept,) = await quarantined(sessionmaker)
    assert kept.account_id == vk_account.id and kept.position == f"event {broken['event_id']}"
    assert json.loads(kept.raw or b"") == broken and kept.reason


async def test_an_event_type_the_channel_does_not_take_is_quarantined_and_a_typing_notice_is_not(
    vk_api: FakeVkApi, vk_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cursor = MemoryCursor()
    sink = InboxSink(sessionmaker)
    async with connector_running(VkConnector(context(vk_api, vk_account.id, cursor=cursor)), sink):
        await eventually(lambda: cursor.value == str(vk_api.ts), "the starting ts is saved")
        vk_api.push(
            {"type": "message_typing_state", "object": {"state": "typing", "from_id": 5, "to_id": -1}}
        )
        comment = vk_api.push(
            {"type": "wall_reply_new", "object": {"id": 77, "from_id": 5, "post_id": 3, "text": "Где заказ?"}}
        )
        vk_api.push(message_new("После комментария", message_id=3))
        await eventually(lambda: cursor.value == str(vk_api.ts), "the ts moved past the three events")
    assert [m.body_text for m in await stored_messages(sessionmaker)] == ["После комментария"]
    (kept,) = await quarantined(sessionmaker)  # the comment; the typing notice is a signal, skipped
    assert kept.position == f"event {comment['event_id']}"
    assert json.loads(kept.raw or b"") == comment
    assert "wall_reply_new event is not taken" in kept.reason
