"""A client's whole timeline across channels: the messages of their conversations (with internal notes)
and their calls, in one list, oldest first. Only what the viewer may see: conversations of other queues
are left out, and so are calls that belong to such a conversation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from inbox.conversations import Viewer, visible
from inbox.models import Call, Conversation, Message

LIMIT = 300
_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the timeline: a message (with its conversation) or a call."""

    kind: Literal["message", "call"]
    at: datetime
    message: Message | None = None
    call: Call | None = None
    conversation: Conversation | None = None


def message_time(message: Message) -> datetime:
    """When it happened: a client's own send time if the channel gave one, else when it was stored."""
    if message.direction == "in" and message.sent_at is not None:
        return message.sent_at
    return message.created_at


def call_time(call: Call) -> datetime:
    return call.started_at or call.answered_at or call.ended_at or _EARLIEST


async def contact_timeline(
    session: AsyncSession, contact_id: int, viewer: Viewer, *, limit: int = LIMIT
) -> list[Entry]:
    """The latest `limit` entries of the card `contact_id`, oldest first (attachments loaded)."""
    convs = {
        c.id: c
        for c in await session.scalars(
            select(Conversation).where(Conversation.contact_id == contact_id, visible(viewer))
        )
    }
    entries: list[Entry] = []
    if convs:
        messages = await session.scalars(
            select(Message)
            .where(Message.conversation_id.in_(sorted(convs)))
            .options(selectinload(Message.attachments))
            .order_by(Message.id.desc())
            .limit(limit)
        )
        entries.extend(
            Entry("message", message_time(m), message=m, conversation=convs[m.conversation_id])
            for m in messages
        )
    calls = await session.scalars(
        select(Call)
        .where(
            Call.contact_id == contact_id,
            or_(Call.conversation_id.is_(None), Call.conversation_id.in_(sorted(convs) or [-1])),
        )
        .order_by(Call.id.desc())
        .limit(limit)
    )
    entries.extend(
        Entry("call", call_time(c), call=c, conversation=convs.get(c.conversation_id or -1)) for c in calls
    )
    entries.sort(key=_order)
    return entries[-limit:]


def _order(entry: Entry) -> tuple[datetime, int, int]:
    row = entry.message if entry.message is not None else entry.call
    return entry.at, 0 if entry.kind == "call" else 1, row.id if row is not None else 0
