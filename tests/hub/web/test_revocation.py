"""Sessions end with their right: logout, token revocation, deactivation and password changes close the
agent sockets opened with the ended credential (code 4401), and a password change ends the other
sessions and every API token — across hub processes too."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from hub import auth
from hub.runtime import Hub
from hub.web import create_app
from tests.hub.web.conftest import PASSWORD, Client, Person, hand_in, login, make_agent
from tests.waiting import next_frame, resolved

NEW_PASSWORD = "a brand new passphrase"
REDIS_URL = os.environ.get("OKNO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

Socket = aiohttp.ClientWebSocketResponse


def origin(client: Client) -> str:
    return str(client.make_url("/")).rstrip("/")


async def opened(socket: Socket) -> Socket:
    """`socket` once its hello came."""
    hello = await next_frame(socket)
    assert hello["type"] == "hello", hello
    return socket


async def close_code(socket: Socket) -> int | None:
    """Read until the server closes `socket`; its close code."""
    while (message := await resolved(socket.receive(), "a frame or the close")).type == WSMsgType.TEXT:
        pass
    assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED), message
    # the code of the server's close frame (the client's answer may find the transport already closed)
    return int(message.data) if message.type == WSMsgType.CLOSE else socket.close_code


async def still_open(socket: Socket) -> bool:
    """The socket answers a ping (every frame up to the pong is an ordinary event)."""
    await socket.send_json({"type": "ping"})
    while (message := await resolved(socket.receive(), "a frame or the close")).type == WSMsgType.TEXT:
        if message.json()["type"] == "pong":
            return True
    return False


async def token_id(client: Client, person: Person) -> int:
    tokens = await (await client.get("/api/v1/auth/tokens", headers=person.headers)).json()
    return int(tokens["items"][0]["id"])


async def other_browser(client: Client, email: str) -> aiohttp.ClientSession:
    """A second browser (its own cookie jar) logged in as `email` on the same hub."""
    browser = aiohttp.ClientSession(
        base_url=str(client.make_url("/")), cookie_jar=aiohttp.CookieJar(unsafe=True)
    )
    response = await browser.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status == 200, await response.text()
    return browser


@pytest.mark.parametrize("how", ["api", "form"])
async def test_logout_closes_the_sockets_of_that_session_with_4401(
    client: Client, sales: Person, how: str
) -> None:
    csrf = await login(client, sales.email)
    async with (
        client.ws_connect("/api/v1/ws", origin=origin(client)) as by_cookie,
        client.ws_connect("/api/v1/ws", headers=sales.headers) as by_token,
    ):
        await opened(by_cookie)
        await opened(by_token)
        if how == "api":
            response = await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
            assert response.status == 204
        else:
            response = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
            assert response.status == 303
        assert await close_code(by_cookie) == 4401
        assert await still_open(by_token)


async def test_revoking_a_token_closes_its_sockets_with_4401_and_no_other(
    client: Client, hub: Hub, sales: Person
) -> None:
    other = await make_agent(hub, "vera@okno.example.com", teams=("Sales",))
    revoked = await token_id(client, sales)
    async with (
        client.ws_connect("/api/v1/ws", headers=sales.headers) as first,
        client.ws_connect("/api/v1/ws", headers=sales.headers) as second,
        client.ws_connect("/api/v1/ws", headers=other.headers) as bystander,
    ):
        for socket in (first, second, bystander):
            await opened(socket)
        response = await client.delete(f"/api/v1/auth/tokens/{revoked}", headers=sales.headers)
        assert response.status == 204
        assert await close_code(first) == 4401
        assert await close_code(second) == 4401
        assert await still_open(bystander)


async def test_auth_revoked_events_never_reach_an_agents_socket(
    client: Client, sales: Person, admin: Person
) -> None:
    async with client.ws_connect("/api/v1/ws", headers=admin.headers) as watcher:
        await opened(watcher)
        revoked = await token_id(client, sales)
        await client.delete(f"/api/v1/auth/tokens/{revoked}", headers=sales.headers)
        shown = await hand_in(client, "s-1")  # published after the revocation, on the same bus
        seen = []
        while True:
            frame = await next_frame(watcher)
            seen.append(frame["type"])
            if frame["type"] == "message.created" and frame["conversation_id"] == shown["conversation_id"]:
                break
    assert not [kind for kind in seen if kind.startswith("auth.")]


async def test_changing_my_password_ends_my_other_sessions_and_every_token_but_not_this_session(
    client: Client, sales: Person
) -> None:
    csrf = await login(client, sales.email)
    browser = await other_browser(client, sales.email)
    try:
        async with (
            client.ws_connect("/api/v1/ws", origin=origin(client)) as mine,
            browser.ws_connect("/api/v1/ws", origin=origin(client)) as theirs,
            client.ws_connect("/api/v1/ws", headers=sales.headers) as by_token,
        ):
            for socket in (mine, theirs, by_token):
                await opened(socket)
            response = await client.post(
                "/api/v1/me/password",
                json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                headers={"X-CSRF-Token": csrf},
            )
            assert response.status == 204, await response.text()
            assert await close_code(theirs) == 4401
            assert await close_code(by_token) == 4401
            assert await still_open(mine)
        assert (await browser.get("/api/v1/me")).status == 401
    finally:
        await browser.close()
    assert (await client.get("/api/v1/me", headers=sales.headers)).status == 401
    assert (await client.get("/api/v1/me")).status == 200  # this browser's session stays
    old = await client.post("/api/v1/auth/login", json={"email": sales.email, "password": PASSWORD})
    assert old.status == 401
    await login(client, sales.email, NEW_PASSWORD)


async def test_a_wrong_current_password_changes_nothing(client: Client, sales: Person) -> None:
    response = await client.post(
        "/api/v1/me/password",
        json={"current_password": "not it", "new_password": NEW_PASSWORD},
        headers=sales.headers,
    )
    assert response.status == 403
    assert (await response.json())["error"]["field"] == "current_password"
    assert (await client.get("/api/v1/me", headers=sales.headers)).status == 200
    await login(client, sales.email)


async def test_a_too_short_new_password_is_a_400_naming_the_field(client: Client, sales: Person) -> None:
    response = await client.post(
        "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "x"}, headers=sales.headers
    )
    assert response.status == 400
    assert (await response.json())["error"]["field"] == "new_password"


async def test_an_admin_password_reset_ends_every_session_and_token_of_the_agent(
    client: Client, sales: Person, admin: Person
) -> None:
    browser = await other_browser(client, sales.email)
    try:
        async with (
            browser.ws_connect("/api/v1/ws", origin=origin(client)) as by_cookie,
            client.ws_connect("/api/v1/ws", headers=sales.headers) as by_token,
            client.ws_connect("/api/v1/ws", headers=admin.headers) as admins,
        ):
            for socket in (by_cookie, by_token, admins):
                await opened(socket)
            response = await client.patch(
                f"/api/v1/agents/{sales.id}", json={"password": NEW_PASSWORD}, headers=admin.headers
            )
            assert response.status == 200, await response.text()
            assert await close_code(by_cookie) == 4401
            assert await close_code(by_token) == 4401
            assert await still_open(admins)
        assert (await browser.get("/api/v1/me")).status == 401
    finally:
        await browser.close()
    assert (await client.get("/api/v1/me", headers=sales.headers)).status == 401
    assert (await client.get("/api/v1/me", headers=admin.headers)).status == 200


async def test_deactivating_an_agent_closes_their_sockets_with_4401(
    client: Client, sales: Person, admin: Person
) -> None:
    async with client.ws_connect("/api/v1/ws", headers=sales.headers) as socket:
        await opened(socket)
        response = await client.patch(
            f"/api/v1/agents/{sales.id}", json={"is_active": False}, headers=admin.headers
        )
        assert response.status == 200
        assert await close_code(socket) == 4401


async def test_a_token_revoked_on_one_process_closes_its_socket_on_another(
    hub_factory: Callable[..., Awaitable[Hub]], redis_url: str
) -> None:
    a = await hub_factory(bus_url=redis_url)
    b = await hub_factory(bus_url=redis_url)
    sales = await make_agent(a, "anna@okno.example.com")
    async with (
        TestClient(TestServer(create_app(a, manage_hub=False))) as on_a,
        TestClient(TestServer(create_app(b, manage_hub=False))) as on_b,
        on_a.ws_connect("/api/v1/ws", headers=sales.headers) as socket,
    ):
        await opened(socket)
        revoked: Any = await token_id(on_b, sales)
        assert (await on_b.delete(f"/api/v1/auth/tokens/{revoked}", headers=sales.headers)).status == 204
        assert await close_code(socket) == 4401


async def test_a_credential_is_alive_until_it_is_ended(client: Client, hub: Hub, sales: Person) -> None:
    """What a socket that authenticated while a revocation came in checks again before it serves."""
    revoked = await token_id(client, sales)
    async with hub.sessionmaker() as session:
        _, web_session = await auth.start_session(session, sales.id)
        await session.commit()
        assert await auth.credential_alive(session, sales.id, session_id=None, token_id=revoked)
        assert await auth.credential_alive(session, sales.id, session_id=web_session.id, token_id=None)
        await auth.end_credentials(session, sales.id)
        await session.commit()
        assert not await auth.credential_alive(session, sales.id, session_id=None, token_id=revoked)
        assert not await auth.credential_alive(session, sales.id, session_id=web_session.id, token_id=None)
