"""POST /api/v1/channels/{account}/test: an admin's connection test of one account runs the connector's own
check against its real peer (here the AMI replay server), answers {ok, detail} worded by what happened and
without secrets, and is written to the audit log; agents get 403, an unknown account 404."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hub.runtime import Hub
from hub.web import create_app
from inbox.models import AuditLog
from tests.channels.sip.servers import AmiReplay
from tests.hub.web.api.test_openapi import Checked
from tests.hub.web.conftest import Client, error_of, make_agent

SECRET = "ami-secret-for-the-test"


@pytest.fixture
async def replay() -> AsyncIterator[AmiReplay]:
    server = AmiReplay([], secret=SECRET)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Hub]], replay: AmiReplay) -> Hub:
    ami = {"kind": "sip", "source": "ami", "host": "127.0.0.1", "port": replay.port, "username": "okno"}
    accounts: dict[str, dict[str, Any]] = {
        "pbx": {**ami, "secret": SECRET},
        "pbx-old": {**ami, "secret": "an-old-ami-secret"},
        "shop": {"kind": "api", "token": "t0ken", "callback_url": "https://shop.example/okno?key=k3y-k3y"},
    }
    return await hub_factory(accounts=accounts)


@pytest.fixture
async def client(hub: Hub) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(hub, manage_hub=False))) as client:
        yield client


async def test_an_admin_tests_an_account_against_its_peer_and_the_test_is_audited(
    client: Client, hub: Hub, replay: AmiReplay
) -> None:
    admin = await make_agent(hub, "admin@okno.example.com", role="admin")
    call = Checked(client)
    good = await call("POST", "/api/v1/channels/pbx/test", headers=admin.headers, status=200)
    assert good == {
        "account": "pbx",
        "kind": "sip",
        "ok": True,
        "detail": f"AMI 127.0.0.1:{replay.port}: logged in as 'okno' (Asterisk Call Manager/5.0.1)",
    }
    refused = await call("POST", "/api/v1/channels/pbx-old/test", headers=admin.headers, status=200)
    assert not refused["ok"] and "AMI login refused: Authentication failed" in refused["detail"]
    note = await call("POST", "/api/v1/channels/shop/test", headers=admin.headers, status=200)
    assert note["ok"] and "replies are posted to shop.example" in note["detail"]
    assert "k3y" not in str(note) and "an-old-ami-secret" not in str(refused)

    async with hub.sessionmaker() as session:
        rows = list(await session.scalars(select(AuditLog).where(AuditLog.action == "channel.test")))
    assert [(r.actor_agent_id, r.entity, r.entity_id, r.detail["account"], r.detail["ok"]) for r in rows] == [
        (admin.id, "channel", hub.accounts["pbx"].context.id, "pbx", True),
        (admin.id, "channel", hub.accounts["pbx-old"].context.id, "pbx-old", False),
        (admin.id, "channel", hub.accounts["shop"].context.id, "shop", True),
    ]
    assert rows[1].detail["detail"] == refused["detail"]


async def test_agents_may_not_test_and_an_unknown_account_is_404(client: Client, hub: Hub) -> None:
    admin = await make_agent(hub, "admin@okno.example.com", role="admin")
    agent = await make_agent(hub, "anna@okno.example.com", role="supervisor")
    forbidden = await client.post("/api/v1/channels/pbx/test", headers=agent.headers)
    assert (await error_of(forbidden, 403))["code"] == "forbidden"
    missing = await client.post("/api/v1/channels/nope/test", headers=admin.headers)
    assert "nope" in (await error_of(missing, 404))["message"]
    async with hub.sessionmaker() as session:
        assert list(await session.scalars(select(AuditLog).where(AuditLog.action == "channel.test"))) == []
