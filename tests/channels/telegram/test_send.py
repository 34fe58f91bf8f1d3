"""Sending replies through our Bot API client to the fake Bot API: chat, text, reply-to, parts, failures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from channels.base import ChannelAuthError
from channels.telegram import TelegramConnector
from channels.telegram.client import FileTooLarge, TelegramClient
from inbox.items import DeliveryError, IdentityRef, OutboundAttachment, OutboundMessage
from tests.channels.email.servers import free_port
from tests.channels.messenger_harness import outbound_message
from tests.channels.telegram.conftest import context
from tests.channels.telegram.fake_bot_api import (
    FakeBotApi,
    blocked_by_user,
    chat_not_found,
    too_many_requests,
)


def outbound(**changes: Any) -> OutboundMessage:
    data: dict[str, Any] = {
        "text": "Здравствуйте, Ольга! Заказ в пути.",
        "recipients": (IdentityRef("telegram", "4242"),),
        "contact_name": "Ольга",
        "in_reply_to": "4242:31",
        "meta": {"telegram": {"chat_id": 4242, "message_id": 31, "chat_type": "private"}},
    }
    return outbound_message(**(data | changes))


@pytest.fixture
async def connector(bot_api: FakeBotApi) -> AsyncIterator[TelegramConnector]:
    conn = TelegramConnector(context(bot_api))
    yield conn
    await conn.close()


async def test_reply_goes_to_the_chat_as_a_reply_to_the_clients_last_message(
    bot_api: FakeBotApi, connector: TelegramConnector
) -> None:
    delivery = await connector.send(outbound())
    (call,) = bot_api.sent()
    assert int(call.params["chat_id"]) == 4242
    assert call.params["text"] == "Здравствуйте, Ольга! Заказ в пути."
    assert call.params["reply_parameters"]["message_id"] == 31
    assert delivery.external_id == "4242:5001"


def test_without_meta_the_reply_goes_to_the_telegram_identity_and_replies_to_nothing() -> None:
    from channels.telegram.connector import chat_for, reply_target

    out = outbound(meta={}, in_reply_to="callback:77")
    assert chat_for(out) == 4242
    assert reply_target(out.in_reply_to, 4242) is None
    assert reply_target("999:31", 4242) is None  # another chat's message


async def test_long_reply_is_sent_in_parts_and_only_the_first_replies(
    bot_api: FakeBotApi, connector: TelegramConnector
) -> None:
    text = "\n\n".join(["а" * 3000, "б" * 3000, "в" * 100])  # the last two fit together
    delivery = await connector.send(outbound(text=text))
    calls = bot_api.sent()
    assert [c.params["text"] for c in calls] == ["а" * 3000, "б" * 3000 + "\n\n" + "в" * 100]
    assert "reply_parameters" in calls[0].params
    assert all("reply_parameters" not in c.params for c in calls[1:])
    assert delivery.external_id == "4242:5001"


async def test_rate_limit_is_a_retry_after_telegrams_seconds(
    bot_api: FakeBotApi, connector: TelegramConnector
) -> None:
    bot_api.script("sendMessage", too_many_requests(17))
    with pytest.raises(DeliveryError) as err:
        await connector.send(outbound())
    assert err.value.retry_after == 17
    assert not err.value.permanent and not err.value.blocks_conversation


async def test_blocked_bot_is_a_permanent_failure_that_marks_the_conversation(
    bot_api: FakeBotApi, connector: TelegramConnector
) -> None:
    bot_api.script("sendMessage", blocked_by_user())
    with pytest.raises(DeliveryError) as err:
        await connector.send(outbound())
    assert err.value.permanent and err.value.blocks_conversation
    assert "bot was blocked by the user" in err.value.reason


async def test_unknown_chat_is_permanent_without_marking(
    bot_api: FakeBotApi, connector: TelegramConnector
) -> None:
    bot_api.script("sendMessage", chat_not_found())
    with pytest.raises(DeliveryError) as err:
        await connector.send(outbound())
    assert err.value.permanent and not err.value.blocks_conversation
    assert "chat not found" in err.value.reason


async def test_retry_after_a_failure_mid_way_sends_only_the_rest(
    bot_api: FakeBotApi, connector: TelegramConnector
) -> None:
    text = "а" * 3000 + "\n\n" + "б" * 3000
    ok = await connector.send(outbound(text="разогрев", idempotency_key="other"))
    assert ok.external_id
    bot_api.calls.clear()

    async def second_part_limited() -> None:
        with pytest.raises(DeliveryError):
            await connector.send(outbound(text=text))

    # The first part goes out, then the second hits the rate limit.
    bot_api.scripted["sendMessage"] = []
    original = bot_api._sendMessage
    count = 0

    async def flaky(params: dict[str, Any], files: Any) -> Any:
        nonlocal count
        count += 1
        if count == 2:
            return too_many_requests(1)
        return await original(params, files)

    bot_api._sendMessage = flaky  # type: ignore[method-assign]
    await second_part_limited()
    delivery = await connector.send(outbound(text=text))
    assert [c.params["text"][0] for c in bot_api.sent()] == ["а", "б", "б"]
    assert delivery.external_id == "4242:5002"


async def test_a_stopped_connector_refuses_to_send_for_later(connector: TelegramConnector) -> None:
    await connector.close()
    with pytest.raises(DeliveryError) as err:
        await connector.send(outbound())
    assert not err.value.permanent


async def test_photos_and_documents_are_uploaded_as_files(bot_api: FakeBotApi) -> None:
    client = TelegramClient(bot_api.token, bot_api.url)
    try:
        await client.send_photo(4242, b"\x89PNG...", "chart.png", caption="График", reply_to=31)
        await client.send_document(4242, b"%PDF-1.4", "invoice.pdf")
    finally:
        await client.close()
    (photo,) = bot_api.sent("sendPhoto")
    assert photo.files["photo"] == ("chart.png", b"\x89PNG...")
    assert photo.params["caption"] == "График" and photo.params["reply_parameters"]["message_id"] == 31
    (document,) = bot_api.sent("sendDocument")
    assert document.files["document"] == ("invoice.pdf", b"%PDF-1.4")


async def test_a_refused_token_is_an_auth_failure(bot_api: FakeBotApi) -> None:
    client = TelegramClient("999:WRONG", bot_api.url)
    try:
        with pytest.raises(ChannelAuthError, match="Unauthorized"):
            await client.get_me()
        with pytest.raises(ChannelAuthError, match="Unauthorized"):
            await client.get_updates(None, 0)
    finally:
        await client.close()


def test_a_malformed_token_is_an_auth_failure() -> None:
    with pytest.raises(ChannelAuthError, match="malformed"):
        TelegramClient("not-a-token")


async def test_a_reply_with_files_sends_the_text_then_each_file(
    bot_api: FakeBotApi, connector: TelegramConnector
) -> None:
    files = (
        OutboundAttachment("схема.png", "image/png", b"\x89PNG\r\n\x1a\nfake"),
        OutboundAttachment("счёт.pdf", "application/pdf", b"%PDF-1.4 invoice"),
    )
    delivery = await connector.send(outbound(attachments=files))
    assert [c.params["text"] for c in bot_api.sent()] == ["Здравствуйте, Ольга! Заказ в пути."]
    assert len(bot_api.sent("sendPhoto")) == 1
    assert len(bot_api.sent("sendDocument")) == 1
    assert delivery.external_id == "4242:5001"  # the reply is known by its text message


@pytest.mark.parametrize(
    ("answer", "permanent", "said"),
    [
        (  # a group became a supergroup: the chat id is dead, the new one is named
            web.json_response(
                {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: group chat was upgraded to a supergroup chat",
                    "parameters": {"migrate_to_chat_id": -1001234567890},
                },
                status=400,
            ),
            True,
            "new chat id -1001234567890",
        ),
        (  # the token was revoked meanwhile: worth retrying once it is fixed
            web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401),
            False,
            "rejected the bot token",
        ),
        (  # Telegram's own trouble
            web.json_response({"ok": False, "error_code": 502, "description": "Bad Gateway"}, status=502),
            False,
            "Telegram unreachable",
        ),
        (  # a proxy's page instead of a Bot API answer
            web.Response(status=502, text="<html>Bad Gateway</html>", content_type="text/html"),
            False,
            "Telegram unreachable",
        ),
        (  # a rate limit that does not say how long: the outbox's own backoff
            web.json_response(
                {"ok": False, "error_code": 429, "description": "Too Many Requests"}, status=429
            ),
            False,
            "Telegram rate limit",
        ),
        (  # another 4xx: the same request will not do better
            web.json_response(
                {"ok": False, "error_code": 413, "description": "Request Entity Too Large"}, status=413
            ),
            True,
            "Request Entity Too Large",
        ),
    ],
)
async def test_other_failures_are_mapped_to_retry_or_give_up(
    bot_api: FakeBotApi,
    connector: TelegramConnector,
    answer: web.Response,
    permanent: bool,
    said: str,
) -> None:
    bot_api.script("sendMessage", answer)
    with pytest.raises(DeliveryError) as err:
        await connector.send(outbound())
    assert err.value.permanent is permanent and not err.value.blocks_conversation
    assert said in err.value.reason and bot_api.token not in err.value.reason


async def test_network_failures_are_retried_and_never_show_the_token(bot_api: FakeBotApi) -> None:
    # aiohttp's TooManyRedirects quotes the URL, which holds the token: the reason must not.
    here = f"{bot_api.url}/bot{bot_api.token}/sendMessage"
    bot_api.script("sendMessage", *(web.Response(status=302, headers={"Location": here}) for _ in range(12)))
    gone = TelegramClient(bot_api.token, f"http://127.0.0.1:{free_port()}")
    looping = TelegramClient(bot_api.token, bot_api.url)
    secret = bot_api.token.partition(":")[2]
    try:
        for client in (gone, looping):
            with pytest.raises(DeliveryError) as err:
                await client.send_text(4242, "Привет")
            assert not err.value.permanent and err.value.reason.startswith("Telegram unreachable")
            assert secret not in err.value.reason and err.value.__cause__ is None
    finally:
        await gone.close()
        await looping.close()
    assert "TooManyRedirects" in err.value.reason  # the looping one's, scrubbed


async def test_a_download_past_the_limit_stops_even_when_getfile_gives_no_size(bot_api: FakeBotApi) -> None:
    bot_api.add_file("big", b"x" * 300_000)
    bot_api.script(
        "getFile", web.json_response({"ok": True, "result": {"file_id": "big", "file_path": "big"}})
    )
    client = TelegramClient(bot_api.token, bot_api.url)
    try:
        with pytest.raises(FileTooLarge):
            await client.download("big", max_bytes=100_000)
        assert await client.download("big", max_bytes=300_000) == b"x" * 300_000
    finally:
        await client.close()
