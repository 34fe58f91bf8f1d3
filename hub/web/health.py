"""Operations endpoints: ``/healthz`` (the process answers), ``/readyz`` (it can do its work) and
``/metrics`` (Prometheus text format, :mod:`hub.metrics`).

* ``GET /healthz``: 200 ``{"status": "alive"}``, touching nothing (a liveness probe: restart the process
  when it stops answering). Public.
* ``GET /readyz``: 200 ``{"status": "ready", …}`` when the database answers, Redis answers (when
  ``bus_url`` is set), and every enabled channel account this process runs is ``running``; else 503
  ``{"status": "not_ready", "reasons": [...], "checks": {...}}`` — each reason names what is wrong
  ("database: …", "redis: …", "account shop: auth_failed"). Each check has a ceiling of
  ``CHECK_SECONDS``: a database that hangs is as unready as one that refuses. Public, so that a load
  balancer can probe it; the details of a failure (error texts, account details) only go to a caller
  who may read the metrics.
* ``GET /metrics``: for a caller on the loopback whose request no proxy forwarded (no ``Forwarded``,
  ``X-Forwarded-For`` or ``X-Real-IP``: behind a proxy on the same machine every request comes from the
  loopback), if ``[metrics] allow_loopback``; and for anyone presenting ``Authorization: Bearer <token>``
  with ``[metrics] token`` (OKNO_METRICS__TOKEN), compared in constant time. Others get 401 (a token is
  configured) or 403.

``/readyz`` and ``/metrics`` are rate-limited per IP address (``[metrics] requests_per_minute``; 429 with
``Retry-After``; shared by all processes on Redis with ``bus_url``): each costs a database round trip.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import sqlite3
from typing import Any, Final

import redis.asyncio as redis
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError

from hub import metrics
from hub.ratelimit import Limiter
from hub.runtime import Hub
from hub.settings import MetricsSettings
from hub.web.context import HUB, RATE_LIMITS, SOCKETS
from hub.web.errors import ApiError, unauthorized
from hub.web.webchat.socket import VISITOR_SOCKETS

routes = web.RouteTableDef()

CHECK_SECONDS: Final = 5.0
PROXY_HEADERS: Final = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
# States of a running account's connector in which this process cannot do its work for that account.
# "standby" is ready: another process holds the account and runs it (hub.holds).
NOT_READY_STATES: Final = frozenset({"retrying", "auth_failed", "misconfigured", "stopped"})
LIMITER = web.AppKey("okno_health_limiter", Limiter)
REDIS = web.AppKey("okno_health_redis", redis.Redis)


def install(app: web.Application, hub: Hub) -> None:
    """The rate limit of /readyz and /metrics, and (with ``bus_url``) the Redis client /readyz pings."""
    app[LIMITER] = app[RATE_LIMITS].limiter("health", hub.settings.metrics.requests_per_minute, 60.0)
    if hub.settings.bus_url:
        app[REDIS] = redis.Redis.from_url(
            hub.settings.bus_url, socket_connect_timeout=CHECK_SECONDS, socket_timeout=CHECK_SECONDS
        )

        async def close(app: web.Application) -> None:
            await app[REDIS].aclose()

        app.on_cleanup.append(close)


def may_read_metrics(request: web.Request, settings: MetricsSettings) -> bool:
    """A bearer token equal to ``[metrics] token``, or (if allowed) a loopback caller no proxy forwarded."""
    if settings.token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), settings.token.encode()
        ):
            return True
    if not settings.allow_loopback or any(h in request.headers for h in PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:  # a unix socket: no address
        return False


async def _limit(request: web.Request) -> None:
    verdict = await request.app[LIMITER].hit(request.remote or "")
    if not verdict.allowed:
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests to {request.path}: try again in {verdict.retry_after_header} s",
            headers={"Retry-After": verdict.retry_after_header},
        )


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {CHECK_SECONDS:g} s"
    reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text_ = " ".join(str(reason).split())
    return f"{reason.__class__.__name__}: {text_}" if text_ else reason.__class__.__name__


def _ping(conn: Connection) -> None:
    """``SELECT 1`` on the driver's connection, outside any transaction: on SQLite a transaction of ours
    opens with BEGIN IMMEDIATE (hub.db), and a probe must not queue for the write lock behind the ingest."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute("SELECT 1")
        cursor.fetchall()
    finally:
        cursor.close()


def _sqlite_file(url: str) -> str | None:
    """The file of a SQLite database on disk (None for PostgreSQL or a database in memory)."""
    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:" or "mode=memory" in name:
        return None
    return name


def _ping_file(path: str) -> None:
    """Read the schema through a connection of its own, read-only and outside the hub's pool: every
    transaction of the hub takes the write lock (hub.db), and a probe must not queue behind the ingest for
    a pooled connection or the lock. An unreadable or missing file fails here (mode=ro creates nothing)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=CHECK_SECONDS)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
    finally:
        conn.close()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"}, headers={"Cache-Control": "no-store"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    await _limit(request)
    hub = request.app[HUB]
    detailed = may_read_metrics(request, hub.settings.metrics)
    reasons: list[str] = []
    checks: dict[str, Any] = {}

    def failed(name: str, exc: BaseException) -> dict[str, Any]:
        why = _why(exc)
        reasons.append(f"{name}: {why}" if detailed else f"{name}: unavailable")
        return {"ok": False, "detail": why if detailed else None}

    try:
        async with asyncio.timeout(CHECK_SECONDS):
            sqlite_file = _sqlite_file(hub.settings.database_url)
            if sqlite_file is not None:
                await asyncio.to_thread(_ping_file, sqlite_file)
            else:
                async with hub.engine.connect() as conn:
                    await conn.run_sync(_ping)
        checks["database"] = {"ok": True}
    except Exception as exc:
        checks["database"] = failed("database", exc)
    client = request.app.get(REDIS)
    if client is not None:
        try:
            async with asyncio.timeout(CHECK_SECONDS):
                await client.ping()
            checks["redis"] = {"ok": True}
        except Exception as exc:
            checks["redis"] = failed("redis", exc)
    accounts: dict[str, Any] = {}
    for name, configured in sorted(hub.accounts.items()):
        config = hub.settings.accounts.get(name)
        state = hub.supervisor.states.get(configured.context.id)
        if state is None or (config is not None and not config.enabled):
            continue  # not run by this process, or switched off on purpose
        ok = state.state not in NOT_READY_STATES
        accounts[name] = {"ok": ok, "state": state.state, "detail": state.detail if detailed else None}
        if not ok:
            detail = f" ({state.detail})" if detailed and state.detail else ""
            reasons.append(f"account {name}: {state.state}{detail}")
    checks["accounts"] = accounts
    ready = not reasons
    body = {"status": "ready" if ready else "not_ready", "reasons": reasons, "checks": checks}
    return web.json_response(body, status=200 if ready else 503, headers={"Cache-Control": "no-store"})


@routes.get("/metrics")
async def metrics_text(request: web.Request) -> web.Response:
    await _limit(request)
    hub = request.app[HUB]
    settings = hub.settings.metrics
    if not may_read_metrics(request, settings):
        if settings.token:
            raise unauthorized("give the metrics token: Authorization: Bearer <token>")
        raise ApiError(
            403,
            "forbidden",
            "metrics are served to loopback callers no proxy forwarded; set [metrics] token "
            "(OKNO_METRICS__TOKEN) to read them from elsewhere",
        )
    accounts = []
    for name, configured in hub.accounts.items():
        state = hub.supervisor.states.get(configured.context.id)
        accounts.append(
            metrics.Account(
                configured.context.id,
                name,
                configured.context.kind,
                state.state if state is not None else None,
                state.restarts if state is not None else 0,
            )
        )
    visitors = request.app.get(VISITOR_SOCKETS)
    async with hub.sessionmaker() as session:
        figures = await metrics.read_state(
            session, accounts, len(request.app[SOCKETS]), len(visitors) if visitors is not None else 0
        )
    return web.Response(
        body=metrics.exposition(figures),
        headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"},
    )
