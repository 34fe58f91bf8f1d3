"""A hub with a web-chat account served by the real app, and a visitor speaking the widget's protocol."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub.runtime import Hub
from hub.web import create_app
from hub.web.webchat.limits import LIMITS, WebchatLimits
from tests.hub.web.conftest import Client, _fast_argon2
from tests.waiting import within

__all__ = ["_fast_argon2"]

SITE = {
    "kind": "webchat",
    "title": "Поддержка магазина",
    "greeting": "Здравствуйте!",
    "color": "#1f7a5c",
    "language": "ru",
    "hours": "always",
    "require_agent_online": False,
    "messages_per_minute": 8,
}
ACCOUNTS: dict[str, dict[str, Any]] = {"site": SITE, "shop": {"kind": "api", "token": "t0ken"}}


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Hub]]) -> Hub:
    return await hub_factory(accounts=ACCOUNTS)


def still() -> float:
    """A clock that never moves: a rate limit refills only when a test steps its own clock."""
    return 1000.0


@pytest.fixture
async def client(hub: Hub) -> AsyncIterator[Client]:
    app = create_app(hub, manage_hub=False)
    app[LIMITS] = WebchatLimits(clock=still)  # a slow machine must not refill the visitor's allowance
    async with TestClient(TestServer(app)) as client:
        yield client


class Visitor:
    """One widget socket: sends frames, and reads them until the one wanted."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, **frame: Any) -> None:
        await self.ws.send_str(json.dumps(frame, ensure_ascii=False))

    async def until(self, kind: str, **match: Any) -> dict[str, Any]:
        async with within(f"a {kind} frame matching {match}"):
            while True:
                frame: dict[str, Any] = await self.ws.receive_json()
                self.seen.append(frame)
                if frame["type"] == kind and all(_get(frame, k) == v for k, v in match.items()):
                    return frame

    async def hello(self, token: str | None = None, **extra: Any) -> dict[str, Any]:
        await self.send(type="hello", token=token, **extra)
        return await self.until("hello")

    async def say(self, cid: str, text: str) -> dict[str, Any]:
        await self.send(type="message", id=cid, text=text)
        return await self.until("ack", id=cid)


def _get(frame: dict[str, Any], dotted: str) -> Any:
    value: Any = frame
    for part in dotted.split("__"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@pytest.fixture
def visitor(client: Client) -> Callable[..., Any]:
    """`async with visitor() as v:` — a new widget socket on the "site" account."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def connect(account: str = "site", **kwargs: Any) -> AsyncIterator[Visitor]:
        async with client.ws_connect(f"/webchat/{account}/ws", **kwargs) as ws:
            yield Visitor(ws)

    return connect
