"""Fixtures shared by the channel tests: the hub's webhook route in front of a hub a test starts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.channels.messenger_harness import Hooks


@pytest.fixture
async def hooks() -> AsyncIterator[tuple[Hooks, TestClient[Any, Any]]]:
    """``POST /hooks/{account}[/{tail}]`` served locally; set ``routes.hub`` to the hub it should reach."""
    routes = Hooks()
    async with TestClient(TestServer(routes.app())) as client:
        yield routes, client
