"""Wrong input is a 4xx JSON error naming the problem, on every route; never a 500 for bad input."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hub.runtime import Hub
from hub.web import app as web_app
from hub.web import create_app
from tests.hub.web.conftest import ACCOUNTS, TOKENS, Client, Person, error_of, hand_in


def route_table() -> list[tuple[str, str]]:
    """(method, canonical path) of every route the app serves, e.g. ("GET", "/api/v1/contacts/{id}")."""
    app = web.Application()
    for module in web_app.ROUTE_MODULES:
        app.add_routes(module.routes)
    return [
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    ]


API_ROUTES = [(m, p) for m, p in route_table() if p.startswith("/api/v1/")]
WITH_BODY = [(m, p) for m, p in API_ROUTES if m in ("POST", "PATCH", "PUT")]
PUBLIC = {("GET", "/api/v1/openapi.json"), ("POST", "/api/v1/auth/login")}
CHANNEL_ROUTE = ("POST", "/api/v1/channels/{account}/messages")

MALFORMED: list[tuple[bytes, str]] = [
    (b'{"text": "hi"', "body is not valid JSON: Expecting ',' delimiter at line 1 column 14"),
    (b"", "body is empty: expected a JSON object"),
    (b"[1, 2]", "body must be a JSON object, not an array"),
    (b'{"text": NaN}', "body is not valid JSON: NaN is not allowed in JSON"),
    (b'{"text": "\xff"}', "body is not valid UTF-8: invalid start byte at byte 10"),
]


def test_the_route_table_has_every_post_and_patch_endpoint() -> None:
    # + POST /api/v1/me/password; + 4 of /api/v1/templates; + availability, take, rules of routing;
    # + the quarantine's retry; + a channel account's connection test; + a team's routing settings;
    # + a failed reply's retry; + a team's name and members; + marking a conversation read and my time zone
    assert len(WITH_BODY) == 32
    assert CHANNEL_ROUTE in WITH_BODY


async def _ids(client: Client, admin: Person) -> dict[str, str]:
    """Real objects for the path parameters."""
    result = await hand_in(client, "m-1")
    task = await (
        await client.post("/api/v1/tasks", json={"title": "call back"}, headers=admin.headers)
    ).json()
    return {
        "contact": str(result["contact_id"]),
        "conversation": str(result["conversation_id"]),
        "task": str(task["id"]),
        "message": str(result["message_id"]),
    }


def _fill(path: str, ids: dict[str, str], admin: Person) -> str:
    if path.startswith("/api/v1/contacts/duplicates/"):
        return path.replace("{id}", "1")
    for prefix, key in (
        ("/api/v1/contacts/", "contact"),
        ("/api/v1/conversations/", "conversation"),
        ("/api/v1/tasks/", "task"),
        ("/api/v1/messages/", "message"),
    ):
        if path.startswith(prefix):
            return path.replace("{id}", ids[key])
    return path.replace("{id}", str(admin.id)).replace("{account}", "shop").replace("{name}", "volume")


@pytest.mark.parametrize(("method", "path"), WITH_BODY, ids=[f"{m} {p}" for m, p in WITH_BODY])
async def test_malformed_json_to_every_post_and_patch_endpoint_is_a_400_naming_the_problem(
    client: Client, admin: Person, method: str, path: str
) -> None:
    ids = await _ids(client, admin)
    url = _fill(path, ids, admin)
    headers = {"Content-Type": "application/json"}
    headers |= (
        {"Authorization": f"Bearer {TOKENS['shop']}"} if (method, path) == CHANNEL_ROUTE else admin.headers
    )
    for body, message in MALFORMED:
        if not body and path.endswith(("/logout", "/dismiss", "/take", "/test", "{id}/retry", "/read")):
            continue  # actions without input take an empty body
        error = await error_of(await client.request(method, url, data=body, headers=headers), 400)
        assert error["code"] == "invalid_json", (body, error)
        assert error["message"] == message


@pytest.mark.parametrize(("method", "path"), API_ROUTES, ids=[f"{m} {p}" for m, p in API_ROUTES])
async def test_every_api_route_but_the_public_ones_needs_credentials(
    client: Client, method: str, path: str
) -> None:
    if (method, path) in PUBLIC:
        return
    url = path.replace("{id}", "1").replace("{account}", "shop").replace("{name}", "volume")
    url = url.replace("{identity_id}", "1")
    response = await client.request(method, url, json={"text": "hi"})
    assert (await error_of(response, 401))["code"] == "unauthorized"


async def test_a_form_body_is_refused_with_415(client: Client, admin: Person) -> None:
    response = await client.post("/api/v1/teams", data={"name": "Support"}, headers=admin.headers)
    error = await error_of(response, 415)
    assert "application/json" in error["message"]


async def test_unknown_field_is_named(client: Client, admin: Person) -> None:
    response = await client.post(
        "/api/v1/teams", json={"name": "Support", "colour": "red"}, headers=admin.headers
    )
    error = await error_of(response, 400)
    assert error == {"code": "invalid_request", "message": "colour: unknown field", "field": "colour"}


async def test_a_wrong_type_names_the_field(client: Client, admin: Person) -> None:
    result = await hand_in(client, "m-1")
    response = await client.post(
        f"/api/v1/conversations/{result['conversation_id']}/assign",
        json={"assignee_id": "boss"},
        headers=admin.headers,
    )
    error = await error_of(response, 400)
    assert error["field"] == "assignee_id"
    assert error["message"].startswith("assignee_id: ")


async def test_a_wrong_query_parameter_names_it(client: Client, admin: Person) -> None:
    for query, field in (
        ("limit=many", "limit"),
        ("status=lost", "status"),
        ("assignee=someone", "assignee"),
    ):
        error = await error_of(await client.get(f"/api/v1/conversations?{query}", headers=admin.headers), 400)
        assert error["field"] == field


async def test_domain_refusal_is_422_naming_the_field(client: Client, admin: Person) -> None:
    result = await hand_in(client, "m-1")
    url = f"/api/v1/conversations/{result['conversation_id']}"
    error = await error_of(
        await client.post(f"{url}/assign", json={"team_id": 999}, headers=admin.headers), 422
    )
    assert error["field"] == "team_id"
    error = await error_of(
        await client.post(f"{url}/status", json={"status": "snoozed"}, headers=admin.headers), 422
    )
    assert error["field"] == "snoozed_until"
    naive = {"status": "snoozed", "snoozed_until": "2030-01-01T10:00:00"}
    error = await error_of(await client.post(f"{url}/status", json=naive, headers=admin.headers), 400)
    assert error["field"] == "snoozed_until"


async def test_unknown_path_and_method_are_json_errors(client: Client, admin: Person) -> None:
    error = await error_of(await client.get("/api/v1/nothing-here", headers=admin.headers), 404)
    assert error["code"] == "not_found"
    response = await client.put("/api/v1/teams", json={}, headers=admin.headers)
    error = await error_of(response, 405)
    assert error["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


async def test_ids_out_of_range_are_404_not_500(client: Client, admin: Person) -> None:
    huge = "9" * 30
    paths = (
        f"/api/v1/conversations/{huge}",
        f"/api/v1/contacts/{'7' * 5000}",
        f"/api/v1/contacts/{2**63}",
        "/api/v1/contacts/0",
    )
    for path in paths:
        assert (await error_of(await client.get(path, headers=admin.headers), 404))["code"] == "not_found"


async def test_a_body_over_the_limit_is_413(hub_factory: Callable[..., Awaitable[Hub]]) -> None:
    hub = await hub_factory(accounts=ACCOUNTS, ingest={"max_body_bytes": 2048})
    async with TestClient(TestServer(create_app(hub, manage_hub=False))) as client:
        body: dict[str, Any] = {
            "external_id": "big",
            "sender": {"email": "a@example.com"},
            "text": "x" * 4096,
        }
        response = await client.post(
            "/api/v1/channels/shop/messages", json=body, headers={"Authorization": f"Bearer {TOKENS['shop']}"}
        )
        error = await error_of(response, 413)
        assert error["code"] == "payload_too_large"
        assert "2048 bytes" in error["message"]


async def test_an_unexpected_exception_is_a_logged_500_without_traceback(
    client: Client, admin: Person, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("hub.web.api.contacts.contacts.search_contacts", broken)
    response = await client.get("/api/v1/contacts", headers=admin.headers)
    error = await error_of(response, 500)
    assert error["code"] == "internal_error"
    assert "secret" not in error["message"] and "Traceback" not in await response.text()
    assert "secret internals" in caplog.text


async def test_text_no_database_can_store_is_a_400_not_a_500(client: Client, admin: Person) -> None:
    conv = (await hand_in(client, "m-1"))["conversation_id"]
    url = f"/api/v1/conversations/{conv}/notes"
    headers = {**admin.headers, "Content-Type": "application/json"}
    for raw, problem in ((rb'{"text": "a\u0000b"}', "NUL"), (rb'{"text": "\ud800"}', "surrogate")):
        error = await error_of(await client.post(url, data=raw, headers=headers), 400)
        assert problem in error["message"]
    channel = {"Authorization": f"Bearer {TOKENS['shop']}", "Content-Type": "application/json"}
    raw = rb'{"external_id": "x\u0000", "sender": {"email": "a@example.com"}, "text": "hi"}'
    await error_of(await client.post("/api/v1/channels/shop/messages", data=raw, headers=channel), 400)
    error = await error_of(await client.get("/api/v1/contacts?q=a%00b", headers=admin.headers), 400)
    assert error["field"] == "q"
    emoji = await client.post(url, data=rb'{"text": "\ud83d\ude00"}', headers=headers)
    assert (await emoji.json())["text"] == "\U0001f600"
