"""Fixtures for the Telegram tests: a running fake Bot API and a Telegram account row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import AccountContext, MemoryCursor
from inbox.models import ChannelAccount
from tests.channels.messenger_harness import account_context, account_row, serving
from tests.channels.telegram.fake_bot_api import FakeBotApi


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with serving(FakeBotApi()) as api:
        yield api


@pytest.fixture
async def tg_account(session: AsyncSession) -> ChannelAccount:
    return await account_row(session, "tg", "telegram")


def context(
    api: FakeBotApi,
    account_id: int = 1,
    *,
    cursor: MemoryCursor | None = None,
    secret: str | None = None,
    **options: Any,
) -> AccountContext:
    options = {"api_base": api.url, **options}
    return account_context(api, "tg", "telegram", account_id, cursor=cursor, secret=secret, options=options)
