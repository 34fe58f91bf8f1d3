"""History imported from another system (`okno import history`): conversations replayed at their own times.

One event per JSON line (times with offsets): an inbound or outbound message, a note, an auto-reply, an
assignment, a resolve. Inbound messages go through the ingest path (cards, identities, threading, reopening
a resolved conversation, the reports' waits), the rest through the same services an agent uses, each
with the historical time. A human reply is stored as sent and never handed to the outbox.

Each applied line is remembered by the digest of its canonical JSON, in the transaction that applies it,
so importing a file again adds nothing; a line a file repeats is an event each time (see :func:`repeated`).
A conversation is named by the file's KEY, a new KEY opening a conversation of its own; the first line of
a conversation must be an inbound message that names the account and the contact. The KEY is remembered
too (a `HistoryLine` whose digest is that of the KEY, see :func:`key_digest`), so a later file, imported
by a later run, goes on with the conversation its KEY named (an export in monthly parts).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Literal, cast

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.conversations import assign, set_status
from inbox.ingest import IngestError, stage_batch
from inbox.items import IdentityKind, IdentityRef, InboundMessage, Sender
from inbox.models import Agent, ChannelAccount, Conversation, HistoryLine, Identity, Message, Team
from inbox.policy import InboxPolicy
from inbox.replies import ReplyError, add_reply
from inbox.reports.sent import message_sent

Text = Annotated[str, Field(min_length=1, max_length=100_000)]
Key = Annotated[str, Field(min_length=1, max_length=200)]


class HistoryError(ValueError):
    """A line that cannot be imported; the message says why, `conversation` names its KEY when it has one."""

    def __init__(self, message: str, conversation: str | None = None) -> None:
        super().__init__(message)
        self.conversation = conversation


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conversation: Key
    at: AwareDatetime


class HistoryContact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None


class Inbound(_Line):
    type: Literal["message"]
    direction: Literal["in"]
    account: str | None = None
    contact: HistoryContact | None = None
    text: Text


class Outbound(_Line):
    type: Literal["message"]
    direction: Literal["out"]
    agent: str
    text: Text


class Note(_Line):
    type: Literal["note"]
    agent: str
    text: Text


class AutoReply(_Line):
    type: Literal["auto_reply"]
    text: Text


class Assignment(_Line):
    type: Literal["assign"]
    agent: str | None
    team: str | None = None


class Resolve(_Line):
    type: Literal["resolve"]
    agent: str | None = None


HistoryEvent = Inbound | Outbound | Note | AutoReply | Assignment | Resolve
_BY_TYPE: dict[str, type[_Line]] = {
    "note": Note,
    "auto_reply": AutoReply,
    "assign": Assignment,
    "resolve": Resolve,
}


def parse_line(text: str) -> tuple[HistoryEvent, str]:
    """One line → the event and its digest; HistoryError names what is wrong."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HistoryError(f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(raw, dict):
        raise HistoryError("a line must be a JSON object")
    key = raw.get("conversation") if isinstance(raw.get("conversation"), str) else None
    kind = raw.get("type")
    if kind == "message":
        direction = raw.get("direction")
        if direction not in ("in", "out"):
            raise HistoryError(f"direction must be 'in' or 'out', not {direction!r}", key)
        model: type[_Line] = Inbound if direction == "in" else Outbound
    elif isinstance(kind, str) and kind in _BY_TYPE:
        model = _BY_TYPE[kind]
    else:
        raise HistoryError(f"unknown type {kind!r}; one of message, note, auto_reply, assign, resolve", key)
    try:
        event = model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "line"
        raise HistoryError(f"{where}: {first['msg']}", key) from None
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return event, digest  # type: ignore[return-value]


def repeated(digest: str, occurrence: int) -> str:
    """The digest of the `occurrence`-th (1, 2, …) identical line of one file: each is an event of its own
    (a client who sent "?" twice in the same second), and the file imported again still adds nothing."""
    return digest if occurrence <= 1 else hashlib.sha256(f"{digest}:{occurrence}".encode()).hexdigest()


def key_digest(key: str) -> str:
    """The `HistoryLine` digest that remembers which conversation a file's KEY names (never a line's: a
    line's digest is that of a JSON object)."""
    return hashlib.sha256(f"conversation key:{key}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Applied:
    conversation_id: int | None
    duplicate: bool


class HistoryImport:
    """Applies lines one by one, each in its own transaction; remembers which conversation a KEY names."""

    def __init__(self, policy: InboxPolicy) -> None:
        self.policy = policy
        self.conversations: dict[str, int] = {}

    async def apply(self, session: AsyncSession, event: HistoryEvent, digest: str) -> Applied:
        """Apply one line in `session` and commit; a line applied before changes nothing."""
        known = await session.get(HistoryLine, digest)
        if known is not None:
            if known.conversation_id is not None:
                self.conversations.setdefault(event.conversation, known.conversation_id)
            return Applied(known.conversation_id, duplicate=True)
        at = event.at
        if isinstance(event, Inbound):
            conv_id = await self._inbound(session, event, digest)
        else:
            conv = await self._conversation(session, event.conversation)
            if isinstance(event, Outbound | Note):
                agent = await _agent(session, event.agent)
                try:
                    await add_reply(
                        session,
                        conv,
                        agent,
                        event.text,
                        note=isinstance(event, Note),
                        policy=self.policy,
                        at=at,
                        already_sent=True,
                    )
                except ReplyError as exc:
                    raise HistoryError(str(exc)) from None
            elif isinstance(event, AutoReply):
                # Stored as sent; an auto-reply is no human reply, so no wait ends.
                session.add(
                    Message(
                        conversation_id=conv.id,
                        account_id=conv.account_id,
                        direction="out",
                        kind="auto_reply",
                        body_text=event.text,
                        created_at=at,
                        delivery_status="sent",
                        meta={"imported": True},
                    )
                )
                session.add(message_sent(conv, at, None))
            elif isinstance(event, Assignment):
                agent_id = (await _agent(session, event.agent)).id if event.agent else None
                team_id = (await _team(session, event.team)).id if event.team else conv.team_id
                await assign(session, conv, assignee_id=agent_id, team_id=team_id, actor_id=None)
            else:
                actor = (await _agent(session, event.agent)).id if event.agent else None
                if conv.status != "resolved":
                    await set_status(session, conv, "resolved", actor_id=actor, policy=self.policy, at=at)
            conv_id = conv.id
        session.add(HistoryLine(digest=digest, conversation_id=conv_id))
        if self.conversations.get(event.conversation) != conv_id:
            remembered = await session.get(HistoryLine, key_digest(event.conversation))
            if remembered is None:
                session.add(HistoryLine(digest=key_digest(event.conversation), conversation_id=conv_id))
        await session.commit()
        self.conversations[event.conversation] = conv_id
        return Applied(conv_id, duplicate=False)

    async def _known(self, session: AsyncSession, key: str) -> int | None:
        """The conversation `key` names: seen in this run, else remembered by an earlier one."""
        conv_id = self.conversations.get(key)
        if conv_id is None:
            remembered = await session.get(HistoryLine, key_digest(key))
            if remembered is not None and remembered.conversation_id is not None:
                conv_id = self.conversations[key] = remembered.conversation_id
        return conv_id

    async def _conversation(self, session: AsyncSession, key: str) -> Conversation:
        conv_id = await self._known(session, key)
        conv = await session.get(Conversation, conv_id) if conv_id is not None else None
        if conv is None:
            raise HistoryError(
                f"conversation {key!r} has not started: its first line must be an inbound message "
                "with account and contact"
            )
        return conv

    async def _inbound(self, session: AsyncSession, event: Inbound, digest: str) -> int:
        conv_id = await self._known(session, event.conversation)
        if conv_id is None:
            if event.account is None or event.contact is None:
                raise HistoryError(
                    f"conversation {event.conversation!r} starts here: account and contact are required"
                )
            account = await session.scalar(select(ChannelAccount).where(ChannelAccount.name == event.account))
            if account is None:
                raise HistoryError(f"account: no channel account named {event.account!r}")
            account_id = account.id
        else:
            conv = await session.get(Conversation, conv_id)
            if conv is None:
                raise HistoryError(f"conversation {event.conversation!r} no longer exists")
            account_id = conv.account_id
        sender = _sender(event.contact) if event.contact is not None else None
        if sender is None:
            sender = await _known_sender(session, conv_id)
        before = await session.get(Conversation, conv_id) if conv_id is not None else None
        last_before = before.last_message_at if before is not None else None
        item = InboundMessage(
            account_id=account_id,
            external_id=f"history:{digest}",
            sender=sender,
            text=event.text,
            sent_at=event.at,
            conversation_hint=conv_id,
            own_conversation=conv_id is None,  # a new KEY is a conversation of its own
        )
        results, _events = await stage_batch(session, [item], self.policy)
        result = results[0]
        if isinstance(result, IngestError):
            raise HistoryError(str(result))
        if isinstance(result, Exception):
            raise result
        # A conversation first seen in the import dates from its first message, not from today (a new
        # card already does: ingest dates it from the message's time).
        conv = await session.get(Conversation, result.conversation_id)
        if conv is not None and conv.created_at > event.at:
            conv.created_at = event.at
        if conv is not None:
            # Ingest marks the conversation active now; an imported message is as recent as its own time
            # (else every imported conversation would top the inbox lists as if it had just been written).
            conv.last_message_at = max(last_before, event.at) if last_before is not None else event.at
            if conv.assignee_id is None and conv.waiting_since is not None:
                # Unanswered and no one's: it waits for an agent since its client wrote, not since the
                # import — its place in the team's line and the wait the inbox shows (the router keeps a
                # place once given; else it would say "waits 0 min" beside an overdue SLA).
                conv.queued_at = conv.waiting_since
        message = await session.get(Message, result.message_id)
        if message is not None:
            message.created_at = event.at
        return result.conversation_id


def _sender(contact: HistoryContact) -> Sender:
    # The file comes from the team's own system, so its identities are vouched for like an
    # authenticated API sender's: an e-mail that matches a card joins that card.
    refs = []
    if contact.email:
        refs.append(IdentityRef("email", contact.email))
    if contact.phone:
        refs.append(IdentityRef("phone", contact.phone))
    if contact.external_id:
        refs.append(IdentityRef("external", contact.external_id))
    if not refs:
        raise HistoryError("contact: give at least one of email, phone, external_id")
    return Sender(tuple(refs), name=contact.name)


async def _known_sender(session: AsyncSession, conv_id: int | None) -> Sender:
    """A later line without a contact: the conversation's own client, by the identities of their card."""
    conv = await session.get(Conversation, conv_id) if conv_id is not None else None
    if conv is None:
        raise HistoryError("contact: required on the first line of a conversation")
    rows = await session.execute(
        select(Identity.kind, Identity.value).where(Identity.contact_id == conv.contact_id)
    )
    refs = tuple(IdentityRef(cast(IdentityKind, kind), value) for kind, value in rows)
    return Sender(refs)


async def _agent(session: AsyncSession, email: str) -> Agent:
    agent = await session.scalar(select(Agent).where(Agent.email == email.strip().lower()))
    if agent is None:
        raise HistoryError(f"agent: no agent with e-mail {email!r}")
    return agent


async def _team(session: AsyncSession, name: str) -> Team:
    team = await session.scalar(select(Team).where(Team.name == name))
    if team is None:
        raise HistoryError(f"team: no team named {name!r}")
    return team
