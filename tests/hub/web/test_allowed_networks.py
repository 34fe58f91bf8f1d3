"""`[security] allowed_networks`: a role works only from its networks — log-in, pages, API and the agent
socket — while the public doors (web-chat widget, webhooks, the API channel's inbound route) stay open.
The test client connects from 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from hub import auth
from hub.runtime import Hub
from hub.web import create_app
from hub.web.auth import SESSION_COOKIE
from inbox.models import AuditLog, WebSession
from tests.hub.web.conftest import ACCOUNTS, PASSWORD, Client, Person, error_of, hand_in, make_agent
from tests.hub.web.ui.test_pages import form_token
from tests.waiting import next_frame, resolved

ELSEWHERE = ["10.0.0.0/8", "2001:db8::/32"]  # not where the test client is
HERE = ["127.0.0.0/8", "::1/128"]


async def serve(hub: Hub) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(hub, manage_hub=False))) as client:
        yield client


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Hub]], tmp_path: Path) -> Hub:
    """Admins only from ELSEWHERE; agents from HERE; supervisors from anywhere."""
    networks = {"admin": ELSEWHERE, "agent": HERE, "supervisor": []}
    return await hub_factory(
        accounts={**ACCOUNTS, "site": {"kind": "webchat", "hours": "always"}},
        attachments_dir=str(tmp_path / "attachments"),
        security={"allowed_networks": networks},
    )


@pytest.fixture
async def client(hub: Hub) -> AsyncIterator[Client]:
    async for client in serve(hub):
        yield client


async def test_api_requests_of_a_role_from_outside_its_networks_are_refused(
    client: Client, hub: Hub, admin: Person, sales: Person
) -> None:
    error = await error_of(await client.get("/api/v1/me", headers=admin.headers), 403)
    assert error["code"] == "network_not_allowed"
    assert (await client.get("/api/v1/me", headers=sales.headers)).status == 200
    boss = await make_agent(hub, "vera@okno.example.com", role="supervisor")
    assert (await client.get("/api/v1/me", headers=boss.headers)).status == 200


async def test_log_in_from_outside_the_roles_networks_is_refused_and_audited(
    client: Client, hub: Hub, admin: Person
) -> None:
    response = await client.post("/api/v1/auth/login", json={"email": admin.email, "password": PASSWORD})
    assert (await error_of(response, 403))["code"] == "network_not_allowed"
    token = form_token(await (await client.get("/login?lang=en")).text())
    response = await client.post(
        "/login?lang=en",
        data={"email": admin.email, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 403
    assert "may not log in from this network" in await response.text()
    assert SESSION_COOKIE not in {cookie.key for cookie in client.session.cookie_jar}
    async with hub.sessionmaker() as session:  # no session was started, and both refusals are audited
        assert await session.scalar(select(func.count(WebSession.id))) == 0
        rows = list(await session.scalars(select(AuditLog).where(AuditLog.action == "login")))
    assert [(r.detail["result"], r.detail["via"], r.entity_id) for r in rows] == [
        ("network_not_allowed", "api", admin.id),
        ("network_not_allowed", "form", admin.id),
    ]


async def test_a_session_opened_elsewhere_is_refused_here_on_pages_and_api(
    client: Client, hub: Hub, admin: Person
) -> None:
    async with hub.sessionmaker() as session:
        cookie, _ = await auth.start_session(session, admin.id)
        await session.commit()
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: cookie})
    assert (await error_of(await client.get("/api/v1/conversations"), 403))["code"] == "network_not_allowed"
    page = await client.get("/inbox", allow_redirects=False)
    assert page.status == 403


async def test_the_agent_socket_of_a_role_from_outside_its_networks_is_refused(
    client: Client, admin: Person, sales: Person
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect("/api/v1/ws", headers=admin.headers)
    assert caught.value.status == 403
    async with client.ws_connect("/api/v1/ws") as ws:
        await ws.send_json({"type": "auth", "token": admin.token})
        message = await resolved(ws.receive(), "a frame or the close")
    assert message.type == aiohttp.WSMsgType.CLOSE and message.data == 4403
    async with client.ws_connect("/api/v1/ws", headers=sales.headers) as ws:
        assert (await next_frame(ws))["type"] == "hello"


async def test_the_public_doors_are_never_restricted(
    hub_factory: Callable[..., Awaitable[Hub]], tmp_path: Path
) -> None:
    everyone_elsewhere = {role: ELSEWHERE for role in ("agent", "supervisor", "admin")}
    hub = await hub_factory(
        accounts={**ACCOUNTS, "site": {"kind": "webchat", "hours": "always"}},
        attachments_dir=str(tmp_path / "attachments"),
        security={"allowed_networks": everyone_elsewhere},
    )
    async for client in serve(hub):
        assert (await hand_in(client, "m-1"))["message_id"]
        assert (await client.get("/widget.js")).status == 200
        assert (await client.get("/webchat/site/config")).status == 200
        async with client.ws_connect("/webchat/site/ws") as ws:
            await ws.send_json({"type": "hello", "token": None})
            assert (await next_frame(ws))["type"] == "hello"
        hook = await client.post("/hooks/shop", json={})
        assert hook.status != 403 and hook.status < 500
