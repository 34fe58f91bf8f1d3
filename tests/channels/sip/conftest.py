"""Webhook plumbing for the SIP tests: a small aiohttp app routing ``POST /hooks/{account}[/{tail}]`` to the
running connector's ``handle_webhook``, as the hub will."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from channels.sip.connector import SipConnector
from hub.runtime import Hub

HookClient = Callable[[Hub], Awaitable[TestClient[web.Request, web.Application]]]


async def running_connector(hub: Hub, name: str) -> SipConnector:
    account_id = hub.accounts[name].context.id
    for _ in range(400):
        connector = hub.supervisor.connectors.get(account_id)
        if isinstance(connector, SipConnector) and connector._sink is not None:
            return connector
        await asyncio.sleep(0.01)
    raise AssertionError(f"account {name} did not start: {hub.supervisor.states[account_id].to_dict()}")


@pytest.fixture
async def hooks() -> AsyncIterator[HookClient]:
    clients: list[TestClient[web.Request, web.Application]] = []

    async def build(hub: Hub) -> TestClient[web.Request, web.Application]:
        async def route(request: web.Request) -> web.StreamResponse:
            connector = await running_connector(hub, request.match_info["account"])
            return await connector.handle_webhook(request, request.match_info.get("tail", ""))

        app = web.Application()
        app.router.add_post("/hooks/{account}", route)
        app.router.add_post("/hooks/{account}/{tail:.*}", route)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.close()
