"""The scheduler's first job kind: a snoozed conversation whose time has come opens again.

Its status goes back to open and ``snoozed_until`` is cleared, an audit row records the change (actor:
nobody — the scheduler) and ``conversation.updated`` tells the agents' lists, as a status change by hand
does. Claimed by a conditional UPDATE, so of several workers exactly one wakes each conversation.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.bus import Event
from inbox.conversations import scope
from inbox.models import AuditLog, Conversation


class SnoozeEnds:
    name = "snooze_ends"

    async def next_due(self, session: AsyncSession) -> datetime | None:
        return await session.scalar(
            select(func.min(Conversation.snoozed_until)).where(Conversation.status == "snoozed")
        )

    async def run_due(self, session: AsyncSession, now: datetime, limit: int) -> list[Event]:
        return await wake_snoozed(session, now, limit)


async def wake_snoozed(session: AsyncSession, now: datetime, limit: int = 50) -> list[Event]:
    """Open the conversations whose snooze ended by `now` (up to `limit`); the caller commits."""
    due = and_(Conversation.status == "snoozed", Conversation.snoozed_until <= now)
    stmt = select(Conversation.id).where(due).order_by(Conversation.snoozed_until, Conversation.id)
    stmt = stmt.limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    events = []
    for conversation_id in list(await session.scalars(stmt)):
        result = await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, due)
            .values(status="open", snoozed_until=None, updated_at=now),
            execution_options={"synchronize_session": False},
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another worker woke it first
        conv = await session.get_one(Conversation, conversation_id, populate_existing=True)
        session.add(
            AuditLog(
                actor_agent_id=None,
                action="conversation.status",
                entity="conversation",
                entity_id=conversation_id,
                detail={"from": "snoozed", "to": "open", "reason": "snooze ended"},
            )
        )
        events.append(
            Event(
                "conversation.updated",
                **scope(conv),
                data={"status": "open", "previous": "snoozed", "reason": "snooze_ended"},
            )
        )
    await session.flush()
    return events
