"""Availability: the status an agent sets and the presence their sockets give them.

An agent is *routable* — may be handed a new dialog — only when both say so: their status is "online"
(not "busy", not "offline") and they hold a live socket somewhere that is not idle (a tab left idle
makes them "away"). A status left "online" after the agent's last socket closed turns "offline" by
itself after `OFFLINE_AFTER` (the scheduler's :class:`StatusLapses`), so a closed laptop stops looking
available to supervisors too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final, Literal

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import audit
from inbox.bus import Event
from inbox.models import Agent, AgentPresence
from inbox.presence import PRESENCE_TTL

Status = Literal["online", "busy", "offline"]
STATUSES: Final[tuple[Status, ...]] = ("online", "busy", "offline")
Presence = Literal["online", "away", "offline"]
OFFLINE_AFTER: Final = timedelta(minutes=5)


class AvailabilityError(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def availability_event(agent_id: int, status: str, previous: str, reason: str) -> Event:
    """Seen by every agent (no conversation scope), like ``agent.presence``."""
    return Event(
        "agent.availability",
        data={"agent_id": agent_id, "status": status, "previous": previous, "reason": reason},
    )


async def set_status(
    session: AsyncSession, agent_id: int, status: str, *, now: datetime, actor_id: int | None
) -> list[Event]:
    """Set an agent's status (audited); the caller commits, then publishes and wakes the router."""
    if status not in STATUSES:
        raise AvailabilityError(f"status must be one of {', '.join(STATUSES)}", "status")
    agent = await session.get(Agent, agent_id)
    if agent is None or not agent.is_active:
        raise AvailabilityError(f"agent {agent_id} not found", "agent_id")
    previous = agent.status
    if previous == status:
        return []
    agent.status, agent.status_changed_at = status, now
    audit.record(
        session,
        "agent.availability",
        entity="agent",
        entity_id=agent_id,
        actor_agent_id=actor_id,
        detail={"from": previous, "to": status},
    )
    await session.flush()
    return [availability_event(agent_id, status, previous, "set")]


async def presence_of(
    session: AsyncSession,
    now: datetime,
    agent_ids: Iterable[int] | None = None,
    *,
    ttl: timedelta = PRESENCE_TTL,
) -> dict[int, Presence]:
    """ "online" or "away" for each agent with a live socket (an agent absent here is offline)."""
    stmt = (
        select(AgentPresence.agent_id, func.sum(AgentPresence.sockets), func.sum(AgentPresence.idle_sockets))
        .where(AgentPresence.sockets > 0, AgentPresence.seen_at >= now - ttl)
        .group_by(AgentPresence.agent_id)
    )
    if agent_ids is not None:
        stmt = stmt.where(AgentPresence.agent_id.in_(sorted(set(agent_ids))))
    found: dict[int, Presence] = {}
    for agent_id, sockets, idle in await session.execute(stmt):
        found[agent_id] = "away" if int(idle or 0) >= int(sockets or 0) else "online"
    return found


def routable(agent: Agent, presence: dict[int, Presence]) -> bool:
    """May be handed a new dialog: active, status online, and a live socket that is not idle."""
    return agent.is_active and agent.status == "online" and presence.get(agent.id) == "online"


class StatusLapses:
    """The scheduler's job kind: "online" with no socket anywhere for `OFFLINE_AFTER` becomes "offline"."""

    name = "status_lapses"

    def __init__(self, after: timedelta = OFFLINE_AFTER, ttl: timedelta = PRESENCE_TTL) -> None:
        self.after, self.ttl = after, ttl

    async def next_due(self, session: AsyncSession) -> datetime | None:
        since = await session.scalar(
            select(func.min(func.coalesce(Agent.last_socket_at, Agent.status_changed_at))).where(
                Agent.status == "online",
                ~select(AgentPresence.agent_id).where(AgentPresence.agent_id == Agent.id).exists(),
            )
        )
        return None if since is None else since + self.after

    async def run_due(self, session: AsyncSession, now: datetime, limit: int) -> list[Event]:
        live = select(AgentPresence.agent_id).where(
            AgentPresence.agent_id == Agent.id,
            AgentPresence.sockets > 0,
            AgentPresence.seen_at >= now - self.ttl,
        )
        cutoff = now - self.after
        silent = or_(
            Agent.last_socket_at <= cutoff,
            and_(
                Agent.last_socket_at.is_(None),
                or_(Agent.status_changed_at.is_(None), Agent.status_changed_at <= cutoff),
            ),
        )
        lapsed = and_(Agent.status == "online", ~live.exists(), silent)
        ids = list(await session.scalars(select(Agent.id).where(lapsed).order_by(Agent.id).limit(limit)))
        events: list[Event] = []
        for agent_id in ids:
            result = await session.execute(
                update(Agent)
                .where(Agent.id == agent_id, lapsed)
                .values(status="offline", status_changed_at=now),
                execution_options={"synchronize_session": False},
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another worker, or the agent came back meanwhile
            audit.record(
                session,
                "agent.availability",
                entity="agent",
                entity_id=agent_id,
                detail={"from": "online", "to": "offline", "reason": "no socket"},
            )
            events.append(availability_event(agent_id, "offline", "online", "no_socket"))
        await session.flush()
        return events
