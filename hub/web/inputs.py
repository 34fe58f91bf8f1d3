"""Reading request input: JSON bodies and query strings into pydantic models, path ids into ints.

Whatever is wrong is answered as a 400 that names the problem and the field: "body is not valid JSON:
Expecting value at line 1 column 1", "limit: Input should be a valid integer". Bodies are JSON objects;
a body sent as a form (what a cross-site HTML form can send) is refused with 415, which with the CSRF
header check keeps other sites from posting on a logged-in agent's behalf. Text that no database can
store (NUL characters, lone UTF-16 surrogates) is refused here rather than failing at the INSERT.

The models are also the OpenAPI document (:mod:`hub.web.api.openapi`), so they say exactly what is taken:
bodies are validated strictly (``"5"`` is not a number, ``0`` is not a date: see
:mod:`inbox.timestamps`), and a field declared ``= NotNull()`` may be left out but is never null.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Annotated, Any, TypeVar

from aiohttp import web
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from hub.web.errors import ApiError, bad_request, not_found
from inbox.timestamps import Timestamp

__all__ = ["Timestamp"]

M = TypeVar("M", bound=BaseModel)

MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
JSON_TYPES = ("application/json",)
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
# What every text field documents: no NUL (refused below, before any model sees the body).
STORABLE_TEXT = "^[^\\x00]*$"

ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def _agent_ref(value: Any) -> int | str:
    if value == "me":
        return "me"
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,19}", value) and 1 <= int(value) <= MAX_ID:
        return int(value)
    raise ValueError('must be an agent id or "me"')


AgentRef = Annotated[
    int | str,
    PlainValidator(_agent_ref),
    WithJsonSchema({"anyOf": [{"type": "string", "const": "me"}, ID_SCHEMA]}),
]
"""A query parameter naming an agent: an id, or "me" for the caller."""


def _drop_null(schema: dict[str, Any]) -> None:
    options = [o for o in schema.pop("anyOf", []) if o.get("type") != "null"]
    if len(options) == 1:
        schema.update(options[0])
    elif options:
        schema["anyOf"] = options
    if schema.get("default", ...) is None:
        del schema["default"]


def NotNull(**constraints: Any) -> Any:
    """``field: X | None = NotNull(...)``: the field may be left out (None), but an explicit null is
    refused with a 400, and the document does not call it nullable."""
    return Field(None, json_schema_extra=_drop_null, **constraints)


class Body(BaseModel):
    """Base of every request body: unknown fields are errors, so a typo is named instead of ignored.

    Strict: a JSON value of the wrong type is refused, never coerced (``"5"`` for a number).
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if value is None and field is not None and field.json_schema_extra is _drop_null:
            raise ValueError("cannot be null (leave the field out instead)")
        return value


class Empty(Body):
    """The body of actions that take no input: nothing, or an empty JSON object."""

    model_config = ConfigDict(json_schema_extra={"maxProperties": 0})


class Query(BaseModel):
    """Base of query-string models: unknown parameters are ignored (cache busters, tracking)."""

    model_config = ConfigDict(extra="ignore")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def decode_json(raw: bytes) -> Any:
    """The JSON value of a body, or a 400 that says what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, "invalid_json", f"body is not valid UTF-8: {exc.reason} at byte {exc.start}"
        ) from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, "invalid_json", f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:  # NaN / Infinity
        raise ApiError(400, "invalid_json", f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "body is not valid JSON: nested too deeply") from None
    _check_storable(text, value)
    return value


def _strings(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_storable(text: str, value: Any) -> None:
    """JSON can escape characters no database stores: NUL (PostgreSQL) and lone surrogates (UTF-8)."""
    if not _SUSPECT_ESCAPE.search(text):  # the common case: no such escape at all, no walk
        return
    for string in _strings(value):
        if "\x00" in string:
            raise ApiError(
                400, "invalid_json", "body contains a NUL character (\\u0000): it cannot be stored"
            )
        try:
            string.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(
                400, "invalid_json", "body contains a lone UTF-16 surrogate (\\ud800-\\udfff): not valid text"
            ) from None


def check_content_type(request: web.Request) -> None:
    content_type = request.content_type
    if request.headers.get("Content-Type") and not (
        content_type in JSON_TYPES
        or (content_type.startswith("application/") and content_type.endswith("+json"))
    ):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the body as JSON (Content-Type: application/json), not {content_type}",
        )


_NOTHING: Any = object()


async def read_json_value(request: web.Request, *, allow_empty: bool = False) -> Any:
    """The decoded JSON body (`_NOTHING` if empty and `allow_empty`); 413 past the size limit."""
    raw = await request.read()
    if not raw.strip():
        if allow_empty:
            return _NOTHING
        raise ApiError(400, "invalid_json", "body is empty: expected a JSON object")
    check_content_type(request)
    return decode_json(raw)


def validation_error(exc: ValidationError) -> ApiError:
    """The first problem pydantic found, as a 400 naming its field (dotted path)."""
    err = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in err["loc"]) or None
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown field"
    return bad_request(f"{field}: {message}" if field else message, field)


async def read_json_object(request: web.Request, *, allow_empty: bool = False) -> dict[str, Any]:
    """The body as a JSON object (an empty body is ``{}`` if `allow_empty`)."""
    value = await read_json_value(request, allow_empty=allow_empty)
    if value is _NOTHING:  # no body at all; a JSON null is not an object
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", f"body must be a JSON object, not {_json_type(value)}")
    return value


async def read_body(request: web.Request, model: type[M]) -> M:
    """The body validated as `model`. An `Empty` model also accepts no body at all."""
    value = await read_json_object(request, allow_empty=issubclass(model, Empty))
    try:
        return model.model_validate(_integral(value))
    except RecursionError:
        raise ApiError(400, "invalid_json", "body is not valid JSON: nested too deeply") from None
    except ValidationError as exc:
        raise validation_error(exc) from None


def _integral(value: Any) -> Any:
    """JSON has one number type: 3.0 is the integer 3 (as JSON Schema says), so strict ints take it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


def read_query(request: web.Request, model: type[M]) -> M:
    for name, value in request.query.items():
        if "\x00" in value:
            raise bad_request(f"{name}: contains a NUL character", name)
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise validation_error(exc) from None


def path_id(request: web.Request, name: str = "id") -> int:
    """An id from the path (the route only matches digits); past the id range it cannot exist."""
    text = request.match_info[name].lstrip("0")
    value = int(text) if 0 < len(text) <= 19 else 0  # (a 5000-digit int() is an error of its own)
    if not 1 <= value <= MAX_ID:
        raise not_found(f"{name} {value} not found")
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"
