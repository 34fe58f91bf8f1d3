"""What every response model shares, and the one way a handler answers with one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    WrapValidator,
)

from hub.web.inputs import Id

__all__ = ["ApiModel", "Id", "NullableId", "Time", "reader", "respond", "respond_plain"]


class ApiModel(BaseModel):
    """Base of every response model: closed (an undocumented field fails the document's tests), every
    field always present, read from ORM rows or dataclasses by attribute."""

    model_config = ConfigDict(
        from_attributes=True,
        extra="forbid",
        validate_by_name=True,  # a field read from another attribute (validation_alias) can be given by name
        json_schema_serialization_defaults_required=True,
    )


def _iso(value: datetime) -> str:
    return value.isoformat()


Time = Annotated[
    datetime,
    # isoformat(), not pydantic's "Z": the answers have always said "+00:00" and clients compare strings.
    PlainSerializer(_iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""A moment, answered as ISO 8601 with its offset (always UTC)."""

NullableId = Id | None


def _list_or_empty(value: Any) -> Any:
    return [] if value is None else value


def _dict_or_empty(value: Any) -> Any:
    return {} if value is None else value


EmptyIfNone = BeforeValidator(_list_or_empty)
"""A list column that an old row may hold as NULL: answered as []."""
EmptyDictIfNone = BeforeValidator(_dict_or_empty)
"""A JSON object column that an old row may hold as NULL: answered as {}."""


def respond(model: BaseModel, status: int = 200) -> web.Response:
    """The JSON answer of a response model (aliases such as ``from`` applied)."""
    return web.json_response(model.model_dump(mode="json", by_alias=True), status=status)


def respond_plain(data: Mapping[str, Any], status: int = 200) -> web.Response:
    """The JSON answer of what :func:`reader` read: the same bytes :func:`respond` gives for its model."""
    return web.json_response(data, status=status)


_VALIDATORS = (BeforeValidator, AfterValidator, WrapValidator, PlainValidator)


def reader(model: type[ApiModel]) -> Callable[[object], dict[str, Any]]:
    """What ``model.model_validate(row).model_dump(mode="json", by_alias=True)`` answers for an ORM row,
    read straight from the row's attributes: the same keys in the same order, times as isoformat().

    For the rows of a long list (a conversation list's 50 were a third of its request in validating and
    dumping models). Only a model of plain fields qualifies — ids, text, numbers, Literal codes, Time,
    no validators and no nested models — since nothing is validated: the columns already hold the
    answer's types (the list tests compare both ways)."""
    decorators = model.__pydantic_decorators__
    if decorators.field_validators or decorators.model_validators or decorators.validators:
        raise TypeError(f"{model.__name__} has validators: answer it with respond()")
    pairs: list[tuple[str, str]] = []
    for name, info in model.model_fields.items():
        if any(isinstance(m, _VALIDATORS) for m in info.metadata):
            raise TypeError(f"{model.__name__}.{name} has a validator: answer it with respond()")
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            raise TypeError(f"{model.__name__}.{name} is a model: answer it with respond()")
        source = info.validation_alias if isinstance(info.validation_alias, str) else name
        pairs.append((info.serialization_alias or info.alias or name, source))

    def read(row: object) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, source in pairs:
            value = getattr(row, source)
            out[key] = value.isoformat() if isinstance(value, datetime) else value
        return out

    return read
