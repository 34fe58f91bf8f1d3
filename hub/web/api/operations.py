"""What the OpenAPI document says about a route, declared on its handler with :func:`operation`.

The route decorator names the method and path; this one, right under it, names the rest: summary, the
body, query and path models the handler reads, the response model per status, and who may call it.
:mod:`hub.web.api.openapi` walks the app's routes and builds the document from these alone, so a route
without one is an error there, not a gap in the document.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from pydantic import BaseModel

from hub.web.inputs import Id, Query

Auth = Literal["agent", "public", "channel"]
"""agent: an agent's token or session (and CSRF on changes); public: no credentials; channel: the channel
account's own token."""

ErrorStatus = Literal[401, 403, 404, 409, 410, 422, 429, 503]

H = TypeVar("H", bound=Callable[..., object])

_ATTRIBUTE = "__okno_operation__"


class IdPath(Query):
    """The ``{id}`` of a route's path (read by :func:`hub.web.inputs.path_id`)."""

    id: Id


@dataclass(frozen=True, slots=True)
class Operation:
    summary: str
    tag: str
    responses: Mapping[int, tuple[str, type[BaseModel] | None]]
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    path: type[BaseModel] = IdPath
    errors: tuple[ErrorStatus, ...] = ()
    auth: Auth = "agent"
    files: tuple[str, ...] = ()
    also: tuple[tuple[str, type[BaseModel]], ...] = ()


def operation(
    summary: str,
    tag: str,
    responses: Mapping[int, tuple[str, type[BaseModel] | None]],
    *,
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    query: type[BaseModel] | None = None,
    path: type[BaseModel] = IdPath,
    errors: tuple[ErrorStatus, ...] = (),
    auth: Auth = "agent",
    files: tuple[str, ...] = (),
    also: tuple[tuple[str, type[BaseModel]], ...] = (),
) -> Callable[[H], H]:
    """Declare a handler's operation. `responses`: status → (description, response model or None for no
    body). `errors`: the error statuses it may answer beyond those every operation may (400, and 401 for
    an agent's route; 413 and 415 with a body). `path` documents the path's parameters (default: ``{id}``).
    `files`: the media types of a 200 that answers a file's bytes (its model :class:`FileBytes`), not JSON.
    `also`: other media types a 200 may answer besides JSON (chosen by Accept), with their models."""
    declared = Operation(summary, tag, responses, body, body_required, query, path, errors, auth, files, also)

    def mark(handler: H) -> H:
        setattr(handler, _ATTRIBUTE, declared)
        return handler

    return mark


def operation_of(handler: object) -> Operation | None:
    found = getattr(handler, _ATTRIBUTE, None)
    return found if isinstance(found, Operation) else None
