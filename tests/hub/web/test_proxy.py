"""`[proxy] trusted`: behind a trusted reverse proxy the hub uses the client's address that proxy forwarded
(X-Forwarded-For, read from the right); from any other peer the header changes nothing. The test client
connects from 127.0.0.1."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hub.runtime import Hub
from hub.web import create_app
from hub.web.proxy import client_address
from inbox.models import AuditLog
from tests.hub.web.conftest import ACCOUNTS, PASSWORD, make_agent

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))


def test_the_client_is_the_rightmost_address_that_is_not_a_trusted_proxy() -> None:
    assert client_address("127.0.0.1", ["203.0.113.7"], LOOPBACK) == "203.0.113.7"
    # What the client wrote itself lies left of what the proxy saw: never believed.
    assert client_address("127.0.0.1", ["10.9.9.9, 203.0.113.7"], LOOPBACK) == "203.0.113.7"
    assert client_address("127.0.0.1", ["10.9.9.9", "203.0.113.7, 127.0.0.1"], LOOPBACK) == "203.0.113.7"
    assert client_address("127.0.0.1", ["not-an-ip, 203.0.113.7"], LOOPBACK) == "203.0.113.7"
    assert client_address("::1", ["2001:db8::5"], LOOPBACK) == "2001:db8::5"


def test_a_peer_that_is_not_a_trusted_proxy_keeps_its_own_address() -> None:
    assert client_address("192.0.2.1", ["203.0.113.7"], LOOPBACK) is None
    assert client_address("127.0.0.1", ["203.0.113.7"], ()) is None
    assert client_address("127.0.0.1", [], LOOPBACK) is None
    assert client_address("127.0.0.1", ["203.0.113.7, garbage"], LOOPBACK) is None


async def _login_ip(hub: Hub, headers: dict[str, str]) -> str:
    admin = await make_agent(hub, "admin@okno.example.com", role="admin")
    async with TestClient(TestServer(create_app(hub, manage_hub=False))) as client:
        login = {"email": admin.email, "password": PASSWORD}
        response = await client.post("/api/v1/auth/login", json=login, headers=headers)
        assert response.status == 200, await response.text()
        metrics = await client.get("/metrics", headers=headers)
        assert metrics.status == 403  # a forwarded request never gets the loopback door
    async with hub.sessionmaker() as session:
        row = await session.scalar(select(AuditLog).where(AuditLog.action == "login"))
    assert row is not None and row.detail is not None
    return str(row.detail["ip"])


async def test_log_ins_through_a_trusted_proxy_are_audited_with_the_clients_address(
    hub_factory: Callable[..., Awaitable[Hub]], tmp_path: Path
) -> None:
    hub = await hub_factory(
        accounts=ACCOUNTS, attachments_dir=str(tmp_path / "files"), proxy={"trusted": ["127.0.0.1/32"]}
    )
    assert await _login_ip(hub, {"X-Forwarded-For": "198.51.100.4, 203.0.113.7"}) == "203.0.113.7"


async def test_without_a_trusted_proxy_a_forwarded_address_is_ignored(
    hub_factory: Callable[..., Awaitable[Hub]], tmp_path: Path
) -> None:
    hub = await hub_factory(accounts=ACCOUNTS, attachments_dir=str(tmp_path / "files"))
    assert await _login_ip(hub, {"X-Forwarded-For": "203.0.113.7"}) == "127.0.0.1"
