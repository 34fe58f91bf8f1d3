"""A routing rule's auto-reply: the rendered knowledge-base template a matching rule sends to the client.

It takes the one send path of agents' replies — a message plus an outbox row in one transaction, which the
outbox worker delivers with retries — but it is no human reply: the message's kind is ``auto_reply`` (the
marker `okno import history` gives imported auto-replies), so no first response is recorded, no wait
ends in the reports (inbox.reports.waits), the dialog stays unassigned and an assignment's answer timeout
keeps running. It is staged in the rules' own transaction, which marks the dialog looked at, so a dialog
gets at most one (the ingest committed before; rendering a cached, compiled template takes microseconds).

It is skipped — with a service note on the timeline and an audit row, never an exception — when the
template is gone (deleted after the rules were saved), when the account's channel cannot carry text (its
capabilities), or when the template does not render. Noise (a bounce, another system's auto-reply) is
never answered: only a dialog opened by a client's message is.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import audit
from inbox.bus import Event
from inbox.capabilities import Capabilities
from inbox.conversations import scope
from inbox.knowledge.render import TemplateBodyError, render
from inbox.knowledge.suggest import variables_for
from inbox.models import Conversation, Message, Outbox, Template
from inbox.reports.sent import message_sent

KIND: Final = "auto_reply"  # the message kind of every automatic answer (also: imported history)
NOTE_KIND: Final = "rule_note"  # a service note of the rules on the timeline
Skip = Literal["no_template", "cannot_send", "does_not_render"]


def _can_send_text(_: int) -> Capabilities:
    return Capabilities()


@dataclass(frozen=True, slots=True)
class AutoReplies:
    """What an auto-reply needs from the hub: the company's variables (``[company]``) and what each
    channel account can carry (by account id)."""

    company: Mapping[str, Any] = field(default_factory=dict)
    capabilities: Callable[[int], Capabilities] = _can_send_text


async def stage_auto_reply(
    session: AsyncSession,
    conv: Conversation,
    first: Message | None,
    *,
    rule: str,
    key: str,
    now: datetime,
    replies: AutoReplies,
) -> list[Event]:
    """Stage the auto-reply of rule `rule` (template `key`) to `conv`, or a note saying why it was not
    sent; the caller commits, then publishes the events."""
    if first is None or first.kind != "message":
        return []
    template = await session.scalar(select(Template).where(Template.key == key, Template.owner_id.is_(None)))
    skipped: Skip | None = None
    text = ""
    if template is None:
        skipped = "no_template"
    elif not replies.capabilities(conv.account_id).text:
        skipped = "cannot_send"
    else:
        variables = await variables_for(session, conv, None, replies.company)
        try:
            text = render(template.body, variables)
        except TemplateBodyError:
            skipped = "does_not_render"
        if not text.strip():
            skipped = skipped or "does_not_render"
    detail: dict[str, Any] = {"rule": rule, "template": key}
    if skipped is not None:
        detail["skipped"] = skipped
        message = Message(
            conversation_id=conv.id,
            account_id=conv.account_id,
            direction="note",
            kind=NOTE_KIND,
            body_text=f"auto-reply {key} not sent: {skipped}",
            created_at=now,
            meta=dict(detail),
        )
    else:
        message = Message(
            conversation_id=conv.id,
            account_id=conv.account_id,
            direction="out",
            kind=KIND,
            subject=conv.subject,
            body_text=text,
            created_at=now,
            delivery_status="queued",
            meta=dict(detail),
        )
    session.add(message)
    await session.flush()
    if skipped is None:
        session.add(message_sent(conv, now, None))
        session.add(
            Outbox(
                message_id=message.id,
                account_id=conv.account_id,
                idempotency_key=f"okno-{message.id}-{uuid.uuid4().hex}",
                next_attempt_at=now,
            )
        )
    audit.record(
        session,
        "routing.auto_reply_skipped" if skipped else "routing.auto_reply",
        entity="conversation",
        entity_id=conv.id,
        detail=detail,
    )
    data = {
        "message_id": message.id,
        "direction": message.direction,
        "agent_id": None,
        "preview": message.body_text[:200],
        "delivery_status": message.delivery_status,
        "auto_reply": skipped is None,
    }
    return [Event("message.created", **scope(conv), data=data)]
