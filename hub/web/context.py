"""What the web app keeps: typed application keys and the accessors handlers use."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable

import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from hub.login import LoginGuard
from hub.ratelimit import Limiters
from hub.runtime import Hub
from inbox.bus import Event

log = logging.getLogger(__name__)

HUB = web.AppKey("okno_hub", Hub)
# One Jinja environment per page language (hub.web.ui.pages.templates).
TEMPLATES = web.AppKey("okno_templates", dict[str, jinja2.Environment])
# Live agent WebSockets: closed on shutdown (presence is shared by every process: Hub.presence).
SOCKETS = web.AppKey("okno_sockets", weakref.WeakSet[web.WebSocketResponse])
# The rate limiters of this app's doors (hub.ratelimit_redis.limiters_for: shared on Redis with bus_url).
RATE_LIMITS = web.AppKey("okno_rate_limits", Limiters)
# The log-in rate limits (replace before start-up to inject a clock in tests).
LOGIN_GUARD = web.AppKey("okno_login_guard", LoginGuard)


def hub_of(request: web.Request) -> Hub:
    return request.app[HUB]


def db(request: web.Request) -> AsyncSession:
    """A new database session (use as ``async with db(request) as session``)."""
    return request.app[HUB].sessionmaker()


def db_read(request: web.Request) -> AsyncSession:
    """A new read-only database session: it never waits for SQLite's write lock, and refuses to write
    (hub.db.read_sessionmaker). For code paths that only read."""
    return request.app[HUB].reader()


async def online_agents(request: web.Request, session: AsyncSession | None = None) -> set[int]:
    """The agents with a live socket in any hub process (pass the session of an open transaction)."""
    return await request.app[HUB].presence.online(session)


async def publish(request: web.Request, events: Iterable[Event]) -> None:
    """Publish events of a committed change; a lost notification must not fail the request."""
    bus = request.app[HUB].bus
    for event in events:
        try:
            await bus.publish(event)
        except Exception:
            log.exception("publishing %s failed", event.type)
