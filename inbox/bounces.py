"""Bounces: a delivery report that names one of our outbound messages marks it failed, with the reason.

Channels describe a bounce on the inbound item itself (kind ``"bounce"``), in ``meta["bounce"]``::

    {"action": "failed", "reason": "olga@example.ru: 550 5.1.1 User unknown",
     "message_ids": ["c42-1f0e….okno-17-…@example.com"], "recipients": [...], "status": "5.1.1"}

``message_ids`` are the external ids of the original messages (for e-mail their Message-IDs, which the
outbox stored as the outbound messages' external ids). Only ``action == "failed"`` marks anything; a
"delayed" report is a warning and stays a note on the timeline.

:func:`apply_bounce` runs in the transaction that stores the bounce, so the report and the failed status
are committed together (see ``stage_batch`` in :mod:`inbox.ingest`); :func:`mark_failed` is the same for
callers that have the ids and the reason at hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.bus import Event
from inbox.conversations import scope
from inbox.models import Conversation, Message

MAX_REASON = 1000
MAX_IDS = 50


def bounce_of(meta: Mapping[str, Any]) -> tuple[list[str], str] | None:
    """The message ids and the reason of a failed-delivery report in `meta`, or None."""
    report = meta.get("bounce")
    if not isinstance(report, Mapping) or report.get("action", "failed") != "failed":
        return None
    ids = [str(i) for i in report.get("message_ids") or () if isinstance(i, str) and i][:MAX_IDS]
    if not ids:
        return None
    reason = str(report.get("reason") or "the recipient's mail server returned the message")
    return ids, reason


async def mark_failed(
    session: AsyncSession, *, account_id: int, message_ids: Iterable[str], reason: str
) -> list[Event]:
    """Mark our outbound messages with these external ids failed (staged in `session`, not committed).

    Returns a "message.delivery" event per message changed, to publish after the commit.
    """
    ids = sorted({i for i in message_ids if i})[:MAX_IDS]
    if not ids:
        return []
    reason = f"bounced: {reason}"[:MAX_REASON]
    rows = await session.execute(
        select(Message, Conversation)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.account_id == account_id, Message.direction == "out", Message.external_id.in_(ids))
        .order_by(Message.id)
    )
    events: list[Event] = []
    for message, conv in rows:
        if message.delivery_status == "failed" and message.delivery_error == reason:
            continue  # the same report again
        message.delivery_status = "failed"
        message.delivery_error = reason
        events.append(
            Event(
                "message.delivery",
                **scope(conv),
                data={
                    "message_id": message.id,
                    "delivery_status": "failed",
                    "error": reason,
                    "bounced": True,
                },
            )
        )
    return events


async def apply_bounce(session: AsyncSession, message: Message) -> list[Event]:
    """For a stored inbound bounce: mark the outbound messages it names failed (see the module docstring)."""
    if message.kind != "bounce" or message.direction != "in":
        return []
    found = bounce_of(message.meta or {})
    if found is None:
        return []
    ids, reason = found
    return await mark_failed(session, account_id=message.account_id, message_ids=ids, reason=reason)
