"""Who is asking: the session cookie (browser) or a bearer token (API), roles, and CSRF.

* ``Authorization: Bearer <token>`` is checked against the API tokens; such requests carry no ambient
  credentials, so they need no CSRF token.
* The session cookie (HttpOnly, SameSite=Lax, Secure over https) opens a browser session. A request
  that changes something (POST, PATCH, PUT, DELETE) and is authenticated by the cookie must carry the
  session's CSRF token in ``X-CSRF-Token`` (HTML forms: the ``csrf_token`` field); GET /api/v1/me and
  the login answer tell the page its token.
* A WebSocket may also give the token in its first frame, or as ``?token=`` (kept for old API clients;
  the access log masks it); one opened with the cookie must come from this hub's own origin (no
  cross-site WebSocket hijacking).
* ``[security] allowed_networks`` restricts each role to networks: an authenticated request from
  elsewhere is a 403 ``network_not_allowed`` (:func:`network_allows`; login calls it too).

Handlers call :func:`require_agent` with the request's database session first, then read the body:
an unauthenticated caller learns nothing about what a body should look like. Authentication ends its
read transaction before returning (see the comment there).
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession
from yarl import URL

from hub import auth
from hub.web.context import hub_of
from hub.web.errors import ApiError, forbidden, unauthorized
from inbox.agents import viewer_of
from inbox.conversations import Viewer
from inbox.models import Agent, WebSession

SESSION_COOKIE = "okno_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Principal:
    agent: Agent  # teams loaded, attached to the request's session
    viewer: Viewer
    via: Literal["session", "token"]
    web_session: WebSession | None = None
    api_token_id: int | None = None

    @property
    def csrf_token(self) -> str | None:
        return self.web_session.csrf_token if self.web_session else None


def is_secure(request: web.Request) -> bool:
    """Over https (directly, or by the configured public address behind a TLS proxy)."""
    return request.secure or hub_of(request).settings.public_url.startswith("https://")


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(auth.SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        samesite="Lax",
        secure=is_secure(request),
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("use the header Authorization: Bearer <token>")
    return token.strip()


def same_origin(request: web.Request) -> bool:
    """The request's Origin (if any) is this hub: its Host, or the configured public address."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    url = URL(origin)
    allowed = {request.host}
    public = hub_of(request).settings.public_url
    if public:
        allowed.add(URL(public).raw_authority)
    return url.raw_authority in allowed


async def authenticate(
    request: web.Request,
    session: AsyncSession,
    *,
    csrf: str | None = None,
    query_token: bool = False,
    end_read: bool = True,
) -> Principal | None:
    """The principal of the request, or None when it brings no credentials.

    Credentials that are given and wrong are a 401 at once (never a silent fall-back to the cookie).
    `csrf` is the token an HTML form posted; JSON clients send the header instead. `end_read` false: a
    browser session's look-up is not committed, so that a handler which reads no body goes on reading in
    the same transaction (two round trips fewer on PostgreSQL: COMMIT, and BEGIN again).
    """
    token = _bearer(request)
    if token is None and query_token:
        token = request.query.get("token") or None
    if token is not None:
        return await token_principal(request, session, token)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    found = await auth.session_agent(session, cookie)
    if found is None:
        await session.commit()
        return None
    agent, row = found
    if not network_allows(request, agent.role):
        await session.commit()
        raise network_refused()
    if request.method in UNSAFE_METHODS:
        given = csrf if csrf is not None else request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(given.encode(), row.csrf_token.encode()):
            raise ApiError(
                403,
                "csrf_failed",
                f"missing or wrong CSRF token: send the session's token in the {CSRF_HEADER} header",
                CSRF_HEADER,
            )
    # End the read transaction (on SQLite a write lock, see hub.db) before the handler reads the body
    # from a possibly slow client; the loaded rows stay usable (expire_on_commit is off).
    if end_read:
        await session.commit()
    return Principal(agent, viewer_of(agent), "session", row)


async def token_principal(request: web.Request, session: AsyncSession, token: str) -> Principal:
    """The principal of an API token (from the header, a WebSocket's first frame or ``?token=``)."""
    found = await auth.token_owner(session, token)
    await session.commit()  # the last-used time; and see the end of `authenticate`
    if found is None:
        raise unauthorized("the API token is not valid (wrong, revoked, or its agent deactivated)")
    agent, row = found
    if not network_allows(request, agent.role):
        raise network_refused()
    return Principal(agent, viewer_of(agent), "token", api_token_id=row.id)


async def authenticate_reading(
    request: web.Request, session: AsyncSession, *, end_read: bool = True
) -> Principal | None:
    """:func:`authenticate` for a request that only reads, in its read-only `session`
    (hub.db.read_sessionmaker), which never waits for SQLite's write lock. A browser session's check
    writes nothing; an API token's use is noted in a writing session of its own, and only when due
    (:func:`hub.auth.use_due`, once a minute), instead of every request taking the write lock to learn
    who asks. `end_read` false: the look-up's read transaction goes on (see :func:`authenticate`)."""
    token = _bearer(request)
    if token is None or request.method in UNSAFE_METHODS:
        return await authenticate(request, session, end_read=end_read)
    found = await auth.token_owner(session, token, note_use=False)
    if end_read or found is None or auth.use_due(found[1]):
        await session.commit()  # ends the read, as `authenticate` does
    if found is None or auth.use_due(found[1]):
        async with hub_of(request).sessionmaker() as writing:
            return await token_principal(request, writing, token)
    agent, row = found
    if not network_allows(request, agent.role):
        raise network_refused()
    return Principal(agent, viewer_of(agent), "token", api_token_id=row.id)


def network_allows(request: web.Request, role: str) -> bool:
    """May an agent of `role` work from the request's address? (``[security] allowed_networks``)

    The address is the connection's peer (``request.remote``): no forwarding header is trusted.
    """
    networks = hub_of(request).settings.security.networks(role)
    if not networks:
        return True
    try:
        address = ipaddress.ip_address((request.remote or "").partition("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def network_refused() -> ApiError:
    return ApiError(403, "network_not_allowed", "your role may not work from this network address")


async def require_agent(request: web.Request, session: AsyncSession, *roles: str) -> Principal:
    """The authenticated principal (401 if none); with `roles`, one of them (403 otherwise)."""
    principal = await authenticate(request, session)
    if principal is None:
        raise unauthorized()
    if roles and principal.agent.role not in roles:
        raise forbidden(f"only {' or '.join(roles)} may do this")
    return principal
