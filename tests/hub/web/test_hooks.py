"""The hub's webhook route: POST /hooks/{account}[/{tail}] reaches the running connector, and only it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from channels.telegram.connector import SECRET_HEADER
from hub.runtime import Hub
from hub.web import create_app
from inbox.models import Message
from tests.channels.messenger_harness import serving
from tests.channels.ready import ready_connector
from tests.channels.telegram.fake_bot_api import FakeBotApi
from tests.channels.telegram.updates import msg
from tests.hub.web.conftest import error_of

SECRET = "hook-secret"


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with serving(FakeBotApi()) as api:
        yield api


@pytest.fixture
async def hooked(
    hub_factory: Callable[..., Awaitable[Hub]], bot_api: FakeBotApi
) -> AsyncIterator[tuple[Hub, TestClient[Any, Any]]]:
    hub = await hub_factory(
        accounts={
            "tg": {
                "kind": "telegram",
                "token": bot_api.token,
                "secret": SECRET,
                "mode": "webhook",
                "webhook_url": "https://hub.example/hooks/tg",
                "api_base": bot_api.url,
            },
            "shop": {"kind": "api", "token": "t0ken"},
            "broken": {"kind": "api", "token_env": "OKNO_TEST_UNSET_VARIABLE"},
        }
    )
    await ready_connector(hub, "tg")  # its webhook is registered: pushes are taken
    async with TestClient(TestServer(create_app(hub, manage_hub=False))) as client:
        yield hub, client


async def test_a_webhook_reaches_the_connector_and_is_stored(
    hooked: tuple[Hub, TestClient[Any, Any]],
) -> None:
    hub, client = hooked
    update = {"update_id": 7, "message": msg("Через вебхук хаба", message_id=1)}
    response = await client.post("/hooks/tg", json=update, headers={SECRET_HEADER: SECRET})
    assert response.status == 200
    async with hub.sessionmaker() as session:
        texts = list(await session.scalars(select(Message.body_text)))
    assert texts == ["Через вебхук хаба"]


async def test_a_forged_webhook_is_refused_and_nothing_is_stored(
    hooked: tuple[Hub, TestClient[Any, Any]],
) -> None:
    hub, client = hooked
    update = {"update_id": 8, "message": msg("подделка", message_id=2)}
    response = await client.post("/hooks/tg", json=update, headers={SECRET_HEADER: "wrong"})
    assert response.status == 401
    async with hub.sessionmaker() as session:
        assert list(await session.scalars(select(Message))) == []


async def test_unknown_and_unhookable_accounts_answer_clearly(
    hooked: tuple[Hub, TestClient[Any, Any]],
) -> None:
    _, client = hooked
    error = await error_of(await client.post("/hooks/nope", json={}), 404)
    assert "no channel account 'nope'" in error["message"]
    error = await error_of(await client.post("/hooks/shop", json={}), 404)
    assert "takes no webhooks" in error["message"]
    response = await client.post("/hooks/broken/x", json={})
    error = await error_of(response, 503)
    assert "OKNO_TEST_UNSET_VARIABLE" in error["message"]
    assert response.headers["Retry-After"] == "60"
