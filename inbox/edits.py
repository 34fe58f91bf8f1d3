"""Edits of inbound messages: the client changed a message the hub already holds.

A channel hands an edit in as a :class:`~inbox.items.MessageEdit`: the new version of the message (an
:class:`~inbox.items.InboundMessage` with the *same* external id as the one it changes) and when it was
edited.
:func:`apply_edit` finds the stored inbound message by (account, external id) and

* replaces its text (and HTML), keeping each text it replaces in ``meta["previous_versions"]`` as
  ``{"text", "written_at", "replaced_at"}`` (oldest first, at most :data:`MAX_VERSIONS`),
* sets ``edited_at`` and publishes a ``message.updated`` event;
* changes nothing for an edit it has already applied (same text, or not newer than the stored edit), so a
  redelivered update is harmless;
* ingests an edit of a message it never saw (older than the channel, or lost) as a new message through the
  normal ingest path, so nothing the client wrote is dropped.

:mod:`inbox.dispatch` routes every :class:`~inbox.items.MessageEdit` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypedDict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.bus import Event, NullPublisher, Publisher
from inbox.conversations import scope
from inbox.ingest import MAX_TEXT, IngestError, stage_batch
from inbox.items import InboundMessage, MessageEdit
from inbox.models import Conversation, Message, utcnow
from inbox.policy import InboxPolicy

MAX_VERSIONS = 50  # a message edited more often keeps only its latest previous texts


class PreviousVersion(TypedDict):
    text: str
    written_at: str | None
    replaced_at: str | None


def previous_versions(message: Message) -> list[PreviousVersion]:
    """The texts an edited message had before, oldest first, as :func:`apply_edit` kept them."""
    return versions_in(message.meta)


def versions_in(meta: object) -> list[PreviousVersion]:
    """:func:`previous_versions` read from a message's ``meta`` (what the API's message model holds)."""
    meta = meta if isinstance(meta, dict) else {}
    versions = meta.get("previous_versions")
    out: list[PreviousVersion] = []
    for version in versions if isinstance(versions, list) else ():
        if isinstance(version, dict) and isinstance(version.get("text"), str):
            written, replaced = version.get("written_at"), version.get("replaced_at")
            out.append(
                PreviousVersion(
                    text=version["text"],
                    written_at=written if isinstance(written, str) else None,
                    replaced_at=replaced if isinstance(replaced, str) else None,
                )
            )
    return out


EditOutcome = Literal["updated", "unchanged", "stale", "created", "not_inbound"]


@dataclass(frozen=True, slots=True)
class EditResult:
    message_id: int
    conversation_id: int
    contact_id: int | None
    outcome: EditOutcome

    @property
    def duplicate(self) -> bool:
        """Nothing new was stored (the same shape of answer the ingest path gives a redelivery)."""
        return self.outcome in ("unchanged", "stale", "not_inbound")

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "conversation_id": self.conversation_id,
            "contact_id": self.contact_id,
            "outcome": self.outcome,
        }


def _written_at(message: Message) -> datetime:
    return message.edited_at or message.sent_at or message.created_at


async def apply_edit(
    session: AsyncSession,
    edit: MessageEdit,
    policy: InboxPolicy | None = None,
    publisher: Publisher | None = None,
) -> EditResult:
    """Apply `edit` in `session` and commit; see the module docstring for the rules."""
    item = edit.message
    if len(item.text) > MAX_TEXT:
        raise IngestError(f"text is longer than {MAX_TEXT} characters")
    edited_at = edit.edited_at
    stmt = select(Message).where(
        Message.account_id == item.account_id, Message.external_id == item.external_id
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()  # two edits of one message at once must not lose a version
    message = await session.scalar(stmt)
    if message is None:
        return await _ingest_as_new(session, item, edited_at, policy or InboxPolicy(), publisher)
    ids = (message.id, message.conversation_id, message.contact_id)
    # Nothing to change: end the transaction with a commit, which (unlike a rollback) leaves the caller's
    # loaded objects usable.
    if message.direction != "in":
        await session.commit()
        return EditResult(*ids, outcome="not_inbound")
    if message.body_text == item.text and message.body_html == item.html:
        await session.commit()
        return EditResult(*ids, outcome="unchanged")
    if message.edited_at is not None and edited_at <= message.edited_at:
        await session.commit()
        return EditResult(*ids, outcome="stale")
    meta = dict(message.meta or {})
    versions = list(meta.get("previous_versions") or [])
    versions.append(
        {
            "text": message.body_text,
            "written_at": _written_at(message).isoformat(),
            "replaced_at": edited_at.isoformat(),
        }
    )
    meta["previous_versions"] = versions[-MAX_VERSIONS:]
    message.meta = meta  # a new dict, so the JSON column is written
    message.body_text = item.text
    message.body_html = item.html
    message.edited_at = edited_at
    conv = await session.get_one(Conversation, message.conversation_id)
    conv.updated_at = utcnow()
    await session.commit()
    event = Event(
        "message.updated",
        **scope(conv),
        data={
            "message_id": message.id,
            "edited_at": edited_at.isoformat(),
            "preview": item.text[:200],
            "previous_versions": len(meta["previous_versions"]),
        },
    )
    await (publisher or NullPublisher()).publish(event)
    return EditResult(*ids, outcome="updated")


async def _ingest_as_new(
    session: AsyncSession,
    item: InboundMessage,
    edited_at: datetime,
    policy: InboxPolicy,
    publisher: Publisher | None,
) -> EditResult:
    results, events = await stage_batch(session, [item], policy)
    result = results[0]
    if isinstance(result, Exception):
        await session.commit()  # as the ingest path does: the refusal staged nothing
        raise result
    message = await session.get_one(Message, result.message_id)
    message.edited_at = edited_at
    await session.commit()
    for event in events:
        await (publisher or NullPublisher()).publish(event)
    return EditResult(result.message_id, result.conversation_id, result.contact_id, outcome="created")
