"""The audit log for admins: admin actions are recorded, GET /api/v1/audit (admins only, filtered,
validated against the OpenAPI document) and the /admin/audit page in Russian and English."""

from __future__ import annotations

from typing import Any

from hub.runtime import Hub
from tests.hub.web.api.test_openapi import Checked
from tests.hub.web.conftest import PASSWORD, Client, Person, error_of, login, make_agent


async def _entries(client: Client, admin: Person, query: str = "") -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/audit{query}", headers=admin.headers)
    assert response.status == 200, await response.text()
    items: list[dict[str, Any]] = (await response.json())["items"]
    return items


async def test_admin_actions_are_audited_with_who_and_from_where_and_never_a_secret(
    client: Client, admin: Person
) -> None:
    ua = {**admin.headers, "User-Agent": "okno-tests/1"}
    team = await (await client.post("/api/v1/teams", json={"name": "Support"}, headers=ua)).json()
    new = {
        "email": "new@okno.example.com",
        "name": "New",
        "password": "long enough",
        "team_ids": [team["id"]],
    }
    agent = await (await client.post("/api/v1/agents", json=new, headers=ua)).json()
    url = f"/api/v1/agents/{agent['id']}"
    assert (await client.patch(url, json={"password": "another password"}, headers=ua)).status == 200
    assert (await client.patch(url, json={"role": "supervisor", "team_ids": []}, headers=ua)).status == 200
    assert (await client.patch(url, json={"is_active": False}, headers=ua)).status == 200
    token = await (await client.post("/api/v1/auth/tokens", json={"name": "cli"}, headers=ua)).json()
    assert (await client.delete(f"/api/v1/auth/tokens/{token['id']}", headers=ua)).status == 204

    items = list(reversed(await _entries(client, admin)))
    assert [(e["action"], e["entity_id"]) for e in items] == [
        ("team.create", team["id"]),
        ("agent.create", agent["id"]),
        ("agent.password_reset", agent["id"]),
        ("agent.update", agent["id"]),
        ("agent.deactivate", agent["id"]),
        ("token.create", token["id"]),
        ("token.revoke", token["id"]),
    ]
    assert items[3]["detail"]["changes"] == {"role": "supervisor", "team_ids": []}
    for entry in items:
        assert entry["actor_agent_id"] == admin.id
        assert entry["detail"]["ip"] == "127.0.0.1" and entry["detail"]["user_agent"] == "okno-tests/1"
    text = str(items)
    assert "another password" not in text and "long enough" not in text and token["token"] not in text


async def test_the_audit_api_is_for_admins_only(client: Client, admin: Person, sales: Person) -> None:
    assert (await error_of(await client.get("/api/v1/audit", headers=sales.headers), 403))[
        "code"
    ] == "forbidden"
    assert (await client.get("/api/v1/audit")).status == 401


async def test_the_audit_api_filters_by_action_and_agent_and_names_a_bad_parameter(
    client: Client, admin: Person, sales: Person
) -> None:
    await client.post("/api/v1/auth/login", json={"email": sales.email, "password": "wrong-password"})
    await client.post("/api/v1/auth/login", json={"email": admin.email, "password": PASSWORD})
    await client.post("/api/v1/teams", json={"name": "Support"}, headers=admin.headers)
    logins = await _entries(client, admin, "?action=login")
    assert [e["detail"]["result"] for e in logins] == ["success", "wrong_password"]
    about_sales = await _entries(client, admin, f"?agent={sales.id}")
    assert [(e["action"], e["detail"]["result"]) for e in about_sales] == [("login", "wrong_password")]
    assert len(await _entries(client, admin, "?limit=1&offset=1")) == 1
    assert await _entries(client, admin, "?since=2999-01-01T00:00:00Z") == []
    error = await error_of(await client.get("/api/v1/audit?since=yesterday", headers=admin.headers), 400)
    assert error["field"] == "since"


async def test_a_real_audit_answer_conforms_to_the_document(client: Client, admin: Person) -> None:
    call = Checked(client)
    await client.post("/api/v1/auth/login", json={"email": "who@okno.example.com", "password": "nope-nope"})
    await client.post("/api/v1/teams", json={"name": "Support"}, headers=admin.headers)
    body = await call("GET", "/api/v1/audit?action=login&limit=10", headers=admin.headers, status=200)
    assert body["items"][0]["detail"]["result"] == "unknown_account"
    body = await call("GET", "/api/v1/audit", headers=admin.headers, status=200)
    assert {e["action"] for e in body["items"]} == {"login", "team.create"}


async def test_the_audit_page_shows_admins_a_table_in_their_language_and_is_linked_from_the_inbox(
    client: Client, hub: Hub, admin: Person
) -> None:
    sales = await make_agent(hub, "anna@okno.example.com")
    await client.post(
        "/api/v1/auth/login",
        json={"email": sales.email, "password": "wrong-password"},
        headers={"User-Agent": "Mozilla/5.0 <Evil>"},
    )
    await login(client, admin.email)
    inbox = await (await client.get("/inbox")).text()
    assert 'href="/admin/audit"' in inbox
    page = await client.get("/admin/audit?lang=en")
    assert page.status == 200
    html = await page.text()
    for header in ("Date", "Agent", "Action", "IP address", "Device", "Result"):
        assert f'<th scope="col">{header}</th>' in html
    assert "Wrong password" in html and "Sign-in" in html and "127.0.0.1" in html
    assert "Mozilla/5.0 &lt;Evil&gt;" in html and "<Evil>" not in html
    russian = await (await client.get("/admin/audit?lang=ru&action=login")).text()
    assert "Журнал действий" in russian and "Неверный пароль" in russian


async def test_the_audit_page_is_refused_to_agents_and_absent_from_their_header(
    client: Client, sales: Person
) -> None:
    assert (await client.get("/admin/audit", allow_redirects=False)).status == 302
    await login(client, sales.email)
    assert 'href="/admin/audit"' not in await (await client.get("/inbox")).text()
    assert (await client.get("/admin/audit")).status == 403
