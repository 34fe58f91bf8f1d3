"""The widget's HTTP side: ``GET /widget.js``, its configuration, and the offline form.

* ``GET /widget.js`` — the static script (cached for an hour, revalidated by ETag).
* ``GET /webchat/{account}/config`` — title, greeting, colour, language, pre-chat form, the largest file
  a visitor may send (0: none), and whether anyone answers now (business hours and agents online); the
  widget shows the offline form if not.
* ``POST /webchat/{account}/offline`` — the offline form: a name, an e-mail (to answer by), a message;
  it becomes a normal conversation of the visitor, with the e-mail on the visitor's card as a typed
  (unverified) detail — never matched to another card. ``offline_per_minute`` posts per IP (429 with
  Retry-After beyond). A site's logged-in user may be identified by ``identifier`` + ``identifier_hash``.

These are called from other sites' pages, so they answer CORS requests (without credentials: the
visitor's token travels in the body, never in a cookie). An account with ``allowed_origins`` answers
only those origins.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from channels.base import PayloadError
from channels.webchat import WidgetOptions, profile, visitor_message, widget_options
from channels.webchat.identify import verified_identity
from channels.webchat.parse import client_id, message_text
from channels.webchat.tokens import current, new_visitor_id, sign
from hub import i18n
from hub.ratelimit import Verdict
from hub.runtime import ConfiguredAccount
from hub.web.context import hub_of, online_agents, publish
from hub.web.errors import ApiError, error_response, forbidden, from_domain, not_found
from hub.web.inputs import read_json_object
from hub.web.webchat import strings
from hub.web.webchat.keys import KEYS
from hub.web.webchat.limits import LIMITS
from inbox.bus import Event
from inbox.ingest import IngestError
from inbox.models import utcnow

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

STATIC = Path(__file__).resolve().parent.parent / "static"
ACCOUNT = r"{account:[a-z0-9][a-z0-9_-]{0,63}}"
# A visitor whose browser asks for none of our languages reads English, except in the languages whose
# speakers mostly read Russian.
RUSSIAN_READERS = {"uk": "ru", "be": "ru", "kk": "ru"}


def account_of(request: web.Request) -> tuple[ConfiguredAccount, WidgetOptions]:
    """The web-chat account named in the path (404 if none) and its options (503 if misconfigured)."""
    name = request.match_info["account"]
    configured = hub_of(request).accounts.get(name)
    if configured is None or configured.context.kind != "webchat":
        raise not_found(f"no web-chat account named {name!r}")
    if configured.problem:
        raise ApiError(503, "channel_unavailable", f"account {name!r}: {configured.problem}")
    try:
        options = widget_options(configured.context.options)
    except PayloadError as exc:
        raise ApiError(503, "channel_unavailable", f"account {name!r} is misconfigured: {exc}") from None
    return configured, options


def check_origin(request: web.Request, options: WidgetOptions, message: str | None = None) -> None:
    """Refuse (403) a page of a site the account does not allow, and log the refusal with its reason: a
    site owner whose widget stays silent finds why in the hub's log."""
    origin = request.headers.get("Origin")
    if options.origin_allowed(origin):
        return
    allowed = ", ".join(options.allowed_origins)
    why = "the request names no Origin" if origin is None else f"it is not in allowed_origins ({allowed})"
    log.warning(
        "web chat %s: refused %s %s from %s: %s",
        request.match_info.get("account", "?"),
        request.method,
        request.path,
        origin or "a page of no origin",
        why,
    )
    raise forbidden(message or f"the site {origin} may not use this widget")


def cors(request: web.Request, options: WidgetOptions, response: web.StreamResponse) -> None:
    origin = request.headers.get("Origin")
    if origin is None:
        return
    check_origin(request, options)
    response.headers["Access-Control-Allow-Origin"] = origin if options.allowed_origins else "*"
    response.headers["Vary"] = "Origin"


async def answering(request: web.Request, options: WidgetOptions) -> bool:
    """Does anybody answer now: within business hours (if they apply) and, if required, an agent online."""
    if options.hours == "business" and not hub_of(request).policy.business_hours.is_open(utcnow()):
        return False
    if options.require_agent_online:
        return bool(await online_agents(request))  # in any hub process
    return True


@routes.get("/widget.js")
async def widget_script(request: web.Request) -> web.StreamResponse:
    body = (STATIC / "widget.js").read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {
        "Cache-Control": "public, max-age=3600, stale-while-revalidate=86400",
        "ETag": etag,
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Access-Control-Allow-Origin": "*",
    }
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="text/javascript", charset="utf-8", headers=headers)


def visitor_language(request: web.Request, options: WidgetOptions, asked: object = None) -> str:
    """The account's language if it has one, else the page's ``data-lang`` (`asked`, or ``?lang=``), else
    the visitor's Accept-Language (English for a browser that asks for neither of ours)."""
    explicit = asked if isinstance(asked, str) else request.query.get("lang")
    return i18n.negotiate(
        request.headers.get("Accept-Language"),
        choices=(options.language, explicit),
        default="en" if request.headers.get("Accept-Language") else i18n.DEFAULT,
        aliases=RUSSIAN_READERS,
    )


@routes.get(f"/webchat/{ACCOUNT}/config")
async def config(request: web.Request) -> web.Response:
    """The widget's look and words, in the visitor's language."""
    configured, options = account_of(request)
    language = visitor_language(request, options)
    texts = i18n.Texts(language)
    by_email = configured.context.id in hub_of(request).offline_form_mail()
    shown = options.public()
    shown["title"] = options.title or texts.msg(strings.DEFAULT_TITLE)
    if options.greeting is None:
        shown["greeting"] = texts.msg(strings.DEFAULT_GREETING)
    body = {
        **shown,
        "language": language,
        "strings": strings.widget_strings(texts, answers_by_email=by_email),
    }
    keeps_files = hub_of(request).policy.attachments_dir is not None
    response = web.json_response(
        {
            **body,
            "online": await answering(request, options),
            # 0: no attach button (the account takes no files, or the hub keeps none)
            "max_file_bytes": options.max_file_bytes if keeps_files else 0,
        }
    )
    response.headers["Cache-Control"] = "no-store"
    cors(request, options, response)
    return response


def within_limit(verdict: Verdict, what: str) -> None:
    """Refuse a widget post over a rate limit: 429 with Retry-After."""
    if not verdict.allowed:
        raise ApiError(
            429,
            "rate_limited",
            f"{what}: try again in {verdict.retry_after_header} s",
            headers={"Retry-After": verdict.retry_after_header},
        )


def preflight(request: web.Request, *, headers: str | None = None) -> web.Response:
    """The answer to a CORS preflight of a widget POST (`headers`: request headers it may send)."""
    _, options = account_of(request)
    response = web.Response(status=204)
    cors(request, options, response)
    response.headers["Access-Control-Allow-Methods"] = "POST"
    if headers:
        response.headers["Access-Control-Allow-Headers"] = headers
    response.headers["Access-Control-Max-Age"] = "86400"
    return response


WidgetPost = Callable[[web.Request, ConfiguredAccount, WidgetOptions], Awaitable[web.Response]]


async def widget_post(request: web.Request, handle: WidgetPost) -> web.Response:
    """Run a widget POST with its account; its errors answered as JSON, and CORS headers either way (the
    page on the client's site must be able to read a refusal too)."""
    configured, options = account_of(request)
    try:
        response = await handle(request, configured, options)
    except (PayloadError, IngestError, ApiError) as exc:
        mapped = from_domain(exc)
        assert mapped is not None
        response = error_response(mapped)
    cors(request, options, response)
    return response


@routes.options(f"/webchat/{ACCOUNT}/offline")
async def offline_preflight(request: web.Request) -> web.Response:
    return preflight(request, headers="Content-Type")


@routes.post(f"/webchat/{ACCOUNT}/offline")
async def offline_form(request: web.Request) -> web.Response:
    """The offline form's message, as the visitor's message with their e-mail (required) on the card."""
    return await widget_post(request, _offline)


async def _offline(
    request: web.Request, configured: ConfiguredAccount, options: WidgetOptions
) -> web.Response:
    hub = hub_of(request)
    account_id = configured.context.id
    limits = request.app[LIMITS]
    within_limit(
        await limits.offline_post(account_id, request.remote, options.offline_per_minute),
        "too many messages from this address",
    )
    body: dict[str, Any] = await read_json_object(request)
    key = await request.app[KEYS].key(configured)
    now = limits.wall()
    found = current(key, account_id, body.get("token"), now=now, lifetime=options.token_lifetime)
    visitor_id, token = found if found is not None else (new_visitor_id(), None)
    person = profile({k: body.get(k) for k in ("name", "email", "phone")}, region=hub.settings.default_region)
    if person.email is None:
        raise PayloadError("give an e-mail to be answered at", "email")
    signed = verified_identity(
        body, secret=configured.context.secrets.get("identity_secret"), account_name=configured.context.name
    )
    texts = i18n.Texts(visitor_language(request, options, body.get("lang")))
    item = visitor_message(
        account_id=account_id,
        visitor_id=visitor_id,
        client_message_id=client_id(body.get("id") or uuid.uuid4().hex),
        text=message_text(body.get("text"), options.max_message_chars),
        person=person,
        page=body.get("page") if isinstance(body.get("page"), str) else None,
        subject=texts.msg(strings.OFFLINE_SUBJECT),
        offline_form=True,
        verified=(signed,) if signed is not None else (),
    )
    result = await hub.ingest.submit(item)  # a new message: the dispatch's own handler, typed
    if not result.duplicate:
        await announce(request, account_id, visitor_id, result.conversation_id)
    return web.json_response(
        {"token": token or sign(key, account_id, visitor_id, now), "message_id": result.message_id},
        status=200 if result.duplicate else 201,
    )


async def announce(request: web.Request, account_id: int, visitor_id: str, conversation_id: int) -> None:
    """Tell every socket of the visitor, in every hub process, to watch this conversation too.

    The event is for the hub processes only (no agent socket gets a ``webchat.*`` event), so it carries
    no team or assignee: reading them took one more transaction per new conversation before the first
    message's ack, on SQLite queued for the write lock behind the ingest."""
    data = {"account_id": account_id, "visitor_id": visitor_id}
    await publish(request, [Event("webchat.conversation", conversation_id=conversation_id, data=data)])
