"""Service events about whether a client can be reached, shown on their conversation.

"The user blocked the bot", "… unblocked it", VK's message_deny / message_allow: a channel builds the item
with :func:`mark_item` — an :class:`~inbox.items.InboundMessage` of kind ``"event"`` (stored on the contact's
conversation for that account, never opening a dialog of its own) carrying ``meta["mark"] =
{"blocked": bool, "reason": str}``.

:func:`apply_mark` stores it through the ingest path and, in the same transaction, sets (or clears)
``Conversation.blocked_reason`` on the conversation it joined and on the contact's other unresolved
conversations on that account, so agents see why replies fail before they write one. A redelivered event is a
duplicate and changes nothing. The outbox clears the mark again when a later reply gets through.

The ingest path alone stores the event but does not touch ``blocked_reason``; whoever feeds items in (the
hub's sink, `okno ingest`) routes items for which :func:`is_mark` holds here instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.bus import Event, NullPublisher, Publisher
from inbox.conversations import scope
from inbox.ingest import stage_batch
from inbox.items import InboundMessage, Sender
from inbox.models import Conversation, utcnow
from inbox.policy import InboxPolicy

MARK_KEY = "mark"


def mark_item(
    *,
    account_id: int,
    external_id: str,
    sender: Sender,
    blocked: bool,
    reason: str,
    sent_at: datetime | None = None,
    meta: Mapping[str, Any] | None = None,
    raw: Any = None,
) -> InboundMessage:
    """A service event saying the client blocked (or unblocked) the channel; `reason` is what agents read."""
    return InboundMessage(
        account_id=account_id,
        external_id=external_id,
        sender=sender,
        text=reason,
        sent_at=sent_at,
        kind="event",
        meta={**(meta or {}), MARK_KEY: {"blocked": blocked, "reason": reason}},
        raw=raw,
    )


def mark_of(item: object) -> tuple[bool, str] | None:
    """(blocked, reason) if `item` is a mark, else None."""
    if not isinstance(item, InboundMessage) or item.kind != "event":
        return None
    mark = item.meta.get(MARK_KEY)
    if not isinstance(mark, Mapping) or not isinstance(mark.get("blocked"), bool):
        return None
    return bool(mark["blocked"]), str(mark.get("reason") or "")


def is_mark(item: object) -> bool:
    return mark_of(item) is not None


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
    item: InboundMessage,
    policy: InboxPolicy | None = None,
    publisher: Publisher | None = None,
) -> MarkResult:
    """Store the mark `item` and set or clear the contact's conversations' blocked reason; commit."""
    mark = mark_of(item)
    if mark is None:
        raise ValueError("apply_mark() takes items built by mark_item()")
    blocked, reason = mark
    results, events = await stage_batch(session, [item], policy or InboxPolicy())
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
                Conversation.account_id == item.account_id,
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
