"""A team's routing settings, changed by an admin or the team's supervisor: its strategy, the default
capacity of its members, and the answer timeout after which an unanswered assignment moves on.

Configuration (``[routing.teams.<name>]``) gives a team its first values and re-applies them on every
start — until someone changes the team's routing in the hub. From then on the database wins: the audit
row ``team.routing`` that every change writes marks the team as edited, and the start leaves it alone
(:func:`edited_teams`). Nothing else to keep in step: the router reads the team's row on every pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import audit
from inbox.models import AuditLog, Team
from inbox.routing.router import RoutingError
from inbox.routing.strategies import STRATEGIES

ACTION = "team.routing"
MAX_CAPACITY = 10_000
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600


async def set_team_routing(
    session: AsyncSession,
    team_id: int,
    *,
    strategy: str,
    agent_capacity: int | None,
    answer_timeout_seconds: int | None,
    actor_id: int | None,
    origin: Mapping[str, Any] | None = None,
) -> Team:
    """Replace the team's routing settings (audited, with the values before); the caller commits and wakes
    the router. A bad value is a :class:`RoutingError` naming its field."""
    if strategy not in STRATEGIES:
        raise RoutingError(f"strategy must be one of {', '.join(STRATEGIES)}", "strategy")
    if agent_capacity is not None and not 0 <= agent_capacity <= MAX_CAPACITY:
        raise RoutingError(f"agent_capacity must be between 0 and {MAX_CAPACITY}", "agent_capacity")
    if answer_timeout_seconds is not None and not 1 <= answer_timeout_seconds <= MAX_TIMEOUT_SECONDS:
        raise RoutingError(
            f"answer_timeout_seconds must be between 1 and {MAX_TIMEOUT_SECONDS}", "answer_timeout_seconds"
        )
    team = await session.get(Team, team_id)
    if team is None:
        raise RoutingError(f"team {team_id} not found", "id")
    before = {
        "strategy": team.strategy,
        "agent_capacity": team.agent_capacity,
        "answer_timeout_seconds": team.answer_timeout_seconds,
    }
    after = {
        "strategy": strategy,
        "agent_capacity": agent_capacity,
        "answer_timeout_seconds": answer_timeout_seconds,
    }
    team.strategy = strategy
    team.agent_capacity = agent_capacity
    team.answer_timeout_seconds = answer_timeout_seconds
    audit.record(
        session,
        "team.routing",
        entity="team",
        entity_id=team.id,
        actor_agent_id=actor_id,
        detail={"name": team.name, "before": before, **after, **dict(origin or {})},
    )
    await session.flush()
    return team


async def edited_teams(session: AsyncSession) -> set[int]:
    """The teams whose routing someone changed in the hub: configuration no longer overrides them."""
    rows = await session.scalars(
        select(AuditLog.entity_id).where(AuditLog.action == ACTION, AuditLog.entity == "team").distinct()
    )
    return {r for r in rows if r is not None}
