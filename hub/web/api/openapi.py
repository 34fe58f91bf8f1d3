"""The OpenAPI 3.1 description of /api/v1, generated from the code and served at GET /api/v1/openapi.json.

Every /api/v1 route of the app carries its :func:`hub.web.api.operations.operation`; the document is built
from those and from the pydantic models they name — request bodies and query strings as the handlers
validate them (:class:`hub.web.inputs.Body`, :class:`hub.web.inputs.Query`), answers as the response models
the handlers return (:mod:`hub.web.api.schemas`) — so limits, enums, nullability and formats are stated
once, in the model, and a route cannot be served undocumented. Pinned by tests that validate real answers
against the document (objects are closed: an undocumented field fails them) and by a bounded schemathesis
run (tests/hub/web/api/test_schemathesis.py).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from pydantic import BaseModel, RootModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from hub.web.api.operations import Operation, operation, operation_of
from hub.web.api.schemas.base import respond
from hub.web.errors import Error
from hub.web.inputs import STORABLE_TEXT

routes = web.RouteTableDef()

Schema = dict[str, Any]
JSON = "application/json"
PREFIX = "/api/v1/"
REF = "#/components/schemas/{model}"

ERRORS = {
    400: ("BadRequest", "malformed JSON, or a field or parameter that is wrong (named in error.field)"),
    401: ("Unauthorized", "no credentials, or wrong ones"),
    403: ("Forbidden", "not allowed for this agent (role, queue), or a missing CSRF token"),
    404: ("NotFound", "no such object"),
    410: ("Gone", "the object existed but is no longer kept (a file the blob store lost)"),
    413: ("PayloadTooLarge", "the body is over the configured limit"),
    415: ("UnsupportedMediaType", "the body is not sent as JSON"),
    422: (
        "Unprocessable",
        "well-formed but refused: a reference that does not exist, a rule of the domain",
    ),
    409: ("Conflict", "someone else was first (e.g. took the conversation): reload"),
    429: ("TooManyRequests", "over a rate limit: try again after the Retry-After header's seconds"),
    503: (
        "ServiceUnavailable",
        "the database is unavailable (down, locked, full): nothing was stored; try again after Retry-After",
    ),
}

CSRF: Schema = {
    "name": "X-CSRF-Token",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "the session's CSRF token: required when authenticated by the session cookie",
}

SECURITY: dict[str, list[dict[str, list[str]]]] = {"public": [], "channel": [{"channelToken": []}]}


class OpenApiDocument(RootModel[dict[str, Any]]):
    """An OpenAPI 3.1 document."""


# -- the routes -----------------------------------------------------------------------------------------


def api_routes() -> Iterator[tuple[str, str, Operation | None]]:
    """(method, canonical path, declared operation) of every /api/v1 route the app serves."""
    from hub.web.app import ROUTE_MODULES  # the app imports this module: read its routes when asked

    router = web.UrlDispatcher()
    for module in ROUTE_MODULES:
        router.add_routes(module.routes)
    for route in router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith(PREFIX) and route.method != "HEAD":
            yield route.method, path, operation_of(route.handler)


def _operations() -> list[tuple[str, str, Operation]]:
    found = []
    for method, path, declared in api_routes():
        if declared is None:
            raise LookupError(f"{method} {path} declares no @operation: the document cannot describe it")
        found.append((method, path, declared))
    return found


# -- schemas --------------------------------------------------------------------------------------------


def tidy(schema: Any, *, request: bool) -> Any:
    """pydantic's schema as the document states it: no titles; a request's plain text says it takes no
    NUL; a ``default: null`` only where null is a value (a field that may be left out but not null has
    none), and no defaults at all in answers (every field is always there)."""
    if isinstance(schema, list):
        return [tidy(item, request=request) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: tidy(value, request=request) for key, value in schema.items() if key != "title"}
    if "properties" in schema:  # property names are data here, not keywords
        out["properties"] = {
            name: tidy(value, request=request) for name, value in schema["properties"].items()
        }
    kinds = out.get("type")
    if (
        request
        and (kinds == "string" or (isinstance(kinds, list) and "string" in kinds))
        and not ({"pattern", "format", "enum", "const"} & out.keys())
    ):
        out["pattern"] = STORABLE_TEXT
    if "default" in out and ((out["default"] is None and not _allows_null(out)) or not request):
        del out["default"]
    return out


def _allows_null(schema: Schema) -> bool:
    kinds = schema.get("type")
    return (
        kinds == "null"
        or (isinstance(kinds, list) and "null" in kinds)
        or any(_allows_null(option) for option in schema.get("anyOf", []))
    )


def body_schema(model: type[BaseModel]) -> Schema:
    schema: Schema = tidy(model.model_json_schema(ref_template=REF), request=True)
    return schema


def _components(
    models: list[type[BaseModel]], mode: JsonSchemaMode
) -> tuple[dict[type[BaseModel], Schema], dict[str, Schema]]:
    """The models' schemas, generated together so nested models become shared components: (model →
    its $ref, component name → schema)."""
    unique = list(dict.fromkeys(models))
    refs, top = models_json_schema([(m, mode) for m in unique], ref_template=REF)
    defs = tidy(top.get("$defs", {}), request=mode == "validation")
    return {model: refs[(model, mode)] for model in unique}, defs


def _component_name(ref: Schema) -> str:
    return str(ref["$ref"]).rsplit("/", 1)[-1]


def query_params(model: type[BaseModel], where: str = "query") -> list[Schema]:
    """A route's query (or path) parameters, from the model its handler reads them with."""
    schema = body_schema(model)
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", "")
        options = [o for o in prop.pop("anyOf", []) if o != {"type": "null"}]  # absent is "none"
        if len(options) == 1:
            prop |= options[0]
        elif options:
            prop["anyOf"] = options
        if prop.get("default", ...) is None:
            del prop["default"]
        param: Schema = {
            "name": name,
            "in": where,
            "schema": prop,
            "required": name in required or where == "path",
        }
        if description:
            param["description"] = description
        out.append(param)
    return out


# -- operations -----------------------------------------------------------------------------------------


def json_content(schema: Schema) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def _path_params(path: str, declared: Operation) -> list[Schema]:
    names = re.findall(r"\{(\w+)\}", path)
    if not names:
        return []
    params = {p["name"]: p for p in query_params(declared.path, "path")}
    missing = [name for name in names if name not in params]
    if missing:
        raise LookupError(f"{path}: {declared.path.__name__} documents no {', '.join(missing)}")
    return [params[name] for name in names]


def _operation(
    method: str,
    path: str,
    declared: Operation,
    bodies: dict[type[BaseModel], Schema],
    answers: dict[type[BaseModel], Schema],
) -> Schema:
    """One operation; every operation may also answer any documented error with the Error shape."""
    out: Schema = {"summary": declared.summary, "tags": [declared.tag], "responses": {}}
    parameters = _path_params(path, declared)
    if declared.query is not None:
        parameters += query_params(declared.query)
    if method != "GET" and declared.auth == "agent":
        parameters.append(CSRF)
    if parameters:
        out["parameters"] = parameters
    if declared.auth in SECURITY:
        out["security"] = SECURITY[declared.auth]
    if declared.body is not None:
        out["requestBody"] = {
            "required": declared.body_required,
            "content": json_content(bodies[declared.body]),
        }
    for status, (description, model) in declared.responses.items():
        response: Schema = {"description": description}
        if model is not None and status == 200 and declared.files:
            response["content"] = {kind: {"schema": answers[model]} for kind in declared.files}
        elif model is not None:
            response["content"] = json_content(answers[model])
            if status == 200:
                response["content"].update(
                    {kind: {"schema": answers[other]} for kind, other in declared.also}
                )
        out["responses"][str(status)] = response
    wanted: set[int] = set(declared.errors) | {400} | (set() if declared.auth == "public" else {401})
    if declared.body is not None:
        wanted |= {413, 415}
    for status in sorted(wanted):
        out["responses"][str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    out["responses"]["default"] = {"$ref": "#/components/responses/Error"}
    return out


@functools.cache
def document() -> Schema:
    operations = _operations()
    body_models = [o.body for _, _, o in operations if o.body is not None]
    answer_models = (
        [Error]
        + [model for _, _, o in operations for _, model in o.responses.values() if model is not None]
        + [other for _, _, o in operations for _, other in o.also]
    )
    bodies, schemas = _components(body_models, "validation")
    for model, ref in list(bodies.items()):
        if not model.model_fields:  # a body of nothing (Empty) is stated in place, not as a component
            bodies[model] = schemas.pop(_component_name(ref))
    answers, answer_schemas = _components(answer_models, "serialization")
    for name, schema in answer_schemas.items():
        if schemas.setdefault(name, schema) != schema:
            raise ValueError(f"two different schemas are named {name}: rename a model")
    paths: dict[str, Schema] = {}
    for method, path, declared in operations:
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, declared, bodies, answers)
    error = answers[Error]
    responses = {
        name: {"description": description, "content": json_content(error)}
        for name, description in ERRORS.values()
    }
    responses["Error"] = {"description": "an error", "content": json_content(error)}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Okno API",
            "version": "1",
            "description": (
                "The REST API of Okno, an omnichannel communications hub. Authenticate with a bearer "
                "token (POST /api/v1/auth/tokens) or the browser session cookie; cookie-authenticated "
                "changes need the X-CSRF-Token header. A card, duplicate pair or task the caller may not see "
                "is a 404, as if it did not exist (a conversation of another queue: 403). Every error is "
                '{"error": {"code", "message", "field"}}.'
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": responses,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "an agent's API token"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "okno_session"},
                "channelToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the channel account's own token (from configuration)",
                },
            },
        },
    }


@functools.cache
def bodies() -> dict[str, type[BaseModel]]:
    """Component name → the request body model it is the schema of (a body of nothing has none)."""
    refs, _ = _components([o.body for _, _, o in _operations() if o.body is not None], "validation")
    return {_component_name(ref): model for model, ref in refs.items() if model.model_fields}


@routes.get("/api/v1/openapi.json")
@operation("This document", "meta", {200: ("the OpenAPI document", OpenApiDocument)}, auth="public")
async def serve(request: web.Request) -> web.Response:
    return respond(OpenApiDocument(document()))
