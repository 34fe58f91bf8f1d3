"""Every error the web layer answers is JSON: ``{"error": {"code", "message", "field"}}``.

Handlers raise :class:`ApiError` (or a domain error, mapped here by class); the middleware turns them,
aiohttp's own HTTP errors (404, 405, 413 …) and anything unexpected into that shape. A database that is
unavailable (down, restarting, locked past the busy timeout, full: :mod:`inbox.unavailable`) is a 503
``unavailable`` with ``Retry-After``, logged as one line. Any other unexpected exception is logged with its
traceback and answered with a 500 that carries none.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ConfigDict, Field

from channels.base import IdentityRefused, PayloadError
from hub.web.access_log import redact_path
from inbox.agent_admin import AgentNotFound
from inbox.agents import AgentError
from inbox.card_changes import IdentityTaken
from inbox.contacts import ContactError, ContactNotFound
from inbox.conversations import ConversationError, ConversationNotFound, NotAllowed
from inbox.identities import InvalidIdentity
from inbox.ingest import IngestError
from inbox.knowledge.templates import KnowledgeError
from inbox.knowledge.templates import NotAllowed as TemplateNotAllowed
from inbox.outbox import MessageNotFound, RetryRefused
from inbox.replies import ReplyError
from inbox.search import SearchError
from inbox.tasks import TaskError, TaskNotFound
from inbox.unavailable import RETRY_AFTER_SECONDS, StoreUnavailable, unavailable_reason

log = logging.getLogger(__name__)

# aiohttp's HTTP errors by status → our code.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    """An error answered as JSON with `status`; `field` names the offending input where there is one."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


def bad_request(message: str, field: str | None = None) -> ApiError:
    return ApiError(400, "invalid_request", message, field)


def unprocessable(message: str, field: str | None = None) -> ApiError:
    return ApiError(422, "unprocessable", message, field)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def unauthorized(message: str = "log in or give a bearer token") -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": 'Bearer realm="okno"'})


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)

    code: str = Field(description="machine-readable: invalid_json, not_found …")
    message: str = Field(description="what is wrong, for a person")
    field: str | None = Field(None, description="the offending input (dotted path), if one")


class Error(BaseModel):
    """The body of every error answer: what is wrong and, where there is one, the field."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return Error(error=ErrorDetail(code=code, message=message, field=field)).model_dump(mode="json")


def error_response(error: ApiError) -> web.Response:
    response = web.json_response(error_body(error.code, error.message, error.field), status=error.status)
    response.headers.update(error.headers)
    return response


def unavailable(reason: str) -> ApiError:
    """503: the database cannot take the request now (nothing was stored); try again after Retry-After."""
    return ApiError(
        503,
        "unavailable",
        f"the database is unavailable, nothing was stored: try again in {RETRY_AFTER_SECONDS} s ({reason})",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def from_domain(exc: Exception) -> ApiError | None:
    """The answer for a domain error, or None for an exception that is a bug."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, StoreUnavailable):
        return unavailable(exc.reason)
    if isinstance(exc, IdentityRefused):
        return unprocessable(exc.reason, exc.field)
    if isinstance(exc, PayloadError):
        return bad_request(exc.reason, exc.field)
    if isinstance(exc, IdentityTaken):
        return ApiError(409, "identity_taken", str(exc), exc.field)
    if isinstance(exc, RetryRefused):
        return ApiError(409, "conflict", str(exc), exc.field)
    if isinstance(
        exc, ContactNotFound | TaskNotFound | AgentNotFound | ConversationNotFound | MessageNotFound
    ):
        return not_found(str(exc))
    if isinstance(exc, NotAllowed | TemplateNotAllowed):
        return forbidden(str(exc))
    if isinstance(
        exc,
        ContactError | ConversationError | ReplyError | AgentError | TaskError | KnowledgeError | SearchError,
    ):
        return unprocessable(str(exc), exc.field)
    if isinstance(exc, InvalidIdentity):
        return unprocessable(str(exc), "value")
    if isinstance(exc, IngestError):
        return unprocessable(str(exc))
    return None


def _from_http(request: web.Request, exc: web.HTTPException) -> web.Response:
    status = exc.status
    code = _HTTP_CODES.get(status, "bad_request" if status < 500 else "server_error")
    if status == 413:
        message = f"request body is larger than the limit of {_limit(exc.text or '')}"
    elif status == 404:
        message = f"no such resource: {request.path}"
    elif status == 405:
        message = f"method {request.method} is not allowed on {request.path}"
    else:
        message = exc.reason
    response = web.json_response(error_body(code, message), status=status)
    for header in ("Allow", "WWW-Authenticate", "Retry-After"):
        if header in exc.headers:
            response.headers[header] = exc.headers[header]
    return response


def _limit(text: str) -> str:
    """aiohttp says "Maximum request body size N exceeded, actual body size M": keep "N bytes"."""
    words = text.split()
    for i, word in enumerate(words):
        if word == "size" and i + 1 < len(words) and words[i + 1].isdigit():
            return f"{words[i + 1]} bytes"
    return "this server"


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects and other non-errors pass through as they are
            raise
        return _from_http(request, exc)
    except Exception as exc:
        mapped = from_domain(exc)
        if mapped is not None:
            return error_response(mapped)
        reason = unavailable_reason(exc)
        if reason is not None:  # the database is down, locked or full: no bug, no stack in the log
            log.warning("%s %s: database unavailable: %s", request.method, redact_path(request.path), reason)
            return error_response(unavailable(reason))
        log.exception("unhandled error on %s %s", request.method, redact_path(request.path))
        return web.json_response(
            error_body("internal_error", "internal error: the server logged the details"), status=500
        )
