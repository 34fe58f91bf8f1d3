"""What a web-chat visitor may read: their own conversations on one account, and the replies released.

A visitor sees the messages they wrote and the replies released to them — never internal notes, never a
reply still queued or failed, never another client's conversation. A conversation is the visitor's only
when that visitor started it (`Conversation.visitor_id`): not because their card holds it, so neither an
e-mail typed into a form nor an agent's merge of two cards shows a visitor anyone else's conversations
(and the ingest path threads a visitor's messages only into their own conversations).

When the widget shows replies, :func:`mark_delivered` turns them "delivered" for the agents. How a message
looks in the widget is the socket's business (:mod:`hub.web.webchat.history`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from inbox.bus import Event
from inbox.conversations import scope
from inbox.models import Agent, Attachment, Conversation, Message

HISTORY_LIMIT: Final = 200
SEEN_LIMIT: Final = 200  # ids one "seen" frame may mark
RELEASED: Final = ("sent", "delivered")


async def conversations_of(session: AsyncSession, account_id: int, visitor_id: str) -> list[Conversation]:
    """The conversations this visitor started on this account, oldest first."""
    rows = await session.scalars(
        select(Conversation)
        .where(Conversation.account_id == account_id, Conversation.visitor_id == visitor_id)
        .order_by(Conversation.id)
    )
    return list(rows)


def _shown() -> Any:
    return and_(
        Message.kind == "message",
        or_(
            Message.direction == "in",
            and_(Message.direction == "out", Message.delivery_status.in_(RELEASED)),
        ),
    )


async def messages_of(
    session: AsyncSession, conversation_ids: Iterable[int], *, limit: int = HISTORY_LIMIT
) -> list[Message]:
    """The latest messages the visitor may see in these conversations, oldest first."""
    ids = sorted(set(conversation_ids))
    if not ids:
        return []
    rows = await session.scalars(
        select(Message)
        .where(Message.conversation_id.in_(ids), _shown())
        .options(selectinload(Message.attachments))  # the widget shows each message's files
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return sorted(rows, key=lambda m: m.id)


async def messages_by_id(
    session: AsyncSession, conversation_ids: Iterable[int], message_ids: Iterable[int]
) -> list[Message]:
    """Those of `message_ids` the visitor may see in these conversations, oldest first."""
    ids, convs = sorted(set(message_ids)), sorted(set(conversation_ids))
    if not ids or not convs:
        return []
    rows = await session.scalars(
        select(Message)
        .where(Message.id.in_(ids), Message.conversation_id.in_(convs), _shown())
        .options(selectinload(Message.attachments))
        .order_by(Message.id)
    )
    return list(rows)


async def visitor_file(
    session: AsyncSession, account_id: int, visitor_id: str, attachment_id: int
) -> Attachment | None:
    """A stored file of a message this visitor may see (their own, or a reply released to them) in a
    conversation they started on this account; None for anything else, which the caller answers 404
    (a visitor learns nothing about files that are not theirs)."""
    return await session.scalar(
        select(Attachment)
        .join(Message, Message.id == Attachment.message_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Attachment.id == attachment_id,
            Attachment.sha256.is_not(None),
            Conversation.account_id == account_id,
            Conversation.visitor_id == visitor_id,
            _shown(),
        )
    )


async def current_agent(session: AsyncSession, conversations: Sequence[Conversation]) -> str | None:
    """The name of who answers the visitor now: the assignee of their latest conversation."""
    if not conversations or conversations[-1].assignee_id is None:
        return None
    return await session.scalar(select(Agent.name).where(Agent.id == conversations[-1].assignee_id))


async def mark_delivered(
    session: AsyncSession, conversation_ids: Iterable[int], message_ids: Iterable[int]
) -> list[Event]:
    """The widget showed these replies: "sent" becomes "delivered" — only replies in the visitor's own
    `conversation_ids`, only once, at most SEEN_LIMIT at a time. Staged in `session`: the caller commits,
    then publishes the ``message.delivery`` events."""
    ids = sorted(set(message_ids))[:SEEN_LIMIT]
    convs = sorted(set(conversation_ids))
    if not ids or not convs:
        return []
    rows = list(
        await session.scalars(
            select(Message).where(
                Message.id.in_(ids),
                Message.conversation_id.in_(convs),
                Message.direction == "out",
                Message.delivery_status == "sent",
            )
        )
    )
    events = []
    for message in rows:
        message.delivery_status = "delivered"
        conv = await session.get_one(Conversation, message.conversation_id)
        events.append(
            Event(
                "message.delivery",
                **scope(conv),
                data={
                    "message_id": message.id,
                    "delivery_status": "delivered",
                    "error": None,
                    "attempts": None,
                },
            )
        )
    await session.flush()
    return events


async def visitor_typing(session: AsyncSession, conversation_ids: Iterable[int], on: bool) -> list[Event]:
    """The hint that the visitor is typing (or stopped), for the agents of their latest conversation."""
    latest = max(conversation_ids, default=None)
    conv = await session.get(Conversation, latest) if latest is not None else None
    if conv is None:
        return []
    return [Event("conversation.typing", **scope(conv), data={"from": "visitor", "on": on})]
