"""Fixtures for the VK tests: a running fake VK API and a VK account row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import AccountContext, MemoryCursor
from inbox.models import ChannelAccount
from tests.channels.messenger_harness import account_context, account_row, serving
from tests.channels.vk.fake_vk_api import FakeVkApi


@pytest.fixture
async def vk_api() -> AsyncIterator[FakeVkApi]:
    async with serving(FakeVkApi()) as api:
        yield api


@pytest.fixture
async def vk_account(session: AsyncSession) -> ChannelAccount:
    return await account_row(session, "vk", "vk")


def context(
    api: FakeVkApi,
    account_id: int = 1,
    *,
    cursor: MemoryCursor | None = None,
    secret: str | None = None,
    **options: Any,
) -> AccountContext:
    options = {"api_base": f"{api.url}/method", "group_id": api.group_id, **options}
    return account_context(api, "vk", "vk", account_id, cursor=cursor, secret=secret, options=options)
