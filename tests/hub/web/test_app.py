"""The app as `okno run` serves it: it starts and stops its hub, and sets protective headers."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.runtime import Hub
from hub.settings import load
from hub.web import create_app
from hub.web.access_log import RUNNER_OPTIONS
from hub.web.api import ws as agent_socket
from hub.web.webchat import socket as webchat_socket
from tests.hub.web.conftest import ACCOUNTS, TOKENS, Client


async def test_the_app_starts_and_stops_the_hub_it_manages(engine: AsyncEngine, database_url: str) -> None:
    hub = Hub(load(database_url=database_url, accounts=ACCOUNTS))
    async with TestClient(TestServer(create_app(hub))) as client:
        assert set(hub.accounts) == {"shop", "depot"}  # started: accounts synced
        body = {"external_id": "1", "sender": {"email": "a@example.com"}, "text": "hi"}
        response = await client.post(
            "/api/v1/channels/shop/messages", json=body, headers={"Authorization": f"Bearer {TOKENS['shop']}"}
        )
        assert response.status == 201  # the ingest queue runs
    assert hub.supervisor.connectors == {}  # stopped: connectors closed


async def test_protective_headers(client: Client) -> None:
    api = await client.get("/api/v1/me")
    assert api.headers["X-Content-Type-Options"] == "nosniff"
    assert api.headers["Cache-Control"] == "no-store"
    page = await client.get("/login")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"


def test_socket_heartbeats_are_not_rounded_up_to_whole_seconds_by_the_runner() -> None:
    """aiohttp rounds timers longer than the runner's timeout_ceil_threshold up to a whole second: the
    heartbeats of every socket whose turn fell in one second would fire in one turn of the event loop."""
    heartbeats = (webchat_socket.HEARTBEAT_SECONDS, agent_socket.HEARTBEAT_SECONDS)
    assert RUNNER_OPTIONS["timeout_ceil_threshold"] > max(heartbeats)
