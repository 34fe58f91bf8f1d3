"""Capacity: how many open dialogs an agent may hold, and how many they hold now.

An agent's capacity is their own (``Agent.capacity``) or, when they have none, the default of the team
routing the dialog (``Team.agent_capacity``), else :data:`DEFAULT_CAPACITY`. An optional limit per channel
kind (``Agent.channel_capacity``, e.g. ``{"webchat": 3}``) caps the dialogs of that kind on top of it: a
chat agent may hold 3 chats but 20 e-mails. The load counts open and pending dialogs assigned to the
agent; snoozed and resolved ones do not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Agent, Conversation, Team

DEFAULT_CAPACITY = 10
LOADED_STATUSES = ("open", "pending")


def capacity_of(agent: Agent, team: Team | None) -> int:
    if agent.capacity is not None:
        return agent.capacity
    if team is not None and team.agent_capacity is not None:
        return team.agent_capacity
    return DEFAULT_CAPACITY


@dataclass(slots=True)
class AgentLoad:
    """One agent as routing sees them: limits, current load, and when they were last given a dialog."""

    agent_id: int
    capacity: int
    channel_capacity: dict[str, int] = field(default_factory=dict)
    open_total: int = 0
    open_by_kind: Counter[str] = field(default_factory=Counter)
    last_assigned_at: datetime | None = None

    def has_room(self, channel_kind: str) -> bool:
        if self.open_total >= self.capacity:
            return False
        limit = self.channel_capacity.get(channel_kind)
        return limit is None or self.open_by_kind[channel_kind] < limit

    def took(self, channel_kind: str, now: datetime) -> None:
        """Count a dialog just assigned (the decision continues in the same transaction)."""
        self.open_total += 1
        self.open_by_kind[channel_kind] += 1
        self.last_assigned_at = now


def _channel_limits(raw: dict[str, object] | None) -> dict[str, int]:
    return {str(k): int(v) for k, v in (raw or {}).items() if isinstance(v, int) and not isinstance(v, bool)}


async def loads(session: AsyncSession, agents: Iterable[Agent], team: Team | None) -> dict[int, AgentLoad]:
    """The load of each agent, counted in the database (call it after locking the agents' rows)."""
    by_id = {a.id: a for a in agents}
    found = {
        a.id: AgentLoad(
            a.id, capacity_of(a, team), _channel_limits(a.channel_capacity), 0, Counter(), a.last_assigned_at
        )
        for a in by_id.values()
    }
    if not found:
        return found
    rows = await session.execute(
        select(Conversation.assignee_id, Conversation.channel_kind, func.count())
        .where(Conversation.assignee_id.in_(sorted(found)), Conversation.status.in_(LOADED_STATUSES))
        .group_by(Conversation.assignee_id, Conversation.channel_kind)
    )
    for agent_id, kind, count in rows:
        load = found[agent_id or 0]  # never None: the WHERE names agents
        load.open_total += int(count)
        load.open_by_kind[kind] += int(count)
    return found
