"""Messages as the widget shows them: who wrote (the visitor or an agent, by first name), what, when.

Which messages a visitor may read, and marking replies delivered, is :mod:`inbox.visitor_history`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from channels.webchat.parse import client_id_of
from inbox.models import Message
from inbox.names import agent_names


def widget_message(message: Message, visitor_id: str, names: dict[int, str]) -> dict[str, Any]:
    """One message as a widget frame; `cid` is the widget's own id of what this visitor sent."""
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


def visitor_text(message_id: int, cid: str, text: str, at: datetime) -> dict[str, Any]:
    """A text message the visitor just sent, as :func:`widget_message` shows it, from what the socket
    already knows (it has no files and no agent)."""
    return {
        "id": message_id,
        "cid": cid,
        "from": "visitor",
        "text": text,
        "at": at.isoformat(),
        "agent": None,
        "seen": True,
        "files": [],
    }


async def widget_messages(session: AsyncSession, messages: Sequence[Message], visitor_id: str) -> list[Any]:
    names = await agent_names(session, (m.agent_id for m in messages))
    return [widget_message(m, visitor_id, names) for m in messages]
