"""Fixtures of the web tests: a started hub with two API channel accounts of different teams, a test
client on the real app, and helpers to make agents and hand in messages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

import inbox.agents
from hub import auth
from hub.runtime import Hub
from hub.web import create_app
from inbox.agents import create_agent

Client = TestClient[web.Request, web.Application]

# Two generic API accounts whose conversations go to different teams.
ACCOUNTS: dict[str, dict[str, Any]] = {
    "shop": {"kind": "api", "token": "t0ken", "team": "Sales"},
    "depot": {"kind": "api", "token": "d3pot", "team": "Wholesale"},
}
TOKENS = {"shop": "t0ken", "depot": "d3pot"}
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, with the cheapest parameters: the default ones cost a quarter second per hash."""
    monkeypatch.setattr(inbox.agents, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Hub]], tmp_path: Path) -> Hub:
    return await hub_factory(accounts=ACCOUNTS, attachments_dir=str(tmp_path / "attachments"))


@pytest.fixture
async def client(hub: Hub) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(hub, manage_hub=False))) as client:
        yield client


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    email: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_agent(
    hub: Hub, email: str, *, role: str = "agent", teams: tuple[str, ...] = (), language: str | None = None
) -> Person:
    """An agent (password PASSWORD) with an API token."""
    async with hub.sessionmaker() as session:
        agent = await create_agent(
            session,
            email=email,
            name=email.split("@")[0].title(),
            password=PASSWORD,
            role=role,
            team_names=teams,
        )
        agent.language = language
        token, _ = await auth.create_api_token(session, agent.id, "tests")
        await session.commit()
        return Person(agent.id, agent.email, role, token)


@pytest.fixture
async def admin(hub: Hub) -> Person:
    return await make_agent(hub, "admin@okno.example.com", role="admin")


@pytest.fixture
async def sales(hub: Hub) -> Person:
    """An agent of the team the "shop" account routes to."""
    return await make_agent(hub, "anna@okno.example.com", teams=("Sales",))


@pytest.fixture
async def wholesale(hub: Hub) -> Person:
    """An agent of the team the "depot" account routes to."""
    return await make_agent(hub, "boris@okno.example.com", teams=("Wholesale",))


async def hand_in(
    client: Client,
    external_id: str,
    *,
    account: str = "shop",
    email: str | None = "client@example.com",
    phone: str | None = None,
    name: str | None = "Ирина",
    text: str = "Здравствуйте, где мой заказ?",
) -> dict[str, Any]:
    """One message through the generic API channel route; returns the ingest result."""
    sender = {k: v for k, v in {"email": email, "phone": phone, "name": name}.items() if v is not None}
    response = await client.post(
        f"/api/v1/channels/{account}/messages",
        json={"external_id": external_id, "sender": sender, "text": text},
        headers={"Authorization": f"Bearer {TOKENS[account]}"},
    )
    assert response.status in (200, 201), await response.text()
    result: dict[str, Any] = await response.json()
    return result


async def login(client: Client, email: str, password: str = PASSWORD) -> str:
    """Log in through the JSON route (the client keeps the cookie); returns the CSRF token."""
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status == 200, await response.text()
    body = await response.json()
    token: str = body["csrf_token"]
    return token


async def error_of(response: Any, status: int) -> dict[str, Any]:
    """The error object of a JSON error answer with `status`."""
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field"}
    error: dict[str, Any] = body["error"]
    return error
