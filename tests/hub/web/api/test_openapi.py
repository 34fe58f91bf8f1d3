"""The OpenAPI document is valid, covers every route, and real requests and answers conform to it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openapi_core import OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import JsonSchemaMode

from hub.runtime import Hub
from hub.web import create_app
from hub.web.api.openapi import REF, bodies, document, tidy
from tests.hub.web.conftest import TOKENS, Client, Person, error_of, hand_in, make_agent
from tests.hub.web.test_errors import API_ROUTES

SPEC = OpenAPI.from_dict(document())
REF_PREFIX = REF.removesuffix("{model}")


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(document())
    assert document()["openapi"] == "3.1.0"


def test_every_api_route_is_documented_and_nothing_else() -> None:
    documented = {(method.upper(), path) for path, item in document()["paths"].items() for method in item}
    assert documented == set(API_ROUTES)


async def test_the_served_document_is_the_document(client: Client) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    assert await response.json() == json.loads(json.dumps(document()))


class Checked:
    """Sends requests through the test client and validates each request and its answer against the spec."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.count = 0

    async def __call__(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw_body: bytes | None = None,
        headers: dict[str, str] | None = None,
        status: int,
        request_valid: bool = True,
    ) -> Any:
        """`request_valid=False`: the document calls the request invalid (the answer is still checked)."""
        headers = dict(headers or {})
        data = b""
        if body is not None or raw_body is not None:
            data = raw_body if raw_body is not None else json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        cookies = {c.key: c.value for c in self.client.session.cookie_jar}  # what the request carries
        response = await self.client.request(method, path, data=data or None, headers=headers)
        raw = await response.read()
        assert response.status == status, raw
        url = response.url
        request = MockRequest(
            f"{url.scheme}://{url.host}:{url.port}",
            method,
            url.path,
            args=dict(url.query),
            headers=headers,
            cookies=cookies,
            data=data,
            content_type="application/json",
        )
        if request_valid:
            SPEC.validate_request(request)
        else:
            with pytest.raises(OpenAPIError):
                SPEC.validate_request(request)
        SPEC.validate_response(
            request,
            MockResponse(
                raw,
                status_code=response.status,
                headers=dict(response.headers),
                content_type=response.content_type,
            ),
        )
        self.count += 1
        return json.loads(raw) if raw else None


@pytest.fixture
def call(client: Client) -> Checked:
    return Checked(client)


async def test_real_answers_conform_to_the_document(
    call: Checked, client: Client, hub: Hub, admin: Person
) -> None:
    sales = await make_agent(hub, "anna@okno.example.com", teams=("Sales",))
    auth = admin.headers
    channel = {"Authorization": f"Bearer {TOKENS['shop']}"}
    message = {
        "external_id": "m-1",
        "sender": {"name": "Ирина", "email": "irina@example.com"},
        "text": "Привет",
    }

    # the generic API channel
    stored = await call("POST", "/api/v1/channels/shop/messages", body=message, headers=channel, status=201)
    await call("POST", "/api/v1/channels/shop/messages", body=message, headers=channel, status=200)
    conv, contact = stored["conversation_id"], stored["contact_id"]
    await call("GET", "/api/v1/channels", headers=auth, status=200)

    # who am I, tokens, log-in with a session cookie and CSRF token
    me = await call(
        "POST",
        "/api/v1/auth/login",
        body={"email": sales.email, "password": "correct horse battery"},
        status=200,
    )
    csrf = {"X-CSRF-Token": me["csrf_token"]}
    await call("GET", "/api/v1/me", status=200)
    token = await call("POST", "/api/v1/auth/tokens", body={"name": "crm"}, headers=csrf, status=201)
    await call("GET", "/api/v1/auth/tokens", status=200)
    await call("DELETE", f"/api/v1/auth/tokens/{token['id']}", headers=csrf, status=204)
    await call("POST", "/api/v1/auth/logout", headers=csrf, status=204)

    # conversations
    await call("GET", "/api/v1/conversations?status=open&limit=10&unassigned=true", headers=auth, status=200)
    await call("GET", f"/api/v1/conversations/{conv}", headers=auth, status=200)
    await call(
        "POST",
        f"/api/v1/conversations/{conv}/assign",
        body={"assignee_id": sales.id},
        headers=auth,
        status=200,
    )
    await call(
        "POST",
        f"/api/v1/conversations/{conv}/replies",
        body={"text": "Добрый день", "html": "<p>Добрый</p>"},
        headers=auth,
        status=201,
    )
    await call("POST", f"/api/v1/conversations/{conv}/notes", body={"text": "VIP"}, headers=auth, status=201)
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    await call(
        "POST",
        f"/api/v1/conversations/{conv}/status",
        body={"status": "snoozed", "snoozed_until": until},
        headers=auth,
        status=200,
    )
    await call("GET", f"/api/v1/conversations/{conv}", headers=auth, status=200)  # now with replies

    # contacts
    await call("GET", "/api/v1/contacts?q=ирина&limit=5", headers=auth, status=200)
    await call("GET", f"/api/v1/contacts/{contact}", headers=auth, status=200)
    await call(
        "PATCH",
        f"/api/v1/contacts/{contact}",
        body={"company": "ООО", "tags": ["vip"], "custom_fields": {"inn": "7700"}},
        headers=auth,
        status=200,
    )
    other = await hand_in(client, "m-2", email="irina.p@example.com", phone="+79139097332")
    await call(  # the other card has it: refused, the two are merged instead
        "POST",
        f"/api/v1/contacts/{contact}/identities",
        body={"kind": "phone", "value": "89139097332"},
        headers=auth,
        status=409,
    )
    added = await call(
        "POST",
        f"/api/v1/contacts/{contact}/identities",
        body={"kind": "phone", "value": "89161234567"},
        headers=auth,
        status=201,
    )
    [phone] = [i["id"] for i in added["identities"] if i["kind"] == "phone"]
    await call("DELETE", f"/api/v1/contacts/{contact}/identities/{phone}", headers=auth, status=200)
    await call("GET", "/api/v1/contacts/duplicates", headers=auth, status=200)
    await call(
        "POST",
        f"/api/v1/contacts/{contact}/merge",
        body={"merge_id": other["contact_id"]},
        headers=auth,
        status=200,
    )

    # agents, teams, tasks
    await call("GET", "/api/v1/agents", headers=auth, status=200)
    team = await call("POST", "/api/v1/teams", body={"name": "Support"}, headers=auth, status=201)
    await call("GET", "/api/v1/teams", headers=auth, status=200)
    agent = await call(
        "POST",
        "/api/v1/agents",
        body={
            "email": "new@okno.example.com",
            "name": "Новый",
            "password": "long enough",
            "team_ids": [team["id"]],
        },
        headers=auth,
        status=201,
    )
    await call(
        "PATCH",
        f"/api/v1/agents/{agent['id']}",
        body={"role": "supervisor", "language": "en"},
        headers=auth,
        status=200,
    )
    task = await call(
        "POST",
        "/api/v1/tasks",
        body={"title": "Перезвонить", "conversation_id": conv, "due_at": until},
        headers=auth,
        status=201,
    )
    await call("GET", "/api/v1/tasks?status=open", headers=auth, status=200)
    await call("PATCH", f"/api/v1/tasks/{task['id']}", body={"status": "done"}, headers=auth, status=200)

    await call("GET", "/api/v1/openapi.json", status=200)
    assert call.count >= 30


async def test_error_answers_conform_to_the_document(
    call: Checked, client: Client, hub: Hub, admin: Person
) -> None:
    sales = await make_agent(hub, "anna@okno.example.com", teams=("Sales",))
    depot = await hand_in(client, "d-1", account="depot")
    channel = {"Authorization": f"Bearer {TOKENS['shop']}"}
    bad_sender = {"external_id": "x", "sender": {"email": "nope"}, "text": "hi"}
    await call("POST", "/api/v1/channels/shop/messages", body=bad_sender, headers=channel, status=422)
    await call("POST", "/api/v1/auth/login", body={"email": sales.email, "password": "wrong"}, status=401)
    await call("GET", f"/api/v1/conversations/{depot['conversation_id']}", headers=sales.headers, status=403)
    await call("GET", "/api/v1/conversations/999", headers=sales.headers, status=404)
    await call("POST", "/api/v1/teams", body={"name": "Sales"}, headers=admin.headers, status=422)
    await call("POST", "/api/v1/teams", body={"name": "New"}, headers=sales.headers, status=403)
    await call(
        "PATCH",
        "/api/v1/contacts/1",
        body={"kind": "friend"},
        headers=sales.headers,
        status=400,
        request_valid=False,
    )
    await call(
        "POST", "/api/v1/tasks", raw_body=b"{oops", headers=sales.headers, status=400, request_valid=False
    )
    await call(
        "POST",
        "/api/v1/tasks",
        body={"title": "x", "colour": 1},
        headers=sales.headers,
        status=400,
        request_valid=False,
    )
    await call("GET", "/api/v1/tasks", status=401, request_valid=False)


def _allows_null(schema: dict[str, Any]) -> bool:
    kinds = schema.get("type")
    return (
        kinds == "null"
        or (isinstance(kinds, list) and "null" in kinds)
        or any(_allows_null(option) for option in schema.get("anyOf", []))
    )


def test_a_field_documented_nullable_takes_null() -> None:
    """The document and the models agree on null: no field is called nullable and then refused."""
    schemas = document()["components"]["schemas"]
    checked = 0
    for name, model in bodies().items():
        for field, prop in schemas[name]["properties"].items():
            if not _allows_null(prop):
                continue
            try:
                model.model_validate({field: None})
            except ValidationError as exc:
                assert all(err["loc"][:1] != (field,) for err in exc.errors()), (name, field)
            checked += 1
    assert checked > 20


def test_query_parameters_are_documented_with_the_limits_the_server_applies() -> None:
    operation = document()["paths"]["/api/v1/conversations"]["get"]
    params = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert params["offset"] == {"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 0}
    assert params["limit"] == {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
    tasks = {p["name"]: p["schema"] for p in document()["paths"]["/api/v1/tasks"]["get"]["parameters"]}
    assert tasks["offset"]["maximum"] == 1_000_000
    assert tasks["limit"] == {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}


async def test_past_a_documented_query_limit_is_a_400_naming_it_and_at_it_is_fine(
    client: Client, admin: Person
) -> None:
    checked = 0
    needs = {"/api/v1/search": {"q": "word"}}  # a search without words is a 422 of its own
    for path, item in document()["paths"].items():
        operation = item.get("get", {})
        for param in operation.get("parameters", []):
            schema = param["schema"]
            if param["in"] != "query" or "maximum" not in schema:
                continue
            url = path.replace("{id}", "1").replace("{name}", "volume")
            base = needs.get(path, {})
            at = await client.get(
                url, params={**base, param["name"]: schema["maximum"]}, headers=admin.headers
            )
            assert at.status in (200, 404), (url, param["name"], await at.text())
            past = await client.get(
                url, params={**base, param["name"]: schema["maximum"] + 1}, headers=admin.headers
            )
            assert (await error_of(past, 400))["field"] == param["name"], (url, param["name"])
            checked += 1
    assert checked >= 10


async def test_every_route_the_app_serves_under_api_v1_is_in_the_document(hub: Hub) -> None:
    app = create_app(hub, manage_hub=False)  # the app as served, with the routes installed at start-up too
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1/")
        and route.method != "HEAD"
    }
    documented = {(method, path) for path, item in document()["paths"].items() for method in item}
    assert served == documented


def _models() -> dict[str, list[type[BaseModel]]]:
    """Every pydantic model class of ours loaded, by class name. Only ours: a library's model of the same
    name (a dependency's Message, loaded in the same run) may not even render a schema."""
    found: dict[str, list[type[BaseModel]]] = {}
    stack = list(BaseModel.__subclasses__())
    while stack:
        model = stack.pop()
        stack.extend(model.__subclasses__())
        if model.__module__.split(".")[0] in ("hub", "inbox", "channels"):
            found.setdefault(model.__name__, []).append(model)
    return found


def _is_schema_of_a_model(name: str, schema: dict[str, Any], mode: JsonSchemaMode) -> bool:
    return any(_schema_as_documented(model, mode) == schema for model in _models().get(name, []))


def _schema_as_documented(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
    schema = tidy(model.model_json_schema(ref_template=REF, mode=mode), request=mode == "validation")
    schema.pop("$defs", None)
    return dict(schema)


def test_every_documented_answer_is_the_schema_of_a_response_model() -> None:
    """No hand-written response schema: each answer with a body names a component, and each component is
    what pydantic makes of the model class of that name (the handler's response model)."""
    doc = document()
    schemas = doc["components"]["schemas"]
    answers = 0
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if "$ref" in response:  # a shared error answer: checked below with the others
                    continue
                for content in response.get("content", {}).values():
                    name = str(content["schema"].get("$ref", "")).rsplit("/", 1)[-1]
                    assert name in schemas, (method, path, status, content["schema"])
                    assert _is_schema_of_a_model(name, schemas[name], "serialization"), (method, path, name)
                    answers += 1
    for response in doc["components"]["responses"].values():
        assert response["content"]["application/json"]["schema"] == {"$ref": f"{REF_PREFIX}Error"}
    assert answers >= 30
    for name, schema in schemas.items():  # nested ones too (Identity, Attachment …) and the bodies
        assert _is_schema_of_a_model(name, schema, "serialization") or _is_schema_of_a_model(
            name, schema, "validation"
        ), name


async def test_answers_keep_their_time_format(client: Client, admin: Person) -> None:
    """Times are answered as isoformat() gives them, "+00:00" and all, as they were before the models."""
    response = await client.post("/api/v1/tasks", json={"title": "call back"}, headers=admin.headers)
    task = await response.json()
    assert task["created_at"].endswith("+00:00")
    assert datetime.fromisoformat(task["created_at"]) <= datetime.now(UTC)
