"""Fixtures for the VK tests: a running fake VK API and a VK account row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import AccountContext, MemoryCursor
from inbox.models import ChannelAccount
from tests.channels.vk.fake_vk_api import FakeVkApi, running


@pytest.fixture
async def vk_api() -> AsyncIterator[FakeVkApi]:
    async with running(FakeVkApi()) as api:
        yield api


@pytest.fixture
async def vk_account(session: AsyncSession) -> ChannelAccount:
    account = ChannelAccount(name="vk", kind="vk")
    session.add(account)
    await session.commit()
    return account


def context(
    api: FakeVkApi,
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
        name="vk",
        kind="vk",
        options={"api_base": f"{api.url}/method", "group_id": api.group_id, **options},
        secrets=secrets,
        cursor=cursor or MemoryCursor(),
    )
