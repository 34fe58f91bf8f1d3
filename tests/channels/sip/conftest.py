"""Webhook plumbing for the SIP tests: a small aiohttp app routing ``POST /hooks/{account}[/{tail}]`` to the
running connector's ``handle_webhook``, as the hub will."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from channels.sip.connector import SipConnector
from hub.runtime import Hub
from tests.channels.ready import ready_connector

HookClient = Callable[[Hub], Awaitable[TestClient[web.Request, web.Application]]]


async def running_connector(hub: Hub, name: str) -> SipConnector:
    """The account's SIP connector, once it takes pushes (its ``ready`` is set)."""
    connector = await ready_connector(hub, name)
    assert isinstance(connector, SipConnector)
    return connector


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
