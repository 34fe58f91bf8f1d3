"""Two hub processes on one database and one Redis: a reply sent by process B reaches the visitor's
socket held by process A, and the visitor's second tab on B sees what they wrote on A."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from hub.runtime import Hub
from hub.web import create_app
from tests.channels.webchat.conftest import ACCOUNTS, Visitor
from tests.hub.web.conftest import make_agent

REDIS_URL = os.environ.get("OKNO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def test_a_reply_sent_by_another_process_reaches_the_visitor(
    hub_factory: Callable[..., Awaitable[Hub]], redis_url: str
) -> None:
    a = await hub_factory(accounts=ACCOUNTS, bus_url=redis_url)
    b = await hub_factory(accounts=ACCOUNTS, bus_url=redis_url)
    await a.outbox.stop()  # only process B delivers replies
    async with (
        TestClient(TestServer(create_app(a, manage_hub=False))) as on_a,
        TestClient(TestServer(create_app(b, manage_hub=False))) as on_b,
        on_a.ws_connect("/webchat/site/ws") as ws_a,
        on_b.ws_connect("/webchat/site/ws") as ws_b,
    ):
        tab_a, tab_b = Visitor(ws_a), Visitor(ws_b)
        token = (await tab_a.hello())["token"]
        await tab_b.hello(token)
        ack = await tab_a.say("c1", "Привет из вкладки A")
        echoed = await tab_b.until("message", message__cid="c1")
        assert echoed["message"]["id"] == ack["message"]["id"]
        agent = await make_agent(b, "anna@okno.example.com", role="admin")
        conversations = await (await on_b.get("/api/v1/conversations", headers=agent.headers)).json()
        conv = conversations["items"][0]["id"]
        sent = await on_b.post(
            f"/api/v1/conversations/{conv}/replies", json={"text": "Ответ из B"}, headers=agent.headers
        )
        reply: dict[str, Any] = await sent.json()
        frame = await tab_a.until("message", message__id=reply["id"])
        assert frame["message"]["text"] == "Ответ из B" and frame["message"]["agent"] == "Anna"
        await tab_b.until("message", message__id=reply["id"])
    await asyncio.sleep(0)
