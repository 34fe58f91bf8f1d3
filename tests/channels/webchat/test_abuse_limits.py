"""Web-chat abuse limits (issue 9, item 7): new visitors and offline posts per IP, typing hints
throttled, visitor tokens that expire and renew — all on stepped clocks, never sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub.runtime import Hub
from hub.web import create_app
from hub.web.webchat.limits import LIMITS, WebchatLimits
from tests.channels.webchat.conftest import ACCOUNTS, SITE, Visitor
from tests.clock import SteppedClock
from tests.hub.web.conftest import Client, make_agent
from tests.waiting import next_frame, resolved

DAY = 86400.0


@pytest.fixture
def clock() -> SteppedClock[float]:
    return SteppedClock(1000.0)


@pytest.fixture
def wall() -> SteppedClock[float]:
    return SteppedClock(1_800_000_000.0)


@pytest.fixture
async def hub(hub_factory: Callable[..., Any]) -> Hub:
    site = {**SITE, "new_visitors_per_minute": 3, "visitor_token_days": 90}
    hub: Hub = await hub_factory(accounts={**ACCOUNTS, "site": site})
    return hub


@pytest.fixture
async def client(hub: Hub, clock: SteppedClock[float], wall: SteppedClock[float]) -> AsyncIterator[Client]:
    app = create_app(hub, manage_hub=False)
    app[LIMITS] = WebchatLimits(clock=clock, wall=wall)  # the app's limits, on the test's clocks
    async with TestClient(TestServer(app)) as client:
        yield client


async def hello(client: Client, token: str | None = None) -> dict[str, Any]:
    async with client.ws_connect("/webchat/site/ws") as ws:
        return await Visitor(ws).hello(token)


async def test_new_visitors_from_one_address_are_limited_and_known_ones_are_not(
    client: Client, clock: SteppedClock[float]
) -> None:
    tokens = [(await hello(client))["token"] for _ in range(3)]
    async with client.ws_connect("/webchat/site/ws") as ws:
        await ws.send_json({"type": "hello", "token": None})
        refused = await next_frame(ws)
        closed = await resolved(ws.receive(), "a frame or the close")
    assert refused["type"] == "error" and refused["code"] == "rate_limited"
    assert refused["retry_after"] == pytest.approx(20.0)
    assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert (await hello(client, tokens[0]))["token"] == tokens[0]  # a returning visitor is not new
    clock.now += 20
    assert (await hello(client))["type"] == "hello"


async def test_offline_posts_from_one_address_are_limited_with_retry_after(
    client: Client, clock: SteppedClock[float]
) -> None:
    def post(n: int) -> Any:
        return client.post(
            "/webchat/site/offline", json={"id": f"o{n}", "email": "a@b.ru", "text": "Перезвоните"}
        )

    assert [(await post(n)).status for n in range(5)] == [201] * 5  # 5 a minute by default
    refused = await post(5)
    assert refused.status == 429 and refused.headers["Retry-After"] == "12"
    assert (await refused.json())["error"]["code"] == "rate_limited"
    clock.now += 12
    assert (await post(6)).status == 201


async def test_a_flood_of_typing_frames_reaches_agents_as_one_hint(client: Client, hub: Hub) -> None:
    agent = await make_agent(hub, "anna@okno.example.com", role="admin")
    async with (
        client.ws_connect("/webchat/site/ws") as ws,
        client.ws_connect("/api/v1/ws", headers=agent.headers) as agent_ws,
    ):
        await next_frame(agent_ws)
        v = Visitor(ws)
        await v.hello()
        await v.say("c1", "Здравствуйте")
        for _ in range(20):
            await v.send(type="typing", on=True)
            await v.send(type="typing", on=False)
        await v.say("c2", "Ещё вопрос")  # frames are handled in order: this comes after every typing one
        typing = []
        async with asyncio.timeout(60):
            while True:
                frame = await agent_ws.receive_json()
                if frame["type"] == "conversation.typing":
                    typing.append(frame["data"]["on"])
                elif frame["type"] == "message.created" and frame["data"].get("preview") == "Ещё вопрос":
                    break
    assert typing == [True, False]  # the clock did not move: one "on" and the "off" that ends it


async def test_a_visitor_token_expires_and_is_renewed_on_use_past_half_its_life(
    client: Client, wall: SteppedClock[float]
) -> None:
    async with client.ws_connect("/webchat/site/ws") as ws:
        v = Visitor(ws)
        token = (await v.hello())["token"]
        await v.say("c1", "Где мой заказ?")
    wall.now += 30 * DAY
    assert (await hello(client, token))["token"] == token  # young: kept as it is
    wall.now += 16 * DAY
    renewed = await hello(client, token)
    assert renewed["token"] != token and renewed["token"].split(".")[0] == token.split(".")[0]
    assert [m["text"] for m in renewed["messages"]] == ["Где мой заказ?"]
    wall.now += 50 * DAY  # 96 days after the first token, 50 after the renewed one
    expired = await hello(client, token)
    assert expired["messages"] == [] and expired["token"].split(".")[0] != token.split(".")[0]
    kept = await hello(client, renewed["token"])
    assert [m["text"] for m in kept["messages"]] == ["Где мой заказ?"]
