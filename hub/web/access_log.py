"""The access log without secrets: URLs are logged with their secret parts replaced by ``***``.

Secrets that can sit in a URL: the agent socket's ``?token=`` (kept for API clients that cannot set a
header), a PBX's token in the webhook path (``/hooks/{account}/{token}``), and any query parameter with a
secret-looking name. :func:`redact_url` rewrites such a URL; :class:`RedactingAccessLogger` is aiohttp's
access logger (same Apache-style format) fed with redacted URLs and Referer headers. `RUNNER_OPTIONS` is
what every runner of the web app passes to ``web.AppRunner`` (``okno run``, ``okno demo``, the tests).

Each request gets an id (:func:`request_ids`: the caller's ``X-Request-Id`` if sensible, else a new one),
answered in ``X-Request-Id``, bound to :data:`hub.logs.REQUEST_ID` while the request is handled (every log
line it causes carries it in JSON logs) and on its access-log line.
"""

from __future__ import annotations

import re
from typing import Any, Final, cast
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_log import AccessLogger
from multidict import CIMultiDict, CIMultiDictProxy

from hub.logs import REQUEST_ID, bound, request_id_from
from hub.web.proxy import CLIENT

MASK: Final = "***"
REQUEST_ID_HEADER: Final = "X-Request-Id"
# Query parameters whose value is a secret, matched on the lower-cased name (a substring is enough:
# "api_key", "client_secret", "x-auth-token" all match).
SECRET_NAME_PARTS: Final = ("token", "key", "secret", "password", "passwd", "hash", "auth", "sig")
# Paths whose segments after the prefix are secret: ``/hooks/{account}/{token...}``.
SECRET_TAIL = re.compile(r"^(/hooks/[^/?#]+/)[^?#]+")


def secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in SECRET_NAME_PARTS)


def redact_path(path: str) -> str:
    """The path with a webhook's secret tail replaced (the account name stays: it names no secret)."""
    return SECRET_TAIL.sub(lambda m: m.group(1) + MASK, path)


def redact_url(url: str) -> str:
    """`url` (a path with a query, or an absolute URL) with secret path parts and query values masked.

    A URL that cannot be parsed is replaced whole: a log line loses a detail rather than leak one.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    path = redact_path(parts.path)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(secret_name(name) for name, _ in pairs):
            query = urlencode(
                [(name, MASK if secret_name(name) else value) for name, value in pairs],
                safe="*/",
                quote_via=quote,
            )
    if path == parts.path and query == parts.query:
        return url
    return urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))


class _RedactedRequest:
    """What aiohttp's AccessLogger reads of a request, with the URL and the Referer redacted and the client's
    address behind a trusted proxy."""

    def __init__(
        self, request: web.BaseRequest, path_qs: str, referer: str | None, remote: str | None
    ) -> None:
        self._request = request
        self.path_qs = path_qs
        self.remote = remote
        headers = CIMultiDict(request.headers)
        if referer is not None:
            headers["Referer"] = referer
        self.headers = CIMultiDictProxy(headers)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)


class RedactingAccessLogger(AccessLogger):
    """aiohttp's access logger, fed with a view of the request whose URL and Referer carry no secret."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if request is None:  # aiohttp logs some protocol errors without a request
            super().log(request, response, time)
            return
        request_id = response.headers.get(REQUEST_ID_HEADER) if response is not None else None
        with bound(REQUEST_ID, request_id):
            self._log(request, response, time)

    def _log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        path_qs = redact_url(request.path_qs)
        referer = request.headers.get("Referer")
        safe_referer = redact_url(referer) if referer is not None else None
        client = request.get(CLIENT)  # behind a trusted proxy: the client's address, as the hub used it
        if path_qs != request.path_qs or safe_referer != referer or client is not None:
            remote = client if client is not None else request.remote
            request = cast(web.BaseRequest, _RedactedRequest(request, path_qs, safe_referer, remote))
        super().log(request, response, time)


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request its id, bound for everything the handler does, and answered in X-Request-Id."""
    request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    with bound(REQUEST_ID, request_id):
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # a redirect passed on as it is
            exc.headers.setdefault(REQUEST_ID_HEADER, request_id)
            raise
    if not response.prepared:
        response.headers.setdefault(REQUEST_ID_HEADER, request_id)
    return response


async def answer_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """X-Request-Id on an answer its handler sends itself (a socket, a stream): an on_response_prepare
    hook, run inside the handler, where the id is bound."""
    request_id = REQUEST_ID.get()
    if request_id is not None:
        response.headers.setdefault(REQUEST_ID_HEADER, request_id)


RUNNER_OPTIONS: Final[dict[str, Any]] = {
    "access_log_class": RedactingAccessLogger,
    # aiohttp rounds a timer longer than this up to a whole second, so that timers fire together. The
    # sockets' heartbeats (25-30 s) then fired together too: the pings of every socket whose turn fell in
    # one second went out in one turn of the event loop (1,000 widget sockets opened within 5 s: a stall
    # of 20-50 ms once a second for 5 s, every 25 s). Above the heartbeats, each fires on its own time.
    "timeout_ceil_threshold": 120.0,
}
