"""The scheduler's job kind for unanswered assignments: no human reply within the team's
``answer_timeout_seconds`` after a dialog was assigned → it goes to the next agent.

The next agent is picked as routing would (the team's strategy among its routable members with room,
round robin when the team routes manually), never the one who let it wait. The move is a hand-over
(:func:`~inbox.routing.router.hand_over`): a service note on the timeline and a ``handover`` reporting
event with who had it, who has it and why. With nobody else to take it, the dialog stays where it is
and is looked at again after another time-out. A reply clears the due time (inbox.replies).

Claimed like the snoozes: the due dialog is re-read under lock (FOR UPDATE SKIP LOCKED on PostgreSQL,
the write lock on SQLite) and its due time cleared in the same transaction, so of several scheduler
workers exactly one moves it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.bus import Event
from inbox.models import Conversation, Team
from inbox.presence import PRESENCE_TTL
from inbox.routing.availability import presence_of, routable
from inbox.routing.capacity import loads
from inbox.routing.router import Stamps, hand_over, lock_agents, members
from inbox.routing.strategies import choose

REASON = "answer_timeout"


def _due(now: datetime | None = None) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = [
        Conversation.reroute_due.is_not(None),
        Conversation.assignee_id.is_not(None),
        Conversation.status == "open",
    ]
    if now is not None:
        clauses.append(Conversation.reroute_due <= now)
    return and_(*clauses)


class AnswerTimeouts:
    name = "answer_timeouts"

    def __init__(self, ttl: timedelta = PRESENCE_TTL) -> None:
        self.ttl = ttl

    async def next_due(self, session: AsyncSession) -> datetime | None:
        return await session.scalar(select(func.min(Conversation.reroute_due)).where(_due()))

    async def run_due(self, session: AsyncSession, now: datetime, limit: int) -> list[Event]:
        return await reroute_unanswered(session, now, limit, ttl=self.ttl)


async def reroute_unanswered(
    session: AsyncSession, now: datetime, limit: int = 50, *, ttl: timedelta = PRESENCE_TTL
) -> list[Event]:
    """Hand over the assignments whose answer time-out passed by `now`; the caller commits."""
    due = _due(now)
    postgres = session.get_bind().dialect.name == "postgresql"
    stmt = select(Conversation.id).where(due).order_by(Conversation.reroute_due, Conversation.id).limit(limit)
    if postgres:
        stmt = stmt.with_for_update(skip_locked=True)
    events: list[Event] = []
    for conversation_id in list(await session.scalars(stmt)):
        conv = await session.get_one(Conversation, conversation_id, populate_existing=True)
        if conv.team_id is None or conv.assignee_id is None:
            conv.reroute_due = None
            continue
        team = await session.get_one(Team, conv.team_id)
        member_ids = await members(session, team.id)
        agents = await lock_agents(session, set(member_ids))
        presence = await presence_of(session, now, member_ids, ttl=ttl)
        others = [a for a in agents if a.id != conv.assignee_id and routable(a, presence)]
        found = await loads(session, others, team)
        strategy = "round_robin" if team.strategy == "manual" else team.strategy
        chosen = choose(strategy, found.values(), conv.channel_kind)
        if chosen is None:
            timeout = team.answer_timeout_seconds
            conv.reroute_due = now + timedelta(seconds=timeout) if timeout else None
            continue
        stamp = Stamps(now, found.values()).next()
        events.extend(await hand_over(session, conv, chosen, team, now, reason=REASON, stamp=stamp))
    await session.flush()
    return events
