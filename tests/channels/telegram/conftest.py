"""Fixtures for the Telegram tests: a running fake Bot API and a Telegram account row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import AccountContext, MemoryCursor
from inbox.models import ChannelAccount
from tests.channels.telegram.fake_bot_api import FakeBotApi, running


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with running(FakeBotApi()) as api:
        yield api


@pytest.fixture
async def tg_account(session: AsyncSession) -> ChannelAccount:
    account = ChannelAccount(name="tg", kind="telegram")
    session.add(account)
    await session.commit()
    return account


def context(
    api: FakeBotApi,
    account_id: int = 1,
    *,
    cursor: MemoryCursor | None = None,
    secret: str | None = None,
    **options: Any,
) -> AccountContext:
    secrets = {"token": api.token}
    if secret is not None:
        secrets["secret"] = secret
    return AccountContext(
        id=account_id,
        name="tg",
        kind="telegram",
        options={"api_base": api.url, **options},
        secrets=secrets,
        cursor=cursor or MemoryCursor(),
    )
