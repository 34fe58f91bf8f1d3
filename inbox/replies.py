"""The one send path: an agent's reply is a message plus an outbox row, written in one transaction.

Internal notes are messages with direction "note" and never get an outbox row. The first reply records
the first response time (and an SLA miss if it came late); every reply records how long the client had
been waiting. The conversation goes to the replying agent if nobody had it — through
:func:`inbox.conversations.assign`, with its audit row and its ``conversation.assigned`` events, so
teammates' queues drop it — and the card gets an owner if it had none (the sticky owner routing relies on);
a lead's card getting its owner so gives them a follow-up task (``policy.lead_follow_up``), once per card.

:func:`reply_account` chooses the channel account a reply goes out through.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

import nh3
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from inbox.blobs import BlobStore
from inbox.bus import Event
from inbox.capabilities import Capabilities
from inbox.conversations import assign, scope
from inbox.items import OutboundAttachment
from inbox.models import Agent, Attachment, Contact, Conversation, Message, Outbox, ReportingEvent, utcnow
from inbox.policy import InboxPolicy
from inbox.reports.sent import message_sent
from inbox.reports.waits import end_on_human_reply, team_calendar
from inbox.tasks import open_lead_follow_up

MAX_REPLY = 100_000
MAX_ATTACHMENTS_BYTES = 25 * 2**20  # what most mail servers accept in one message


class ReplyError(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def sanitize_html(html: str) -> str:
    """Agent- or client-supplied HTML, with scripts, handlers and unsafe URLs removed."""
    return str(nh3.clean(html))


async def add_reply(
    session: AsyncSession,
    conv: Conversation,
    agent: Agent,
    text: str,
    *,
    html: str | None = None,
    note: bool = False,
    policy: InboxPolicy,
    files: Sequence[StoredFile] = (),
    buttons: Sequence[str] = (),
    via_account_id: int | None = None,
    template_id: int | None = None,
    at: datetime | None = None,
    already_sent: bool = False,
) -> tuple[Message, list[Event]]:
    """Stage a reply (or note) in `session`; the caller commits and then publishes the events.

    Attachment bytes go to the blob store before the transaction: the caller stores them with
    :func:`store_reply_files` before its session begins (hashing and writing megabytes must not hold
    SQLite's write lock); the message keeps one Attachment row per file, and the outbox worker reads the
    bytes back when it sends.
    `via_account_id` sends through another account than the conversation's (a web-chat offline-form
    message answered by e-mail). `template_id`: the knowledge-base template the reply was written from
    (the caller checked the agent may see it), kept on the message and recorded as a "template_reply"
    reporting event. `buttons` are quick answers shown under the reply where the channel has buttons
    (checked with the files by :func:`store_reply_files`). `at` and `already_sent` serve history imported
    from another system: a reply written then, stored as sent, never handed to the outbox.
    """
    if not text.strip():
        raise ReplyError("text must not be empty", "text")
    if len(text) > MAX_REPLY:
        raise ReplyError(f"text is longer than {MAX_REPLY} characters", "text")
    now = at or utcnow()
    message = Message(
        conversation_id=conv.id,
        account_id=conv.account_id,
        direction="note" if note else "out",
        agent_id=agent.id,
        subject=None if note else conv.subject,  # what it answers; the channel may add "Re:" and a tag
        body_text=text,
        body_html=sanitize_html(html) if html else None,
        created_at=now,
        delivery_status=None if note else ("sent" if already_sent else "queued"),
        meta={
            **({"template_id": template_id} if template_id is not None else {}),
            **({"buttons": list(buttons)} if buttons and not note else {}),
        },
    )
    for f in files:
        message.attachments.append(
            Attachment(filename=f.filename, content_type=f.content_type, size=f.size, sha256=f.sha256)
        )
    session.add(message)
    await session.flush()
    events: list[Event] = []
    if not note and not already_sent:
        session.add(
            Outbox(
                message_id=message.id,
                account_id=via_account_id or conv.account_id,
                idempotency_key=f"okno-{message.id}-{uuid.uuid4().hex}",
                next_attempt_at=now,
            )
        )
    if not note:
        session.add(message_sent(conv, now, agent.id))
        await _measure(session, conv, agent, policy, now)
        conv.reroute_due = None  # a human answered: the assignment stays (inbox.routing.reroute)
        conv.queued_at = None
        if template_id is not None:
            session.add(
                ReportingEvent(
                    name="template_reply",
                    occurred_at=now,
                    template_id=template_id,
                    conversation_id=conv.id,
                    contact_id=conv.contact_id,
                    agent_id=agent.id,
                    team_id=conv.team_id,
                    account_id=conv.account_id,
                    channel_kind=conv.channel_kind,
                )
            )
        if conv.assignee_id is None:
            events += await assign(
                session, conv, assignee_id=agent.id, team_id=conv.team_id, actor_id=agent.id
            )
        events += await _first_owner(session, conv, agent.id, policy, now, imported=already_sent)
    conv.updated_at = now
    conv.last_message_at = now if not note else conv.last_message_at
    await session.flush()
    events.insert(
        0,
        Event(
            "message.created",
            **scope(conv),
            data={
                "message_id": message.id,
                "direction": message.direction,
                "agent_id": agent.id,
                "preview": text[:200],
                "delivery_status": message.delivery_status,
            },
        ),
    )
    return message, events


async def _first_owner(
    session: AsyncSession,
    conv: Conversation,
    agent_id: int,
    policy: InboxPolicy,
    now: datetime,
    *,
    imported: bool,
) -> list[Event]:
    """A card without an owner gets the replying agent; a lead's card so gets its owner's follow-up task
    (not for history being imported, nor with ``policy.lead_follow_up`` off)."""
    contact = await session.get(Contact, conv.contact_id)
    if contact is None or contact.owner_id is not None or not await _claim_owner(session, contact, agent_id):
        return []
    if contact.kind != "lead" or imported or policy.lead_follow_up is None:
        return []
    return await open_lead_follow_up(
        session, contact, conv.id, agent_id, now, due_after=policy.lead_follow_up, gettext=policy.gettext
    )


async def _claim_owner(session: AsyncSession, contact: Contact, agent_id: int) -> bool:
    """Make `agent_id` the owner of a card that has none, in one conditional UPDATE: of two first replies
    racing on one card exactly one becomes its owner (PostgreSQL re-checks the condition after the first
    one's commit; SQLite's write lock orders them). True for the one that did."""
    claimed = await session.scalar(
        update(Contact)
        .where(Contact.id == contact.id, Contact.owner_id.is_(None))
        .values(owner_id=agent_id)
        .returning(Contact.id)
        .execution_options(synchronize_session=False)
    )
    # The session's copy learns the owner that is now stored, whoever set it.
    set_committed_value(contact, "owner_id", agent_id if claimed is not None else contact.owner_id)
    return claimed is not None


async def reply_account(
    session: AsyncSession, conv: Conversation, *, offline_form_mail: Mapping[int, int] | None = None
) -> int:
    """The channel account a reply to `conv` goes out through: the conversation's own, except for a
    web-chat dialog whose client last wrote through the widget's offline form — the visitor left no socket
    to answer on but an e-mail address on the card — which is answered through the mail account that
    `offline_form_mail` names for the widget's account (web-chat account id → mail account id, from the
    widget's ``reply_by_email`` setting; the hub reads configuration, the domain decides).
    """
    mail_account_id = (offline_form_mail or {}).get(conv.account_id)
    if conv.channel_kind != "webchat" or mail_account_id is None:
        return conv.account_id
    last = await session.scalar(
        select(Message.meta)
        .where(Message.conversation_id == conv.id, Message.direction == "in")
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )
    return mail_account_id if isinstance(last, dict) and last.get("offline_form") else conv.account_id


def safe_filename(name: str) -> str:
    """A file name without any path, control characters or a leading dot; never empty."""
    base = PurePosixPath(name.replace("\\", "/")).name
    cleaned = "".join(c for c in base if c.isprintable()).strip().lstrip(".")
    return cleaned[:200] or "file"


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A reply's file, already in the blob store (see :func:`store_reply_files`)."""

    filename: str
    content_type: str
    size: int
    sha256: str


async def store_reply_files(
    attachments: Sequence[OutboundAttachment],
    policy: InboxPolicy,
    *,
    capabilities: Capabilities,
    channel: str,
    buttons: Sequence[str] = (),
) -> list[StoredFile]:
    """Check a reply against what its channel can carry (`capabilities` of the account it leaves through,
    `channel` naming it in the refusal), then write its files' bytes to the blob store; call it with no
    transaction open, and before :func:`add_reply`, so a refused reply leaves nothing behind."""
    check_reply(capabilities, channel, attachments, buttons)
    if not attachments:
        return []
    if policy.attachments_dir is None:
        raise ReplyError("this hub keeps no attachment files (attachments_dir is not set)", "attachments")
    total = sum(len(a.content) for a in attachments)
    if total > MAX_ATTACHMENTS_BYTES:
        raise ReplyError(f"attachments exceed {MAX_ATTACHMENTS_BYTES // 2**20} MB in all", "attachments")
    store = BlobStore(policy.attachments_dir)
    stored = []
    for att in attachments:
        if "/" not in att.content_type:
            raise ReplyError(f"content type {att.content_type!r} is not a MIME type", "attachments")
        digest = await store.put(att.content)
        stored.append(StoredFile(safe_filename(att.filename), att.content_type, len(att.content), digest))
    return stored


def check_reply(
    caps: Capabilities, channel: str, files: Sequence[OutboundAttachment], buttons: Sequence[str] = ()
) -> None:
    """Raise :class:`ReplyError` naming what `channel` lacks if it cannot carry a reply with `files` and
    `buttons`."""
    if not caps.text:
        raise ReplyError(f"the {channel} channel cannot carry replies", "text")
    if buttons and not caps.buttons:
        raise ReplyError(f"the {channel} channel cannot carry buttons", "buttons")
    if files and not caps.attachments:
        raise ReplyError(f"the {channel} channel cannot carry attachments", "attachments")
    for f in files:
        name = safe_filename(f.filename)
        if not caps.accepts_type(f.content_type):
            kinds = ", ".join(sorted(caps.attachment_kinds))
            raise ReplyError(
                f"the {channel} channel cannot carry {f.content_type} files ({name}); it takes {kinds}",
                "attachments",
            )
        limit = caps.max_attachment_bytes
        if limit and len(f.content) > limit:
            raise ReplyError(
                f"{name} is {len(f.content)} bytes: the {channel} channel carries files of at most "
                f"{limit} bytes",
                "attachments",
            )


async def _measure(
    session: AsyncSession, conv: Conversation, agent: Agent, policy: InboxPolicy, now: datetime
) -> None:
    await end_on_human_reply(session, conv, agent.id, now, policy.calendars)
    common = {
        "occurred_at": now,
        "conversation_id": conv.id,
        "contact_id": conv.contact_id,
        "agent_id": agent.id,
        "team_id": conv.team_id,
        "account_id": conv.account_id,
        "channel_kind": conv.channel_kind,
    }
    hours = await team_calendar(session, policy.calendars, conv.team_id)
    if conv.first_response_at is None:
        conv.first_response_at = now
        start = conv.created_at
        session.add(
            ReportingEvent(
                name="first_response",
                value_seconds=(now - start).total_seconds(),
                business_seconds=hours.seconds_between(start, now),
                **common,
            )
        )
        if conv.first_response_due is not None and now > conv.first_response_due:
            session.add(
                ReportingEvent(
                    name="sla_miss",
                    value_seconds=(now - conv.first_response_due).total_seconds(),
                    business_seconds=hours.seconds_between(conv.first_response_due, now),
                    **common,
                )
            )
    if conv.waiting_since is not None:
        session.add(
            ReportingEvent(
                name="reply",
                value_seconds=max(0.0, (now - conv.waiting_since).total_seconds()),
                business_seconds=hours.seconds_between(conv.waiting_since, now),
                **common,
            )
        )
        conv.waiting_since = None
