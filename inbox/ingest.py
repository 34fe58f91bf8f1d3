"""The one ingest path: every inbound item from every channel goes through here.

    match identities → contact (a new lead if unknown) → thread → conversation (open or reopen)
    → insert the message idempotently on (channel account, external id) → reporting events
    → commit → publish on the event bus

An external id a sender made up (an e-mail Message-ID) can be reused by a different message: an item
with a `content_key` whose external id is stored with another key is stored as ``external_id#key``.

`stage_batch` does the work for many items at once with a handful of SQLAlchemy Core statements and no ORM
objects: one SELECT per kind of row for the whole batch (stored messages by their keys, the senders' cards,
their open conversations, references, hints), in one trip to the database (SQLite's thread; on PostgreSQL one
statement, and the open conversations after it: inbox.bulk.fetch_all), plain records decided in memory, then
one multi-row INSERT … RETURNING each for cards, conversations and messages, one executemany UPDATE per set of
changed conversation columns, and one INSERT each for identities, attachments, reporting events and waits (the
ORM's unit of work cost more than everything else together). On PostgreSQL each of these statements binds its
rows as arrays and keeps one text whatever the batch holds (inbox.pg_bulk: the UPDATE too is one statement),
the messages go in with their reporting events and waits as one statement (inbox.pg_messages), and all of them
run on asyncpg itself under the session (inbox.pg_raw). An ORM object of a changed row that the caller holds
in the session is updated in place. `IngestQueue` feeds it: concurrent ingests that arrive while one
transaction commits form the next batch (group commit). Nobody's future is resolved before the commit that
holds their item, so nothing is acknowledged that a crash could lose.

Matching trusts only what a platform vouches for. A sender is matched to a card by their *vouched*
identities, against the vouched identities of cards. A *typed* identity (what a visitor wrote into a
pre-chat or offline form) never chooses the card: it is kept on the sender's own card as an unverified
detail (an identity row with trust "typed", which may share its value with another card's row), and a
card that has the same value is listed as a duplicate candidate ("typed_email", "typed_phone") for an
agent to decide. So typing a client's e-mail never opens that client's card or history, and a typed row
never makes anyone else's vouched e-mail resolve to the typist's card. A web-chat visitor's messages
thread only into conversations that visitor started (`Conversation.visitor_id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, any_, bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import configure_mappers
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from inbox import pg_raw
from inbox.blobs import BlobStore
from inbox.bounces import bounce_of, mark_failed
from inbox.bulk import Step, fetch_all, run_steps
from inbox.bus import Event, NullPublisher, Publisher
from inbox.identities import InvalidIdentity, normalize
from inbox.items import IdentityKind, IdentityRef, InboundMessage, Refused
from inbox.lists import Statements, dialect_of, in_list
from inbox.matching import Card, CardMatcher, card_statements, found_card_ids
from inbox.models import (
    Attachment,
    ChannelAccount,
    Conversation,
    Message,
    ReportingEvent,
    utcnow,
)
from inbox.pg_bulk import ids_array, insert_rows, pair_params, per_id, per_pair, update_rows
from inbox.pg_messages import OPENS_CYCLE, OPENS_REPLY, Inbound, insert_inbound
from inbox.policy import InboxPolicy
from inbox.quarantine import RefusedResult, keep_raw, stage_refused
from inbox.reports.waits import WAITS, opened_by_inbound
from inbox.unavailable import as_unavailable

log = logging.getLogger(__name__)

MAX_TEXT = 1_000_000  # characters; longer bodies are refused, not truncated silently
EXTERNAL_ID_LENGTH = 500  # inbox.models.Message.external_id
CONTENT_KEY = "content_key"  # where a stored message keeps its item's content key (in meta)


CONVERSATIONS = cast(Table, Conversation.__table__)
MESSAGES = cast(Table, Message.__table__)
ATTACHMENTS = cast(Table, Attachment.__table__)
REPORTING_EVENTS = cast(Table, ReportingEvent.__table__)

# Built once: a statement reused keeps its memoized cache key (SQLAlchemy finds its compiled form without
# walking a new expression tree every batch).
_INSERT_CONVERSATIONS = insert(CONVERSATIONS).returning(CONVERSATIONS.c.id, sort_by_parameter_order=True)
_INSERT_MESSAGES = insert(MESSAGES).returning(MESSAGES.c.id, sort_by_parameter_order=True)
_INSERT_ATTACHMENTS = insert(ATTACHMENTS)
_INSERT_REPORTING_EVENTS = insert(REPORTING_EVENTS)
_INSERT_WAITS = insert(WAITS)
_UPDATES: dict[tuple[str, ...], Any] = {}  # changed columns → executemany UPDATE of those columns


def _update_conversations(columns: tuple[str, ...]) -> Any:
    statement = _UPDATES.get(columns)
    if statement is None:
        statement = _UPDATES[columns] = (
            update(CONVERSATIONS)
            .where(CONVERSATIONS.c.id == bindparam("conv_id"))
            .values({c: bindparam(f"new_{c}", type_=CONVERSATIONS.c[c].type) for c in columns})
        )
    return statement


class IngestError(ValueError):
    """An item the pipeline refuses, with a reason a person can act on."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    contact_id: int
    conversation_id: int
    message_id: int
    duplicate: bool
    # When a new message was stored (None for a duplicate): the web chat's ack shows it without reading
    # the row back (a transaction per ack, queued behind the writers on SQLite).
    created_at: datetime | None = None
    # The message opened its conversation (a new one, or back to open from resolved, pending or snoozed):
    # the router has a dialog to look at.
    opened: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id,
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
            "duplicate": self.duplicate,
        }


@dataclass(slots=True)
class _Prepared:
    item: InboundMessage
    identities: list[IdentityRef]
    invalid: list[str]


@dataclass(frozen=True, slots=True)
class _Account:
    id: int
    kind: str
    team_id: int | None


# The columns of a conversation the batch reads, in the order of `_Conv`'s first fields (not the times it
# overwrites anyway: created, updated, last message).
_CONV_FIELDS = (
    "id",
    "contact_id",
    "account_id",
    "channel_kind",
    "status",
    "team_id",
    "assignee_id",
    "subject",
    "visitor_id",
    "waiting_since",
    "first_response_at",
    "first_response_due",
    "resolved_at",
    "snoozed_until",
)
_CONV_COLUMNS = tuple(CONVERSATIONS.c[name] for name in _CONV_FIELDS)
_CONV_TIMES = ("created_at", "updated_at", "last_message_at")


@dataclass(slots=True, eq=False)
class _Conv:
    """A conversation the batch threads into, as plain values: read from the database, or new (no id).

    `changed` names the columns the batch changed, so that the UPDATE writes only those."""

    id: int | None
    contact_id: int | None
    account_id: int
    channel_kind: str
    status: str
    team_id: int | None
    assignee_id: int | None
    subject: str | None
    visitor_id: str | None
    waiting_since: datetime | None
    first_response_at: datetime | None
    first_response_due: datetime | None
    resolved_at: datetime | None
    snoozed_until: datetime | None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_message_at: datetime | None = None
    card: Card | None = None  # a new conversation's card (a new card has its id only after the write)
    changed: set[str] = field(default_factory=set)

    def set(self, column: str, value: Any) -> None:
        if getattr(self, column) != value:
            setattr(self, column, value)
            self.changed.add(column)

    def new_row(self) -> dict[str, Any]:
        row = {name: getattr(self, name) for name in (*_CONV_FIELDS[1:], *_CONV_TIMES)}
        row["priority"] = 0
        return row


@dataclass(slots=True, eq=False)
class _Msg:
    """A new inbound message: its row, inserted with the batch's other messages, and what it joined."""

    row: dict[str, Any]
    conv: _Conv
    card: Card
    attachments: list[dict[str, Any]]
    id: int | None = None
    # What the message opens (inbound "message" kind only): the cycle's reporting event, if it began one
    # (conversation_opened / _reopened), and its waits (inbox.pg_messages' OPENS_* bits).
    opened_event: str | None = None
    opens: int = 0
    received: datetime | None = None  # when the client wrote (see _Staged.received)


@dataclass(frozen=True, slots=True)
class _Stored:
    """A message already stored under an item's idempotency key (channel account, external id)."""

    id: int
    conversation_id: int
    contact_id: int | None
    meta: dict[str, Any] | None


@dataclass(slots=True, eq=False)
class _Staged:
    """One accepted item: a new message (`msg`), or a redelivery of a stored message (`stored`) or of an
    earlier item of the same batch (`first`)."""

    msg: _Msg | None = None
    stored: _Stored | None = None
    first: _Staged | None = None
    new_conversation: bool = False
    reopened: bool = False
    opened: bool = False  # new, or back to open (see IngestResult.opened)
    # The client began to wait with this message (no wait was open), and since when (for the reports).
    starts_wait: bool = False
    received: datetime | None = None

    def result(self) -> IngestResult:
        if self.stored is not None:
            # An inbound item can share its key with one of our own messages (an echo): no contact then.
            contact_id = cast(int, self.stored.contact_id)
            return IngestResult(contact_id, self.stored.conversation_id, self.stored.id, duplicate=True)
        if self.first is not None:
            return replace(self.first.result(), duplicate=True, created_at=None, opened=False)
        msg = self.msg
        assert msg is not None and msg.id is not None and msg.conv.id is not None and msg.card.id is not None
        created_at, opened = msg.row["created_at"], self.opened
        return IngestResult(msg.card.id, msg.conv.id, msg.id, False, created_at, opened)


@dataclass(slots=True)
class _Batch:
    session: AsyncSession
    policy: InboxPolicy
    matcher: CardMatcher
    known_accounts: dict[int, _Account]  # the caller's, across batches (stage_batch)
    accounts: dict[int, _Account] = field(default_factory=dict)
    convs: dict[int, _Conv] = field(default_factory=dict)  # one record per stored row, however found
    open_conversations: dict[tuple[int, int, str | None], _Conv] = field(default_factory=dict)
    by_reference: dict[tuple[int, str], _Conv] = field(default_factory=dict)
    by_hint: dict[int, _Conv] = field(default_factory=dict)
    seen: dict[tuple[int, str], _Staged] = field(default_factory=dict)
    new_convs: list[_Conv] = field(default_factory=list)
    messages: list[_Msg] = field(default_factory=list)

    def conv(self, row: Sequence[Any]) -> _Conv:
        conv = self.convs.get(row[0])
        if conv is None:
            conv = self.convs[row[0]] = _Conv(*row)
        return conv


def _prepare(item: InboundMessage, policy: InboxPolicy) -> _Prepared:
    if not item.external_id or len(item.external_id) > 500:
        raise IngestError("external_id must be 1-500 characters")
    if len(item.text) > MAX_TEXT:
        raise IngestError(f"text is longer than {MAX_TEXT} characters")
    found: dict[tuple[IdentityKind, str], IdentityRef] = {}
    invalid: list[str] = []
    for ref in item.sender.identities:
        try:
            value = normalize(ref.kind, ref.value, policy.default_region)
        except InvalidIdentity as exc:
            invalid.append(str(exc))
            continue
        key = (ref.kind, value)
        held = found.get(key)
        if held is None or held.trust != "vouched":  # shown both ways: the platform's word wins
            # The sender's own ref when normalizing kept it as it was (most do): no new object per item.
            found[key] = ref if value == ref.value else IdentityRef(ref.kind, value, ref.trust)
    identities = list(found.values())
    if not identities:
        reason = "; ".join(invalid) or "the sender has no identity"
        raise IngestError(f"cannot tell who sent it: {reason}")
    return _Prepared(item, identities, invalid)


def _load_statements(dialect: str) -> dict[str, Any]:
    """The batch's SELECTs, one shape each whatever the batch holds (see inbox.lists)."""
    accounts = in_list(MESSAGES.c.account_id, "accounts", dialect)
    external_ids = in_list(MESSAGES.c.external_id, "external_ids", dialect)
    stored = select(
        MESSAGES.c.account_id,
        MESSAGES.c.external_id,
        MESSAGES.c.id,
        MESSAGES.c.conversation_id,
        MESSAGES.c.contact_id,
        MESSAGES.c.meta,
    )
    references = select(MESSAGES.c.account_id, MESSAGES.c.external_id, *_CONV_COLUMNS).join(
        CONVERSATIONS, CONVERSATIONS.c.id == MESSAGES.c.conversation_id
    )
    if dialect == "postgresql":  # one text each whatever the batch holds (see inbox.pg_bulk)
        account_ids = ids_array("accounts")
        return {
            # By the ids of the cards found, after them: read with them as one statement (fetch_all),
            # PostgreSQL planned the conversations' subquery anew for each batch (~1.5 ms).
            "open_of": per_id(select(*_CONV_COLUMNS), CONVERSATIONS.c.contact_id, "contacts")
            .where(CONVERSATIONS.c.account_id == any_(account_ids), CONVERSATIONS.c.status != "resolved")
            .order_by(CONVERSATIONS.c.id),
            "accounts": select(ChannelAccount.id, ChannelAccount.kind, ChannelAccount.team_id).where(
                ChannelAccount.id == any_(account_ids)
            ),
            "stored": per_pair(stored, MESSAGES.c.account_id, MESSAGES.c.external_id),
            "references": per_pair(references, MESSAGES.c.account_id, MESSAGES.c.external_id),
            "hinted": select(*_CONV_COLUMNS).where(CONVERSATIONS.c.id == any_(ids_array("ids"))),
        }
    return {
        "accounts": select(ChannelAccount.id, ChannelAccount.kind, ChannelAccount.team_id).where(
            in_list(cast(Any, ChannelAccount.id), "accounts", dialect)
        ),
        # Every (account, external id) pair of the two lists: rows of pairs nobody asked for are never
        # looked up. The unique index on (account_id, external_id) serves both lists.
        "stored": stored.where(accounts, external_ids),
        # The unresolved conversations of the cards the batch's identities find, in the trip of that
        # look-up (the same parameters, and the batch's accounts): a trip to the database thread less.
        "open": select(*_CONV_COLUMNS)
        .where(
            CONVERSATIONS.c.contact_id.in_(found_card_ids(dialect)),
            in_list(CONVERSATIONS.c.account_id, "accounts", dialect),
            CONVERSATIONS.c.status != "resolved",
        )
        .order_by(CONVERSATIONS.c.id),
        "references": references.where(accounts, external_ids),
        "hinted": select(*_CONV_COLUMNS).where(in_list(CONVERSATIONS.c.id, "ids", dialect)),
    }


_LOADS = Statements(_load_statements)


def _pairs(
    session: AsyncSession, statements: dict[str, Any], name: str, wanted: dict[int, set[str]]
) -> tuple[Any, dict[str, list[Any]]]:
    """Statement `name` and its parameters for these (account, external id) pairs (see inbox.lists)."""
    if dialect_of(session) == "postgresql":
        return statements[name], pair_params(wanted)
    ids = sorted({external_id for values in wanted.values() for external_id in values})
    return statements[name], {"accounts": sorted(wanted), "external_ids": ids}


async def _load(batch: _Batch, prepared: Sequence[_Prepared]) -> dict[tuple[int, str], _Stored]:
    """Everything the batch needs from the database: one Core SELECT per kind of row, plain values back."""
    session = batch.session
    statements = _LOADS(session)
    account_ids = sorted({p.item.account_id for p in prepared})
    keys: dict[int, set[str]] = {}
    refs: dict[int, set[str]] = {}
    for p in prepared:
        keys.setdefault(p.item.account_id, set()).update(_candidate_ids(p.item))
        if p.item.references:
            refs.setdefault(p.item.account_id, set()).update(p.item.references)
    hints = {p.item.conversation_hint for p in prepared if p.item.conversation_hint is not None}
    identities = [ref for p in prepared for ref in p.identities]
    # The look-ups that need nothing from each other, in one trip (inbox.bulk.fetch_all).
    unknown = [a for a in account_ids if a not in batch.known_accounts]
    reads = [(statements["accounts"], {"accounts": unknown})] if unknown else []
    reads += [_pairs(session, statements, "stored", keys)]
    cards = batch.matcher.query(identities)
    reads += [cards] if cards is not None else []
    reads += [_pairs(session, statements, "references", refs)] if refs else []
    reads += [(statements["hinted"], {"ids": sorted(hints)})] if hints else []
    # The open conversations in the same trip as the cards on SQLite; after them on PostgreSQL, where read
    # in the same statement they were planned anew for each batch (see _load_statements).
    together = dialect_of(session) != "postgresql"
    if cards is not None and together:
        reads.append((statements["open"], {**cards[1], "accounts": account_ids}))
    found = iter(await fetch_all(session, reads))

    for account_id, kind, team_id in next(found) if unknown else ():
        batch.known_accounts[account_id] = _Account(account_id, kind, team_id)
    batch.accounts.update((a, batch.known_accounts[a]) for a in account_ids if a in batch.known_accounts)
    existing: dict[tuple[int, str], _Stored] = {}
    for account_id, external_id, message_id, conversation_id, contact_id, meta in next(found):
        existing[(account_id, external_id or "")] = _Stored(message_id, conversation_id, contact_id, meta)
    if cards is not None:
        batch.matcher.absorb(next(found), identities)
    references = next(found) if refs else []
    hinted = next(found) if hints else []
    unresolved: Sequence[Any] = []
    if cards is not None and together:
        unresolved = next(found)
    elif contact_ids := {c.id for cards in batch.matcher.by_identity.values() for c in cards} - {None}:
        unresolved = await pg_raw.fetch(
            session, statements["open_of"], {"contacts": sorted(contact_ids), "accounts": account_ids}
        )

    # The latest unresolved one wins: later rows overwrite earlier.
    for row in unresolved:
        conv = batch.conv(row)
        batch.open_conversations[(cast(int, conv.contact_id), conv.account_id, conv.visitor_id)] = conv

    for account_id, external_id, *conv_row in references:
        batch.by_reference[(account_id, external_id or "")] = batch.conv(conv_row)
    for row in hinted:
        conv = batch.conv(row)
        batch.by_hint[cast(int, conv.id)] = conv
    return existing


def _match_contact(batch: _Batch, p: _Prepared, account: _Account) -> Card:
    """The sender's card, by their vouched identities only (a new lead if none matches)."""
    sender = p.item.sender
    return batch.matcher.match(
        p.identities,
        name=sender.name or sender.username,
        source_channel=account.kind,
        first_seen=p.item.sent_at,
    )


def _visitor(p: _Prepared, account: _Account) -> str | None:
    """The web-chat visitor id a message came with: its conversations are that visitor's own."""
    if account.kind != "webchat":
        return None
    return next((r.value for r in p.identities if r.kind == "webchat" and r.trust == "vouched"), None)


def _thread(batch: _Batch, p: _Prepared, card: Card, account: _Account) -> tuple[_Conv, bool]:
    item = p.item
    for ref in item.references:
        conv = batch.by_reference.get((account.id, ref))
        if conv is not None:
            return conv, False
    if item.conversation_hint is not None:
        hinted = batch.by_hint.get(item.conversation_hint)
        # A typed "[#N]" (unlike a signed reply token) may come from anyone: only its own contact joins.
        trusted = item.hint_source != "subject_tag" or (
            hinted is not None and card.id is not None and hinted.contact_id == card.id
        )
        if hinted is not None and hinted.account_id == account.id and trusted:
            return hinted, False
    visitor = _visitor(p, account)
    key = (id(card) if card.id is None else card.id, account.id, visitor)
    conv = None if item.own_conversation else batch.open_conversations.get(key)
    if conv is not None:
        return conv, False
    noise = item.kind != "message"
    now = utcnow()
    team_id = account.team_id
    if card.id is None and not noise and batch.policy.new_clients_team_id is not None:
        # A card this message creates: the new lead's first dialog goes to the "new clients" team. The
        # routing rules look at the dialog after this commit, and one that names a team still wins.
        team_id = batch.policy.new_clients_team_id
    conv = _Conv(
        id=None,
        contact_id=card.id,
        account_id=account.id,
        channel_kind=account.kind,
        # Auto-replies, bounces and service events are kept but never open a dialog of their own.
        status="resolved" if noise else "open",
        team_id=team_id,
        assignee_id=None,
        subject=item.subject,
        visitor_id=visitor,
        created_at=now,
        updated_at=now,
        last_message_at=None,
        waiting_since=None,
        first_response_at=None,
        first_response_due=None,
        resolved_at=now if noise else None,
        snoozed_until=None,
        card=card,
    )
    batch.new_convs.append(conv)
    if not noise:
        batch.open_conversations[key] = conv
    return conv, True


async def _store_attachments(prepared: Sequence[_Prepared], policy: InboxPolicy) -> dict[int, str]:
    """Write attachment bytes before the transaction (see inbox.blobs); id(attachment) → SHA-256."""
    digests: dict[int, str] = {}
    store = BlobStore(policy.attachments_dir) if policy.attachments_dir else None
    for p in prepared:
        for att in p.item.attachments:
            if att.content is None or att.refused:
                continue
            if store is not None:
                digests[id(att)] = await store.put(att.content)
            else:
                digests[id(att)] = hashlib.sha256(att.content).hexdigest()
    return digests


def _candidate_ids(item: InboundMessage) -> list[str]:
    """The external ids `item` may be stored under: its own, and its own with its content key."""
    if item.content_key is None:
        return [item.external_id]
    return [item.external_id, _keyed_id(item.external_id, item.content_key)]


def _keyed_id(external_id: str, content_key: str) -> str:
    suffix = "#" + content_key[:64]
    return external_id[: EXTERNAL_ID_LENGTH - len(suffix)] + suffix


def _stored_under(
    batch: _Batch, item: InboundMessage, existing: dict[tuple[int, str], _Stored]
) -> InboundMessage:
    """`item`, re-keyed when its external id is taken by a different message (another content key).

    A message stored before content keys existed, or without one, counts as the same message: a
    redelivery must never become a second copy.
    """
    if item.content_key is None:
        return item
    key = (item.account_id, item.external_id)
    meta: dict[str, Any] | None
    if key in existing:
        meta = existing[key].meta
    elif key in batch.seen and (first := batch.seen[key].msg) is not None:
        meta = first.row["meta"]
    else:
        return item
    stored = (meta or {}).get(CONTENT_KEY)
    if stored is None or stored == item.content_key:
        return item
    return replace(item, external_id=_keyed_id(item.external_id, item.content_key))


def _stage_one(
    batch: _Batch, p: _Prepared, existing: dict[tuple[int, str], _Stored], digests: dict[int, str]
) -> _Staged:
    item = _stored_under(batch, p.item, existing)
    key = (item.account_id, item.external_id)
    if key in existing:
        return _Staged(stored=existing[key])
    if key in batch.seen:
        return _Staged(first=batch.seen[key])
    account = batch.accounts.get(item.account_id)
    if account is None:
        raise IngestError(f"unknown channel account id {item.account_id}")
    card = _match_contact(batch, p, account)
    conv, created = _thread(batch, p, card, account)
    now = utcnow()
    # The platform's time, unless it lies in the future (a skewed clock): waits start when the client wrote.
    received = min(item.sent_at, now) if item.sent_at is not None else now
    reopened = False
    opened = created
    starts_wait = False
    if item.kind == "message":
        if not created and conv.status != "open":
            opened = True
            reopened = conv.status == "resolved"
            conv.set("status", "open")
            conv.set("resolved_at", None)
            conv.set("snoozed_until", None)
        if conv.waiting_since is None:
            starts_wait = True
            conv.set("waiting_since", received)
        if conv.first_response_at is None and conv.first_response_due is None:
            conv.set("first_response_due", received + batch.policy.first_response_sla)
    conv.set("last_message_at", now)
    conv.set("updated_at", now)
    if conv.subject is None and item.subject:
        conv.set("subject", item.subject)
    meta = dict(item.meta)
    if item.content_key is not None:  # read back when another message arrives with the same external id
        meta[CONTENT_KEY] = item.content_key
    if item.offline_form:  # read back by the UI (the form's label, replies by e-mail)
        meta["offline_form"] = True
    if item.from_account:  # read back by the outbox (an echo of our own reply is dropped)
        meta["from_account"] = True
    if p.invalid:
        meta["invalid_identities"] = p.invalid
    row = {
        "account_id": account.id,
        "direction": "in",
        "kind": item.kind,
        "external_id": item.external_id,
        "subject": item.subject,
        "body_text": item.text,
        "body_html": item.html,
        "sent_at": item.sent_at,
        "created_at": now,
        "meta": meta,
    }
    attachments = [
        {
            "filename": att.filename,
            "content_type": att.content_type,
            "size": att.size,
            "sha256": digests.get(id(att), att.sha256),
            "refused": att.refused,
        }
        for att in item.attachments
    ]
    msg = _Msg(row, conv, card, attachments, received=received)
    if item.kind == "message":  # as _after_write files them (see inbox.reports.waits.opened_by_inbound)
        new_cycle = created or reopened
        msg.opened_event = "conversation_opened" if created else "conversation_reopened" if reopened else None
        msg.opens = (OPENS_CYCLE if new_cycle else 0) | (OPENS_REPLY if starts_wait or new_cycle else 0)
    batch.messages.append(msg)
    staged = _Staged(
        msg,
        new_conversation=created,
        reopened=reopened,
        opened=opened,
        starts_wait=starts_wait,
        received=received,
    )
    batch.seen[key] = staged
    return staged


async def _write(batch: _Batch, staged: Sequence[_Staged]) -> None:
    """The batch's rows with a few Core statements: multi-row INSERT … RETURNING where ids are needed
    (cards, conversations, messages), one UPDATE per set of changed conversation columns."""
    groups: dict[tuple[str, ...], list[_Conv]] = {}
    for conv in batch.convs.values():
        if conv.changed:
            groups.setdefault(tuple(sorted(conv.changed)), []).append(conv)
    if dialect_of(batch.session) == "postgresql":
        await _write_arrays(batch, groups)
    else:
        await _write_steps(batch, groups, staged)
    _sync_session(batch)


@dataclass(slots=True)
class _Measures:
    """The reporting events and waits of a batch's new inbound messages (SQLite: PostgreSQL writes them
    with the messages, inbox.pg_messages), made once their rows have ids."""

    staged: Sequence[_Staged]
    made: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None

    def rows(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        if self.made is None:
            measured: list[dict[str, Any]] = []
            waits: list[dict[str, Any]] = []
            for s in self.staged:
                msg = s.msg
                if msg is None or msg.row["kind"] != "message":
                    continue
                conv, card = msg.conv, msg.card
                at = s.received or msg.row["created_at"]
                common: dict[str, Any] = {
                    "conversation_id": conv.id,
                    "contact_id": card.id,
                    "team_id": conv.team_id,
                    "agent_id": conv.assignee_id,
                    "account_id": conv.account_id,
                    "channel_kind": conv.channel_kind,
                    "occurred_at": at,
                }
                new_cycle = s.new_conversation or s.reopened
                waits += opened_by_inbound(conv, at, new_cycle=new_cycle, starts_wait=s.starts_wait)
                if s.new_conversation:
                    measured.append({"name": "conversation_opened", **common})
                elif s.reopened:
                    measured.append({"name": "conversation_reopened", **common})
                measured.append({"name": "message_received", **common})
            self.made = measured, waits
        return self.made


async def _write_steps(
    batch: _Batch, groups: dict[tuple[str, ...], list[_Conv]], staged: Sequence[_Staged]
) -> None:
    """SQLite: the statements run as steps (inbox.bulk), in one trip to the database thread, each step
    reading the ids the steps before it assigned; the reporting events and waits in the same trip."""
    messages = batch.messages
    measures = _Measures(staged)

    def new_convs() -> list[dict[str, Any]]:
        for conv in batch.new_convs:
            conv.contact_id = conv.card.id if conv.card is not None else conv.contact_id
        return [conv.new_row() for conv in batch.new_convs]

    def conv_ids(ids: list[int]) -> None:
        for conv, conv_id in zip(batch.new_convs, ids, strict=True):
            conv.id = conv_id

    def message_rows() -> list[dict[str, Any]]:
        for msg in messages:
            msg.row["conversation_id"] = msg.conv.id
            msg.row["contact_id"] = msg.card.id
        return [msg.row for msg in messages]

    def message_ids(ids: list[int]) -> None:
        for msg, message_id in zip(messages, ids, strict=True):
            msg.id = message_id

    def attachments() -> list[dict[str, Any]]:
        return [{"message_id": msg.id, **att} for msg in messages for att in msg.attachments]

    updates = [
        Step(_update_conversations(columns), _changes(columns, convs)) for columns, convs in groups.items()
    ]
    await run_steps(
        batch.session,
        [
            *batch.matcher.steps(),
            Step(_INSERT_CONVERSATIONS, new_convs, conv_ids),
            *updates,
            Step(_INSERT_MESSAGES, message_rows, message_ids),
            Step(_INSERT_ATTACHMENTS, attachments),
            Step(_INSERT_REPORTING_EVENTS, lambda: measures.rows()[0]),
            Step(_INSERT_WAITS, lambda: measures.rows()[1]),
        ],
    )
    await batch.matcher.written()


async def _write_arrays(batch: _Batch, groups: dict[tuple[str, ...], list[_Conv]]) -> None:
    """PostgreSQL: every statement has one fixed text and takes its rows as arrays (see inbox.pg_bulk)."""
    session = batch.session
    await batch.matcher.write()
    if batch.new_convs:
        for conv in batch.new_convs:
            conv.contact_id = conv.card.id if conv.card is not None else conv.contact_id
        rows = [conv.new_row() for conv in batch.new_convs]
        conv_ids = await insert_rows(session, CONVERSATIONS, rows, fallback=_INSERT_CONVERSATIONS, ids=True)
        for conv, conv_id in zip(batch.new_convs, conv_ids, strict=True):
            conv.id = conv_id
    for columns, convs in groups.items():
        changes = [{c: getattr(conv, c) for c in columns} for conv in convs]
        await update_rows(session, CONVERSATIONS, "id", columns, [conv.id for conv in convs], changes)
    if batch.messages:
        inbound: list[Inbound] = []
        for msg in batch.messages:
            conv = msg.conv
            msg.row["conversation_id"] = conv.id
            msg.row["contact_id"] = msg.card.id
            inbound.append(
                Inbound(
                    msg.row,
                    msg.received or msg.row["created_at"],
                    msg.opened_event,
                    msg.opens,
                    conv.account_id,
                    conv.contact_id,
                    conv.channel_kind,
                    conv.team_id,
                    conv.assignee_id,
                )
            )
        # With their reporting events and waits (_after_write leaves those to this on PostgreSQL).
        message_ids = await insert_inbound(session, inbound)
        attachments: list[dict[str, Any]] = []
        for msg, message_id in zip(batch.messages, message_ids, strict=True):
            msg.id = message_id
            attachments += [{"message_id": message_id, **att} for att in msg.attachments]
        await insert_rows(session, ATTACHMENTS, attachments, fallback=_INSERT_ATTACHMENTS)


def _changes(columns: tuple[str, ...], convs: list[_Conv]) -> Callable[[], list[dict[str, Any]]]:
    """The rows of the UPDATE of `columns` of `convs`."""
    return lambda: [{"conv_id": conv.id, **{f"new_{c}": getattr(conv, c) for c in columns}} for conv in convs]


def _sync_session(batch: _Batch) -> None:
    """Conversations the caller holds as ORM objects in the session get the values just written."""
    identity_map = batch.session.sync_session.identity_map
    if not identity_map:
        return
    for conv in batch.convs.values():
        held = identity_map.get(identity_key(Conversation, conv.id)) if conv.changed else None
        if held is not None:
            for column in conv.changed:
                set_committed_value(held, column, getattr(conv, column))


async def stage_batch(
    session: AsyncSession,
    items: Sequence[InboundMessage],
    policy: InboxPolicy,
    known_accounts: dict[int, _Account] | None = None,
) -> tuple[list[IngestResult | Exception], list[Event]]:
    """Stage many items in `session` (not committed). Per-item refusals come back as exceptions.

    `known_accounts`, kept by the caller from batch to batch, spares the SELECT of channel accounts
    already read (their kind and team change only when the hub syncs its configuration: IngestQueue)."""
    # Refusals are decided before any database work, so one bad item never spoils the batch.
    checked: list[_Prepared | Exception] = []
    for item in items:
        try:
            checked.append(_prepare(item, policy))
        except IngestError as exc:
            checked.append(exc)
    prepared = [c for c in checked if isinstance(c, _Prepared)]
    digests = await _store_attachments(prepared, policy)
    batch = _Batch(
        session, policy, CardMatcher(session), known_accounts={} if known_accounts is None else known_accounts
    )
    existing: dict[tuple[int, str], _Stored] = {}
    if prepared:
        await session.flush()  # what the caller staged, for the Core statements to see
        existing = await _load(batch, prepared)
    outcomes: list[_Staged | Exception] = []
    for entry in checked:
        if isinstance(entry, Exception):
            outcomes.append(entry)
            continue
        try:
            outcomes.append(_stage_one(batch, entry, existing, digests))
        except IngestError as exc:
            outcomes.append(exc)
    staged = [o for o in outcomes if isinstance(o, _Staged)]
    await _write(batch, staged)
    events = await _after_write(batch, staged)
    await session.flush()  # what the bounces changed (ORM objects)
    results = [o.result() if isinstance(o, _Staged) else o for o in outcomes]
    return results, events


async def _after_write(batch: _Batch, staged: Iterable[_Staged]) -> list[Event]:
    """Duplicate candidates and bus events, now that every row has its id (the reporting events and waits
    went in with the rows: _write)."""
    session = batch.session
    events: list[Event] = []
    for s in staged:
        msg = s.msg
        if msg is None:
            continue
        conv, card = msg.conv, msg.card
        kind, text = msg.row["kind"], msg.row["body_text"]
        if kind == "bounce":
            # A delivery report naming our message fails it, in the transaction that stores the report.
            found = bounce_of(msg.row["meta"])
            if found is not None:
                ids, reason = found
                events += await mark_failed(
                    session, account_id=conv.account_id, message_ids=ids, reason=reason
                )
        scope = {"conversation_id": conv.id, "team_id": conv.team_id, "assignee_id": conv.assignee_id}
        owner = card.owner_id
        if kind == "message" and owner is not None and owner != conv.assignee_id:
            # A returning client writes: their owner hears of it even when someone else has the dialog.
            # Addressed to the owner alone (no team): inbox.visibility lets only them (and admins) see it.
            events.append(
                Event(
                    "client.returned",
                    conversation_id=conv.id,
                    team_id=None,
                    assignee_id=owner,
                    data={
                        "contact_id": card.id,
                        "owner_id": owner,
                        "conversation_id": conv.id,
                        "preview": text[:200],
                    },
                )
            )
        if s.new_conversation:
            events.append(Event("conversation.created", **scope, data={"contact_id": card.id}))
        events.append(
            Event(
                "message.created",
                **scope,
                data={
                    "message_id": msg.id,
                    "direction": "in",
                    "kind": kind,
                    "contact_id": card.id,
                    "preview": text[:200],
                },
            )
        )
    await batch.matcher.record_duplicates()
    return events


def warm_up(session: AsyncSession) -> None:
    """Configure the ORM's mappers and, on PostgreSQL, compile the batch's SELECTs now rather than in the
    first batch, which they delayed by about 40 ms of CPU (measured: 30 ms of it the mappers)."""
    configure_mappers()
    if dialect_of(session) == "postgresql":
        statements = [*_LOADS(session).values(), *card_statements(session)]
        pg_raw.compile_ahead(statements, session.get_bind().dialect)


async def ingest(
    session: AsyncSession,
    item: InboundMessage,
    policy: InboxPolicy | None = None,
    publisher: Publisher | None = None,
) -> IngestResult:
    """Ingest one item in `session` and commit. A redelivered item changes nothing (`duplicate=True`)."""
    results, events = await stage_batch(session, [item], policy or InboxPolicy())
    await session.commit()
    result = results[0]
    if isinstance(result, Exception):
        raise result
    for event in events:
        await (publisher or NullPublisher()).publish(event)
    return result


Queued = InboundMessage | Refused
QueuedResult = IngestResult | RefusedResult


async def stage_items(
    session: AsyncSession,
    items: Sequence[Queued],
    policy: InboxPolicy,
    known_accounts: dict[int, _Account] | None = None,
) -> tuple[list[QueuedResult | Exception], list[Event]]:
    """Stage new messages and refused items together (not committed), results in the order of `items`.

    A refused item shares its neighbours' transaction, so it is committed exactly when they are (see
    inbox.quarantine); its raw bytes are written to the blob store first, like attachments.
    """
    messages = [i for i in items if isinstance(i, InboundMessage)]
    refused = [i for i in items if isinstance(i, Refused)]
    store = BlobStore(policy.attachments_dir) if policy.attachments_dir else None
    digests = await keep_raw(refused, store)
    message_results, events = (
        await stage_batch(session, messages, policy, known_accounts) if messages else ([], [])
    )
    refused_results = await stage_refused(session, refused, digests, inline=store is None)
    by_message, by_refusal = iter(message_results), iter(refused_results)
    results: list[QueuedResult | Exception] = [
        next(by_message) if isinstance(i, InboundMessage) else next(by_refusal) for i in items
    ]
    return results, events


class IngestQueue:
    """Group commit: concurrent `submit` calls share one transaction; each returns after its commit.

    Refused items (`submit_refused`) ride in the same batches: see inbox.quarantine. When the database is
    unavailable (down, locked past the busy timeout, full) the batch's callers get
    :class:`inbox.unavailable.StoreUnavailable`: nothing of it was stored, and the same item may be handed
    in again (stored once, by its external id).
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        policy: InboxPolicy | None = None,
        publisher: Publisher | None = None,
        max_batch: int = 500,
        on_opened: Callable[[], None] | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        # Called after a committed batch that opened a conversation (IngestResult.opened), before its events
        # go out: the hub wakes the router, which runs right after the commit in its own transaction. A
        # message to a dialog already open changes nothing the router decides on; waking it for every batch
        # put one more transaction per group commit in the write lock's queue on SQLite (a pass holding
        # it 4 ms at the median, 27 ms at p99, at 200 web-chat messages/s on a loaded machine).
        self._on_opened = on_opened
        self.policy = policy or InboxPolicy()  # the hub may replace it before it starts
        self._publisher = publisher or NullPublisher()
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Queued, asyncio.Future[Any]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # how many transactions were committed (for benchmarks and tests)
        # Channel accounts' kind and team as the batches read them, so that a batch reads only those it
        # has not seen (on PostgreSQL a round trip of the eight a web-chat message's batch made). The
        # hub forgets them whenever it writes accounts from its configuration (forget_accounts).
        self._accounts: dict[int, _Account] = {}

    async def start(self) -> None:
        if self._task is None:
            async with self._sessionmaker() as session:  # no connection taken: only its dialect is read
                warm_up(session)
            self._task = asyncio.create_task(self._run(), name="okno-ingest")

    async def stop(self) -> None:
        """Finish what was submitted, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def forget_accounts(self) -> None:
        """Channel accounts changed (kind, team): the next batches read them again."""
        self._accounts = {}

    async def submit(self, item: InboundMessage) -> IngestResult:
        result: IngestResult = await self._enqueue(item)
        return result

    async def submit_refused(self, item: Refused) -> RefusedResult:
        """Store `item` in the quarantine; returns after the commit that holds it."""
        result: RefusedResult = await self._enqueue(item)
        return result

    async def _enqueue(self, item: Queued) -> Any:
        if self._task is None:
            raise RuntimeError("IngestQueue.submit() before start()")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))  # unbounded: never waits (no coroutine per item for put)
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._process(batch)
            except Exception as exc:  # never let the loop die: fail the batch's callers instead
                failure: Exception | None = as_unavailable(exc)
                if failure is not None:  # no bug: the callers hear "try again later" (HTTP 503)
                    log.warning("ingest batch of %d not stored: %s", len(batch), failure)
                else:
                    log.exception("ingest batch failed")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(failure or exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _process(self, batch: list[tuple[Queued, asyncio.Future[Any]]]) -> None:
        items = [item for item, _ in batch]
        results: list[QueuedResult | Exception]
        try:
            async with self._sessionmaker() as session:
                results, events = await stage_items(session, items, self.policy, self._accounts)
                await session.commit()
        except (IntegrityError, DBAPIError) as exc:
            if (unavailable := as_unavailable(exc)) is not None:
                # Down, locked past the busy timeout, or full: one by one would only wait as long again
                # per item. The whole batch fails, nothing of it stored; its callers may try again.
                raise unavailable from exc
            # A race with another process (the same message or sender inserted meanwhile) or one row the
            # database refuses: take the items one by one, so the others still go in.
            log.info("ingest batch of %d fell back to one by one: %s", len(items), exc.__class__.__name__)
            results, events = [], []
            for item in items:
                one, evs = await self._one_with_retry(item)
                results.append(one)
                events.extend(evs)
        self.batches += 1
        if self._on_opened is not None and any(isinstance(r, IngestResult) and r.opened for r in results):
            self._on_opened()
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
        for event in events:
            try:
                await self._publisher.publish(event)
            except Exception:  # the data is committed; a lost notification must not fail the caller
                log.exception("publishing %s failed", event.type)

    async def _one_with_retry(self, item: Queued) -> tuple[QueuedResult | Exception, list[Event]]:
        last: Exception | None = None
        for _ in range(3):
            try:
                async with self._sessionmaker() as session:
                    results, events = await stage_items(session, [item], self.policy, self._accounts)
                    await session.commit()
                return results[0], events
            except (IntegrityError, DBAPIError) as exc:
                if (unavailable := as_unavailable(exc)) is not None:
                    return unavailable, []
                last = exc
        return IngestError(f"the database refused the item: {last}"), []
