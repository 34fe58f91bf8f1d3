"""What the web layer adds to an audit row: where the request came from (IP, user agent).

The IP is the peer address (``request.remote``); X-Forwarded-For is not trusted, since any client can
send it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from hub.login import Attempt, Via
from hub.web.auth import Principal
from inbox import audit


def client_ip(request: web.Request) -> str:
    return request.remote or "unknown"


def user_agent(request: web.Request) -> str:
    return request.headers.get("User-Agent", "")[: audit.USER_AGENT_MAX]


def origin(request: web.Request) -> dict[str, str]:
    """Where a request came from, as an audit row's detail carries it (services take it as `origin`)."""
    return {"ip": client_ip(request), "user_agent": user_agent(request)}


def login_attempt(request: web.Request, email: str, password: str, via: Via) -> Attempt:
    return Attempt(email, password, client_ip(request), user_agent(request), via)


def record_action(
    request: web.Request,
    session: AsyncSession,
    principal: Principal,
    action: str,
    entity: str,
    entity_id: int | None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit an action of `principal` in `session` (committed with the change it records)."""
    audit.record(
        session,
        action,
        entity=entity,
        entity_id=entity_id,
        actor_agent_id=principal.agent.id,
        detail={**(detail or {}), **origin(request)},
    )
