"""What every response model shares, and the one way a handler answers with one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

from hub.web.inputs import Id

__all__ = ["ApiModel", "Id", "NullableId", "Time", "respond"]


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
