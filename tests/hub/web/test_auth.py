"""Session cookie with CSRF, bearer tokens, roles."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from hub.runtime import Hub
from hub.web import create_app
from inbox.models import ApiToken, WebSession
from tests.hub.web.conftest import ACCOUNTS, PASSWORD, Client, Person, error_of, login, make_agent


async def test_login_sets_an_httponly_lax_session_cookie_and_stores_only_its_hash(
    client: Client, hub: Hub, sales: Person
) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"email": "ANNA@okno.example.com", "password": PASSWORD}
    )
    assert response.status == 200
    body = await response.json()
    assert body["agent"]["email"] == sales.email
    assert body["auth"] == "session"
    cookie = response.cookies["okno_session"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]  # plain http in tests; see the https test below
    async with hub.sessionmaker() as session:
        row = await session.scalar(select(WebSession))
    assert row is not None
    assert row.token_hash != cookie.value and len(row.token_hash) == 64
    assert row.csrf_token == body["csrf_token"]


async def test_session_cookie_is_secure_when_the_hub_is_served_over_https(
    hub_factory: Callable[..., Awaitable[Hub]],
) -> None:
    hub = await hub_factory(accounts=ACCOUNTS, public_url="https://okno.example.com")
    await make_agent(hub, "sec@okno.example.com")
    async with TestClient(TestServer(create_app(hub, manage_hub=False))) as client:
        response = await client.post(
            "/api/v1/auth/login", json={"email": "sec@okno.example.com", "password": PASSWORD}
        )
        assert response.status == 200
        assert response.cookies["okno_session"]["secure"] is True


async def test_wrong_password_and_unknown_email_get_the_same_401(client: Client, sales: Person) -> None:
    wrong = await error_of(
        await client.post("/api/v1/auth/login", json={"email": sales.email, "password": "nope-nope"}), 401
    )
    unknown = await error_of(
        await client.post(
            "/api/v1/auth/login", json={"email": "who@okno.example.com", "password": "nope-nope"}
        ),
        401,
    )
    assert wrong == unknown
    assert wrong["code"] == "invalid_credentials"
    assert "okno_session" not in client.session.cookie_jar.filter_cookies(client.make_url("/"))


async def test_cookie_session_changes_need_the_csrf_header(client: Client, sales: Person) -> None:
    csrf = await login(client, sales.email)
    assert (await client.get("/api/v1/me")).status == 200  # reading needs no CSRF token

    error = await error_of(await client.post("/api/v1/auth/tokens", json={"name": "cli"}), 403)
    assert error["code"] == "csrf_failed"
    assert error["field"] == "X-CSRF-Token"
    wrong = await client.post(
        "/api/v1/auth/tokens", json={"name": "cli"}, headers={"X-CSRF-Token": csrf + "x"}
    )
    assert (await error_of(wrong, 403))["code"] == "csrf_failed"

    response = await client.post("/api/v1/auth/tokens", json={"name": "cli"}, headers={"X-CSRF-Token": csrf})
    assert response.status == 201


async def test_me_tells_the_page_its_csrf_token(client: Client, sales: Person) -> None:
    csrf = await login(client, sales.email)
    body = await (await client.get("/api/v1/me")).json()
    assert body["csrf_token"] == csrf
    assert body["auth"] == "session"
    assert body["agent"]["teams"][0]["name"] == "Sales"


async def test_logout_ends_the_session(client: Client, hub: Hub, sales: Person) -> None:
    csrf = await login(client, sales.email)
    assert (await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})).status == 204
    assert (await client.get("/api/v1/me")).status == 401
    async with hub.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(WebSession)) == 0


async def test_logout_without_csrf_token_is_refused(client: Client, sales: Person) -> None:
    await login(client, sales.email)
    await error_of(await client.post("/api/v1/auth/logout"), 403)
    assert (await client.get("/api/v1/me")).status == 200


async def test_api_token_is_shown_once_stored_hashed_and_works_without_csrf(
    client: Client, hub: Hub, sales: Person
) -> None:
    csrf = await login(client, sales.email)
    created = await (
        await client.post("/api/v1/auth/tokens", json={"name": "crm sync"}, headers={"X-CSRF-Token": csrf})
    ).json()
    token = created["token"]
    assert token.startswith("okno_")
    client.session.cookie_jar.clear()  # from now on only the bearer token

    headers = {"Authorization": f"Bearer {token}"}
    me = await (await client.get("/api/v1/me", headers=headers)).json()
    assert me["agent"]["id"] == sales.id
    assert me["auth"] == "token" and me["csrf_token"] is None
    listed = await (await client.get("/api/v1/auth/tokens", headers=headers)).json()
    assert {t["name"] for t in listed["items"]} == {"tests", "crm sync"}
    assert all("token" not in t for t in listed["items"])
    # an unsafe method with a bearer token needs no CSRF header
    assert (await client.post("/api/v1/auth/tokens", json={}, headers=headers)).status == 201
    async with hub.sessionmaker() as session:
        hashes = set(await session.scalars(select(ApiToken.token_hash)))
    assert token not in hashes


async def test_revoked_or_unknown_bearer_token_is_401_even_with_a_valid_cookie(
    client: Client, sales: Person
) -> None:
    await login(client, sales.email)
    tokens = await (await client.get("/api/v1/auth/tokens", headers=sales.headers)).json()
    token_id = tokens["items"][0]["id"]
    assert (await client.delete(f"/api/v1/auth/tokens/{token_id}", headers=sales.headers)).status == 204

    revoked = await error_of(await client.get("/api/v1/me", headers=sales.headers), 401)
    assert revoked["code"] == "unauthorized"
    await error_of(await client.get("/api/v1/me", headers={"Authorization": "Basic YTpi"}), 401)
    response = await client.get("/api/v1/me", headers={"Authorization": "Bearer okno_nonsense"})
    await error_of(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_deactivated_agent_loses_tokens_and_sessions(
    client: Client, admin: Person, sales: Person
) -> None:
    response = await client.patch(
        f"/api/v1/agents/{sales.id}", json={"is_active": False}, headers=admin.headers
    )
    assert response.status == 200
    await error_of(await client.get("/api/v1/me", headers=sales.headers), 401)
    await error_of(
        await client.post("/api/v1/auth/login", json={"email": sales.email, "password": PASSWORD}), 401
    )


async def test_roles_guard_admin_and_supervisor_actions(client: Client, hub: Hub, sales: Person) -> None:
    agent_try = await client.post("/api/v1/teams", json={"name": "Support"}, headers=sales.headers)
    assert (await error_of(agent_try, 403))["message"] == "only admin may do this"
    merge_try = await client.post("/api/v1/contacts/1/merge", json={"merge_id": 2}, headers=sales.headers)
    assert (await error_of(merge_try, 403))["message"] == "only supervisor or admin may do this"


async def test_no_credentials_is_401(client: Client) -> None:
    error = await error_of(await client.get("/api/v1/conversations"), 401)
    assert error["code"] == "unauthorized"
