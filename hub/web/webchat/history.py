"""What a visitor may read: their own conversations on one web-chat account, as widget messages.

A visitor sees the messages they wrote and the replies released to them — never internal notes, never
a reply still queued or failed, never another client's conversation. A conversation is the visitor's
only when that visitor started it (`Conversation.visitor_id`): not because their card holds it, so
neither an e-mail typed into a form nor an agent's merge of two cards shows a visitor anyone else's
conversations (and the ingest path threads a visitor's messages only into their own conversations).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from channels.webchat.parse import client_id_of
from inbox.bus import Event
from inbox.conversations import scope
from inbox.models import Agent, Attachment, Conversation, Message

HISTORY_LIMIT = 200
RELEASED = ("sent", "delivered")


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
        .options(selectinload(Message.attachments))
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return sorted(rows, key=lambda m: m.id)


async def agent_names(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(wanted)))
    return {agent_id: name for agent_id, name in rows}


def widget_message(message: Message, visitor_id: str, names: dict[int, str]) -> dict[str, Any]:
    """A message as the widget shows it: who wrote (the visitor or an agent, by first name), what, when."""
    inbound = message.direction == "in"
    when = message.created_at if inbound else (message.sent_at or message.created_at)
    return {
        "id": message.id,
        "cid": client_id_of(message.external_id, visitor_id) if inbound else None,
        "from": "visitor" if inbound else "agent",
        "text": message.body_text,
        "at": when.isoformat(),
        "agent": None if inbound or message.agent_id is None else names.get(message.agent_id),
        "seen": inbound or message.delivery_status == "delivered",
        # Files the widget may fetch (GET /webchat/{account}/files/{id}, with the visitor's token); one
        # that was never stored (too large, refused) is listed without an id, so nothing vanishes silently.
        "files": [
            {
                "id": a.id if a.sha256 else None,
                "name": a.filename,
                "type": a.content_type,
                "size": a.size,
            }
            for a in message.attachments
        ],
    }


async def widget_messages(session: AsyncSession, messages: Sequence[Message], visitor_id: str) -> list[Any]:
    names = await agent_names(session, (m.agent_id for m in messages))
    return [widget_message(m, visitor_id, names) for m in messages]


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
    """The widget showed these replies: "sent" becomes "delivered" (only the visitor's own, only once)."""
    ids = sorted(set(message_ids))[:200]
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
    await session.commit()
    return events
