"""Service events about whether a client can be reached, shown on their conversation.

"The user blocked the bot", "… unblocked it", VK's message_deny / message_allow: a channel hands in a
:class:`~inbox.items.ConversationMark`, stored (:func:`as_event`) as a message of kind ``"event"`` on the
contact's conversation for that account (never opening a dialog of its own) whose meta keeps
``{"mark": {"blocked": bool, "reason": str}}``.

:func:`apply_mark` stores it through the ingest path and, in the same transaction, sets (or clears)
``Conversation.blocked_reason`` on the conversation it joined and on the contact's other unresolved
conversations on that account, so agents see why replies fail before they write one. A redelivered event is a
duplicate and changes nothing. The outbox clears the mark again when a later reply gets through.

:mod:`inbox.dispatch` routes every :class:`~inbox.items.ConversationMark` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.bus import Event, NullPublisher, Publisher
from inbox.conversations import scope
from inbox.ingest import stage_batch
from inbox.items import ConversationMark, InboundMessage
from inbox.models import Conversation, utcnow
from inbox.policy import InboxPolicy

MARK_KEY = "mark"  # the stored event's meta keeps what the mark said


def as_event(mark: ConversationMark) -> InboundMessage:
    """The service event a mark is stored as: kind "event", so it never opens a dialog of its own."""
    return InboundMessage(
        account_id=mark.account_id,
        external_id=mark.external_id,
        sender=mark.sender,
        text=mark.reason,
        sent_at=mark.sent_at,
        kind="event",
        meta={**mark.meta, MARK_KEY: {"blocked": mark.blocked, "reason": mark.reason}},
        raw=mark.raw,
    )


@dataclass(frozen=True, slots=True)
class MarkResult:
    contact_id: int
    conversation_id: int
    message_id: int
    duplicate: bool
    blocked_reason: str | None
    conversation_ids: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id,
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
            "duplicate": self.duplicate,
            "blocked_reason": self.blocked_reason,
        }


async def apply_mark(
    session: AsyncSession,
    mark: ConversationMark,
    policy: InboxPolicy | None = None,
    publisher: Publisher | None = None,
) -> MarkResult:
    """Store `mark` and set or clear the contact's conversations' blocked reason; commit."""
    blocked, reason = mark.blocked, mark.reason
    results, events = await stage_batch(session, [as_event(mark)], policy or InboxPolicy())
    result = results[0]
    if isinstance(result, Exception):
        await session.commit()  # as the ingest path does: the refusal staged nothing
        raise result
    if result.duplicate:
        await session.commit()  # nothing staged; a commit, unlike a rollback, keeps the caller's objects
        return MarkResult(result.contact_id, result.conversation_id, result.message_id, True, None)
    value = reason if blocked else None
    convs = list(
        await session.scalars(
            select(Conversation)
            .where(
                Conversation.contact_id == result.contact_id,
                Conversation.account_id == mark.account_id,
                or_(Conversation.status != "resolved", Conversation.id == result.conversation_id),
            )
            .order_by(Conversation.id)
        )
    )
    now = utcnow()
    changed = []
    for conv in convs:
        if conv.blocked_reason != value:
            conv.blocked_reason = value
            conv.updated_at = now
            changed.append(conv)
    await session.commit()
    sink = publisher or NullPublisher()
    for event in events:
        await sink.publish(event)
    for conv in changed:
        await sink.publish(Event("conversation.updated", **scope(conv), data={"blocked_reason": value}))
    return MarkResult(
        result.contact_id,
        result.conversation_id,
        result.message_id,
        False,
        value,
        tuple(c.id for c in convs),
    )
