"""Input is read exactly as the OpenAPI document states it: no lax coercion the document does not show.

Each case here was a mismatch schemathesis found between the document and the server.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.hub.web.conftest import TOKENS, Client, Person, error_of, hand_in


async def first_conversation(client: Client) -> int:
    return int((await hand_in(client, "in-1"))["conversation_id"])


@pytest.mark.parametrize("when", [0, 1_700_000_000, "1700000000", "2026-01-31T12:00:00", True])
async def test_a_task_due_at_that_is_no_rfc_3339_time_with_a_zone_is_a_400(
    client: Client, admin: Person, when: Any
) -> None:
    response = await client.post("/api/v1/tasks", json={"title": "x", "due_at": when}, headers=admin.headers)
    assert (await error_of(response, 400))["field"] == "due_at"


async def test_every_timestamp_field_refuses_a_number(client: Client, admin: Person) -> None:
    conv = await first_conversation(client)
    task = await client.post("/api/v1/tasks", json={"title": "x"}, headers=admin.headers)
    task_id = (await task.json())["id"]
    for method, path, body, headers, field in (
        ("PATCH", f"/api/v1/tasks/{task_id}", {"due_at": 0}, admin.headers, "due_at"),
        (
            "POST",
            f"/api/v1/conversations/{conv}/status",
            {"status": "snoozed", "snoozed_until": 86_400},
            admin.headers,
            "snoozed_until",
        ),
        (
            "POST",
            "/api/v1/channels/shop/messages",
            {"external_id": "t", "sender": {"email": "a@example.com"}, "text": "hi", "sent_at": 0},
            {"Authorization": f"Bearer {TOKENS['shop']}"},
            "sent_at",
        ),
    ):
        response = await client.request(method, path, json=body, headers=headers)
        assert (await error_of(response, 400))["field"] == field, path
    stored = await client.post(
        "/api/v1/tasks",
        json={"title": "y", "due_at": "2026-01-31T15:00:00+03:00"},
        headers=admin.headers,
    )
    assert stored.status == 201
    assert (await stored.json())["due_at"] == "2026-01-31T12:00:00+00:00"


async def test_a_number_sent_as_a_string_is_a_400_but_3_point_0_is_the_integer_3(
    client: Client, admin: Person
) -> None:
    conv = await first_conversation(client)
    for path, body, field in (
        (f"/api/v1/conversations/{conv}/assign", {"assignee_id": str(admin.id)}, "assignee_id"),
        (
            "/api/v1/agents",
            {"email": "n@okno.example.com", "name": "N", "password": "long enough", "capacity": "5"},
            "capacity",
        ),
        ("/api/v1/tasks", {"title": "x", "assignee_id": True}, "assignee_id"),
    ):
        response = await client.post(path, json=body, headers=admin.headers)
        assert (await error_of(response, 400))["field"] == field, body
    response = await client.post(
        f"/api/v1/conversations/{conv}/assign", json={"assignee_id": float(admin.id)}, headers=admin.headers
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["assignee_id"] == admin.id


async def test_a_field_that_may_be_left_out_but_not_null_refuses_null_with_a_400(
    client: Client, admin: Person, sales: Person
) -> None:
    task = await client.post("/api/v1/tasks", json={"title": "x"}, headers=admin.headers)
    for path, body, field in (
        (f"/api/v1/tasks/{(await task.json())['id']}", {"title": None}, "title"),
        (f"/api/v1/tasks/{(await task.json())['id']}", {"status": None}, "status"),
        (f"/api/v1/agents/{sales.id}", {"name": None}, "name"),
        (f"/api/v1/agents/{sales.id}", {"is_active": None}, "is_active"),
    ):
        response = await client.patch(path, json=body, headers=admin.headers)
        error = await error_of(response, 400)
        assert (error["field"], "cannot be null" in error["message"]) == (field, True), body


async def test_a_json_null_body_is_not_an_empty_body(client: Client, admin: Person) -> None:
    url = "/api/v1/contacts/duplicates/999/dismiss"
    response = await client.post(
        url, data=b"null", headers={**admin.headers, "Content-Type": "application/json"}
    )
    assert (await error_of(response, 400))["code"] == "invalid_json"
    await error_of(await client.post(url, headers=admin.headers), 404)  # no body at all is fine


@pytest.mark.parametrize("path", ["/api/v1/tasks", "/api/v1/conversations"])
@pytest.mark.parametrize("value", ["0", "9223372036854775808", "-1", "١", "me2"])
async def test_an_assignee_filter_that_is_no_agent_id_is_a_400(
    client: Client, admin: Person, path: str, value: str
) -> None:
    response = await client.get(path, params={"assignee": value}, headers=admin.headers)
    assert (await error_of(response, 400))["field"] == "assignee"
    for good in ("me", "9223372036854775807"):
        response = await client.get(path, params={"assignee": good}, headers=admin.headers)
        assert response.status == 200, await response.text()
