"""ORM rows → the JSON shapes of the API (documented in :mod:`hub.web.api.openapi`).

Relations are never lazy-loaded here (that raises under asyncio): callers load what a shape needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.contacts import DuplicatePair
from inbox.models import (
    Agent,
    ApiToken,
    Attachment,
    Contact,
    Conversation,
    Identity,
    Message,
    Task,
    Team,
)

JSON = dict[str, Any]


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def identity(row: Identity) -> JSON:
    return {
        "id": row.id,
        "kind": row.kind,
        "value": row.value,
        "trust": row.trust,
        "created_at": iso(row.created_at),
    }


def contact_summary(row: Contact) -> JSON:
    return {"id": row.id, "name": row.name, "company": row.company, "kind": row.kind}


def contact(row: Contact) -> JSON:
    """A card with its identities (which the caller loaded)."""
    return {
        **contact_summary(row),
        "owner_id": row.owner_id,
        "source_channel": row.source_channel,
        "source_detail": row.source_detail,
        "tags": list(row.tags or []),
        "custom_fields": dict(row.custom_fields or {}),
        "notes": row.notes,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "identities": [identity(i) for i in row.identities],
    }


def duplicate(pair: DuplicatePair) -> JSON:
    return {"id": pair.id, "reason": pair.reason, "a": contact(pair.a), "b": contact(pair.b)}


def conversation(row: Conversation) -> JSON:
    return {
        "id": row.id,
        "contact_id": row.contact_id,
        "account_id": row.account_id,
        "channel": row.channel_kind,
        "subject": row.subject,
        "status": row.status,
        "assignee_id": row.assignee_id,
        "team_id": row.team_id,
        "priority": row.priority,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "last_message_at": iso(row.last_message_at),
        "waiting_since": iso(row.waiting_since),
        "first_response_at": iso(row.first_response_at),
        "first_response_due": iso(row.first_response_due),
        "resolved_at": iso(row.resolved_at),
        "snoozed_until": iso(row.snoozed_until),
        "blocked_reason": row.blocked_reason,
    }


def attachment(row: Attachment) -> JSON:
    return {
        "id": row.id,
        "filename": row.filename,
        "content_type": row.content_type,
        "size": row.size,
        "sha256": row.sha256,
        "refused": row.refused,
    }


def message(row: Message) -> JSON:
    """A message with its attachments (which the caller loaded)."""
    return {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "direction": row.direction,
        "kind": row.kind,
        "contact_id": row.contact_id,
        "agent_id": row.agent_id,
        "subject": row.subject,
        "text": row.body_text,
        "html": row.body_html,
        "sent_at": iso(row.sent_at),
        "created_at": iso(row.created_at),
        "delivery_status": row.delivery_status,
        "delivery_error": row.delivery_error,
        "attachments": [attachment(a) for a in row.attachments],
    }


def team(row: Team) -> JSON:
    return {"id": row.id, "name": row.name}


def agent(row: Agent, *, online: bool) -> JSON:
    """An agent with its teams (which the caller loaded); never the password hash."""
    return {
        "id": row.id,
        "email": row.email,
        "name": row.name,
        "role": row.role,
        "capacity": row.capacity,
        "channel_capacity": row.channel_capacity or {},
        "status": row.status,
        "extension": row.extension,
        "language": row.language,
        "is_active": row.is_active,
        "teams": [team(t) for t in row.teams],
        "presence": "online" if online else "offline",
    }


def task(row: Task) -> JSON:
    return {
        "id": row.id,
        "kind": row.kind,
        "title": row.title,
        "status": row.status,
        "contact_id": row.contact_id,
        "conversation_id": row.conversation_id,
        "call_id": row.call_id,
        "assignee_id": row.assignee_id,
        "team_id": row.team_id,
        "due_at": iso(row.due_at),
        "created_at": iso(row.created_at),
        "closed_at": iso(row.closed_at),
        "result": row.result,
    }


def api_token(row: ApiToken) -> JSON:
    return {
        "id": row.id,
        "name": row.name,
        "created_at": iso(row.created_at),
        "last_used_at": iso(row.last_used_at),
    }


async def contacts_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, Contact]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {c.id: c for c in await session.scalars(select(Contact).where(Contact.id.in_(wanted)))}
