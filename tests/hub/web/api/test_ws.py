"""The agent WebSocket: events of visible conversations only, auth, heartbeat answers, presence."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiohttp import WSCloseCode, WSMsgType

from hub.runtime import Hub
from hub.web.api import ws as ws_module
from hub.web.api.ws import close_all
from tests.hub.web.conftest import Client, Person, hand_in, login, make_agent
from tests.waiting import eventually, next_frame, resolved, within


async def frames_until(
    ws: aiohttp.ClientWebSocketResponse, kind: str, conversation_id: int
) -> list[dict[str, Any]]:
    """Every frame received up to and including the first `kind` event of `conversation_id`."""
    seen = []
    async with within(f"a {kind} frame of conversation {conversation_id}"):
        while True:
            frame = await next_frame(ws)
            seen.append(frame)
            if frame["type"] == kind and frame["conversation_id"] == conversation_id:
                return seen


async def test_message_created_reaches_the_agent_who_may_see_it_and_no_one_else(
    client: Client, sales: Person
) -> None:
    async with client.ws_connect("/api/v1/ws", headers=sales.headers) as ws:
        hello = await next_frame(ws)
        assert hello == {
            "type": "hello",
            "conversation_id": None,
            "data": {"agent_id": sales.id, "role": "agent"},
        }
        hidden = await hand_in(client, "d-1", account="depot", text="секрет оптовиков")
        shown = await hand_in(client, "s-1", account="shop", text="Где мой заказ?")
        frames = await frames_until(ws, "message.created", shown["conversation_id"])
    assert all(set(f) == {"type", "conversation_id", "data"} for f in frames)
    assert hidden["conversation_id"] not in [f["conversation_id"] for f in frames]
    assert "секрет" not in str(frames)
    created = frames[-1]
    assert created["data"]["message_id"] == shown["message_id"]
    assert created["data"]["preview"] == "Где мой заказ?"


async def test_agent_of_the_other_team_gets_the_other_event(
    client: Client, sales: Person, wholesale: Person
) -> None:
    async with client.ws_connect("/api/v1/ws", headers=wholesale.headers) as ws:
        await next_frame(ws)
        shop = await hand_in(client, "s-1", account="shop")
        depot = await hand_in(client, "d-1", account="depot")
        frames = await frames_until(ws, "message.created", depot["conversation_id"])
    assert shop["conversation_id"] not in [f["conversation_id"] for f in frames]


async def test_reply_event_reaches_a_cookie_session_socket(client: Client, sales: Person) -> None:
    conv = (await hand_in(client, "s-1"))["conversation_id"]
    await login(client, sales.email)
    async with client.ws_connect("/api/v1/ws", origin=str(client.make_url("/")).rstrip("/")) as ws:
        await next_frame(ws)
        await client.post(
            f"/api/v1/conversations/{conv}/replies", json={"text": "Уже едет"}, headers=sales.headers
        )
        frames = await frames_until(ws, "message.created", conv)
    assert frames[-1]["data"]["direction"] == "out"


async def test_query_token_works_for_api_clients(client: Client, sales: Person) -> None:
    async with client.ws_connect(f"/api/v1/ws?token={sales.token}") as ws:
        assert (await next_frame(ws))["type"] == "hello"


@pytest.mark.parametrize(
    ("how", "status"),
    [("bad-token", 401), ("cross-site-cookie", 403)],
)
async def test_refused_sockets(client: Client, sales: Person, how: str, status: int) -> None:
    kwargs: dict[str, Any] = {}
    if how == "bad-token":
        kwargs["headers"] = {"Authorization": "Bearer okno_wrong"}
    if how == "cross-site-cookie":
        await login(client, sales.email)
        kwargs["origin"] = "https://evil.example.com"
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect("/api/v1/ws", **kwargs)
    assert caught.value.status == status


async def test_the_token_may_come_in_the_first_frame(client: Client, sales: Person) -> None:
    async with client.ws_connect("/api/v1/ws") as ws:
        await ws.send_json({"type": "auth", "token": sales.token})
        hello = await next_frame(ws)
    assert hello["type"] == "hello" and hello["data"]["agent_id"] == sales.id


@pytest.mark.parametrize(
    "first",
    [{"type": "auth", "token": "okno_wrong"}, {"type": "ping"}, {"type": "auth"}, "not json"],
    ids=["wrong-token", "not-auth", "no-token", "not-json"],
)
async def test_a_socket_without_credentials_is_closed_4401_when_its_first_frame_does_not_authenticate(
    client: Client, sales: Person, first: Any
) -> None:
    async with client.ws_connect("/api/v1/ws") as ws:
        if isinstance(first, str):
            await ws.send_str(first)
        else:
            await ws.send_json(first)
        message = await resolved(ws.receive(), "a frame or the close")
    assert message.type == WSMsgType.CLOSE and ws.close_code == 4401


async def test_a_socket_without_credentials_is_closed_4401_after_the_auth_deadline(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_module, "AUTH_DEADLINE_SECONDS", 0.01)
    async with client.ws_connect("/api/v1/ws") as ws:
        message = await resolved(ws.receive(), "a frame or the close")
    assert message.type == WSMsgType.CLOSE and ws.close_code == 4401


async def test_a_plain_get_without_credentials_is_a_401(client: Client) -> None:
    response = await client.get("/api/v1/ws")
    assert response.status == 401


async def test_ping_is_answered(client: Client, sales: Person) -> None:
    async with client.ws_connect("/api/v1/ws", headers=sales.headers) as ws:
        await next_frame(ws)
        await ws.send_json({"type": "ping"})
        while (frame := await next_frame(ws))["type"] != "pong":
            assert frame["type"] == "agent.presence"


async def test_presence_and_clean_unsubscribe(client: Client, hub: Hub, sales: Person, admin: Person) -> None:
    async def presence() -> str:
        agents = await (await client.get("/api/v1/agents", headers=admin.headers)).json()
        return str(next(a["presence"] for a in agents["items"] if a["id"] == sales.id))

    baseline = hub.bus.subscriber_count
    async with client.ws_connect("/api/v1/ws", headers=admin.headers) as watcher:
        await next_frame(watcher)
        async with client.ws_connect("/api/v1/ws", headers=sales.headers) as first:
            await next_frame(first)
            async with client.ws_connect("/api/v1/ws", headers=sales.headers) as second:
                await next_frame(second)
                assert await presence() == "online"
            assert await presence() == "online"  # one tab still open
        await eventually(lambda: _is(presence, "offline"), "the agent shown offline")
        statuses: list[str] = []
        while len(statuses) < 2:
            frame = await next_frame(watcher)
            if frame["type"] == "agent.presence" and frame["data"]["agent_id"] == sales.id:
                statuses.append(frame["data"]["status"])
        assert statuses == ["online", "offline"]
    await eventually(lambda: _is_count(hub, baseline), "every socket unsubscribed from the bus")


async def _is(get: Any, value: str) -> bool:
    return bool(await get() == value)


async def _is_count(hub: Hub, value: int) -> bool:
    return hub.bus.subscriber_count == value


async def test_shutdown_closes_sockets_with_going_away(client: Client, sales: Person) -> None:
    async with client.ws_connect("/api/v1/ws", headers=sales.headers) as ws:
        await next_frame(ws)
        await close_all(client.app)  # what the app's on_shutdown does
        while (message := await resolved(ws.receive(), "the close frame")).type == WSMsgType.TEXT:
            pass
        assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
        assert ws.close_code == WSCloseCode.GOING_AWAY


async def test_plain_get_is_a_400_json_error(client: Client, sales: Person) -> None:
    response = await client.get("/api/v1/ws", headers=sales.headers)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_request"


async def test_reply_that_takes_a_conversation_tells_teammates(
    client: Client, hub: Hub, sales: Person
) -> None:
    """A teammate's list drops the dialog that a reply gave to Anna: the socket says it was assigned."""
    conv = (await hand_in(client, "s-1"))["conversation_id"]
    teammate = await make_agent(hub, "vera@okno.example.com", teams=("Sales",))
    async with client.ws_connect("/api/v1/ws", headers=teammate.headers) as ws:
        await next_frame(ws)
        response = await client.post(
            f"/api/v1/conversations/{conv}/replies", json={"text": "Уже едет"}, headers=sales.headers
        )
        assert response.status == 201, await response.text()
        frames = await frames_until(ws, "conversation.assigned", conv)
    assert frames[-1]["data"]["assignee_id"] == sales.id


async def test_agents_get_a_web_chat_visitors_message_but_never_the_visitor_sockets_own_events(
    hub_factory: Any,
) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from hub.web import create_app
    from tests.channels.webchat.conftest import ACCOUNTS, Visitor

    hub = await hub_factory(accounts=ACCOUNTS)
    admin = await make_agent(hub, "admin@okno.example.com", role="admin")
    async with (
        TestClient(TestServer(create_app(hub, manage_hub=False))) as client,
        client.ws_connect("/api/v1/ws", headers=admin.headers) as agent,
        client.ws_connect("/webchat/site/ws") as widget,
    ):
        await next_frame(agent)
        visitor = Visitor(widget)
        token = (await visitor.hello())["token"]
        await visitor.say("c1", "Здравствуйте")  # a new conversation: the visitor's sockets are told
        ack = await visitor.say("c2", "Где мой заказ?")
        seen = []
        async with within("the visitor's message on the agent socket"):
            while not any(f["data"].get("message_id") == ack["message"]["id"] for f in seen):
                seen.append(await next_frame(agent))
    assert not [f for f in seen if f["type"].startswith("webchat.")]
    assert token.split(".")[0] not in json.dumps(seen)  # the visitor's id stays in the hub
