"""The admin's "test connection" of a Telegram account on the fake Bot API: getMe names the bot, a refused
token and an unreachable server are told apart, and the token never shows."""

from __future__ import annotations

from dataclasses import replace

from channels.base import AccountContext, check_connection
from channels.telegram import TelegramConnector
from tests.channels.email.servers import free_port
from tests.channels.telegram.conftest import context
from tests.channels.telegram.fake_bot_api import BOT_ID, FakeBotApi


async def checked(account: AccountContext) -> tuple[bool, str]:
    connector = TelegramConnector(account)
    try:
        found = await check_connection(connector)
    finally:
        await connector.close()
    return found.ok, found.detail


async def test_getme_names_the_bot_and_how_it_receives(bot_api: FakeBotApi) -> None:
    ok, detail = await checked(context(bot_api))
    assert ok, detail
    assert (
        detail == f"Telegram answered getMe: @okno_test_bot (id {BOT_ID}), receiving by polling (getUpdates)"
    )
    assert [c.method for c in bot_api.calls] == ["getMe"]  # looked, never received or changed the webhook


async def test_a_refused_token_and_an_unreachable_server_are_told_apart_without_the_token(
    bot_api: FakeBotApi,
) -> None:
    wrong = replace(context(bot_api), secrets={"token": "123456:WRONG-token_xyz"})
    ok, detail = await checked(wrong)
    assert not ok and "Telegram refused the bot token" in detail and "WRONG-token" not in detail
    gone = context(bot_api, api_base=f"http://127.0.0.1:{free_port()}")
    ok, detail = await checked(gone)
    assert not ok and detail.startswith("Telegram unreachable") and bot_api.token not in detail
    malformed = replace(context(bot_api), secrets={"token": "not-a-token"})
    ok, detail = await checked(malformed)
    assert not ok and "malformed" in detail
