"""Read markers: how far each agent has read each conversation.

An agent's marker on a conversation is the id of the latest message it held when they last opened it
(:func:`mark_read`, called when the inbox shows the conversation or a client posts
``/api/v1/conversations/{id}/read``). What is unread for them is the client's messages after it —
inbound, of kind "message" (not notes, replies or service events) — so a new message from the client makes
the conversation unread again for every agent until each opens it. No marker: every client message is
unread. Markers only move forward: a slow, older request never makes read messages unread again.

:func:`unread_counts` answers a list page in one statement (a LEFT JOIN of the viewer's markers onto the
client messages of the page's conversations), read from the partial index ``ix_messages_inbound``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import ConversationRead, Message, utcnow


async def mark_read(session: AsyncSession, agent_id: int, conversation_id: int) -> int:
    """Mark every message the conversation holds now as read by the agent; returns the marker (the latest
    message id, 0 if it has none). Writes in the caller's transaction; the caller commits."""
    latest = await session.scalar(
        select(func.max(Message.id)).where(Message.conversation_id == conversation_id)
    )
    marker = int(latest or 0)
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(ConversationRead).values(
        agent_id=agent_id, conversation_id=conversation_id, last_read_message_id=marker, read_at=utcnow()
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[ConversationRead.agent_id, ConversationRead.conversation_id],
        set_={"last_read_message_id": stmt.excluded.last_read_message_id, "read_at": stmt.excluded.read_at},
        where=ConversationRead.last_read_message_id <= stmt.excluded.last_read_message_id,
    )
    await session.execute(stmt)
    return marker


async def unread_counts(
    session: AsyncSession, agent_id: int, conversation_ids: Iterable[int]
) -> dict[int, int]:
    """The client messages after the agent's marker, per conversation (absent: nothing unread)."""
    ids = sorted(set(conversation_ids))
    if not ids:
        return {}
    read = and_(
        ConversationRead.conversation_id == Message.conversation_id, ConversationRead.agent_id == agent_id
    )
    stmt = (
        select(Message.conversation_id, func.count())
        .outerjoin(ConversationRead, read)
        .where(
            Message.conversation_id.in_(ids),
            Message.direction == "in",
            Message.kind == "message",
            Message.id > func.coalesce(ConversationRead.last_read_message_id, 0),
        )
        .group_by(Message.conversation_id)
    )
    return {conv_id: int(count) for conv_id, count in await session.execute(stmt)}


async def last_read(session: AsyncSession, agent_id: int, conversation_id: int) -> int:
    """The agent's marker on the conversation (0: never opened)."""
    found = await session.scalar(
        select(ConversationRead.last_read_message_id).where(
            ConversationRead.agent_id == agent_id, ConversationRead.conversation_id == conversation_id
        )
    )
    return int(found or 0)
