"""The audit log: who did what, when — log-in attempts and admin actions — recorded and listed.

Rows are written by the service or handler that does the thing, in the same transaction (a failed log-in
in a short transaction of its own). `detail` is JSON and never holds a secret (no password, no token
value). Listing is newest first, paged, filterable by action, agent and time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import AuditLog, utcnow

LOGIN: Final = "login"
# What a log-in attempt came to (`detail["result"]` of a LOGIN row).
LOGIN_RESULTS: Final = (
    "success",
    "wrong_password",
    "unknown_account",
    "inactive",
    "rate_limited",
    "network_not_allowed",
)
USER_AGENT_MAX: Final = 300


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """`agent_id` matches rows the agent did and rows about the agent (e.g. log-ins to their account)."""

    action: str | None = None
    agent_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def record(
    session: AsyncSession,
    action: str,
    *,
    entity: str,
    entity_id: int | None = None,
    actor_agent_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    """Add one row to the session (the caller commits, with the change it records)."""
    row = AuditLog(
        actor_agent_id=actor_agent_id,
        action=action[:40],
        entity=entity[:40],
        entity_id=entity_id,
        detail=dict(detail or {}),
        created_at=utcnow(),
    )
    session.add(row)
    return row


def login_detail(email: str, ip: str, user_agent: str, result: str, via: str) -> dict[str, Any]:
    """The `detail` of a LOGIN row: the e-mail as typed (cut to 254), where from, and what came of it."""
    return {
        "email": email[:254],
        "ip": ip,
        "user_agent": user_agent[:USER_AGENT_MAX],
        "result": result,
        "via": via,
    }


async def list_entries(
    session: AsyncSession, flt: AuditFilter = AuditFilter(), *, limit: int = 50, offset: int = 0
) -> list[AuditLog]:
    """Rows matching `flt`, newest first."""
    query = select(AuditLog)
    if flt.action is not None:
        query = query.where(AuditLog.action == flt.action)
    if flt.agent_id is not None:
        query = query.where(
            or_(
                AuditLog.actor_agent_id == flt.agent_id,
                and_(AuditLog.entity == "agent", AuditLog.entity_id == flt.agent_id),
            )
        )
    if flt.since is not None:
        query = query.where(AuditLog.created_at >= flt.since)
    if flt.until is not None:
        query = query.where(AuditLog.created_at < flt.until)
    query = query.order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(limit).offset(offset)
    return list(await session.scalars(query))
