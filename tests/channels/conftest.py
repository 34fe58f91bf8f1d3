"""Fixtures shared by the channel tests: the messengers' fake APIs and account rows, and the hub's webhook
route in front of a hub a test starts (see :mod:`tests.channels.messenger_harness`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import ChannelAccount
from tests.channels.messenger_harness import Hooks, account_row, serving
from tests.channels.telegram.fake_bot_api import FakeBotApi
from tests.channels.vk.fake_vk_api import FakeVkApi


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with serving(FakeBotApi()) as api:
        yield api


@pytest.fixture
async def vk_api() -> AsyncIterator[FakeVkApi]:
    async with serving(FakeVkApi()) as api:
        yield api


@pytest.fixture
async def tg_account(session: AsyncSession) -> ChannelAccount:
    return await account_row(session, "tg", "telegram")


@pytest.fixture
async def vk_account(session: AsyncSession) -> ChannelAccount:
    return await account_row(session, "vk", "vk")


@pytest.fixture
async def hooks() -> AsyncIterator[tuple[Hooks, TestClient[Any, Any]]]:
    """``POST /hooks/{account}[/{tail}]`` served locally; set ``routes.hub`` to the hub it should reach."""
    routes = Hooks()
    async with TestClient(TestServer(routes.app())) as client:
        yield routes, client
