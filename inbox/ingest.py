"""The one ingest path: every inbound item from every channel goes through here.

    match identities → contact (a new lead if unknown) → thread → conversation (open or reopen)
    → insert the message idempotently on (channel account, external id) → reporting events
    → commit → publish on the event bus

An external id a sender made up (an e-mail Message-ID) can be reused by a different message: an item
with a `content_key` whose external id is stored with another key is stored as ``external_id#key``.

`stage_batch` does the work for many items at once with a handful of queries (the lookups are batched,
the inserts go out as multi-row statements), and `IngestQueue` feeds it: concurrent ingests that arrive
while one transaction commits form the next batch (group commit). Nobody's future is resolved before the
commit that holds their item, so nothing is acknowledged that a crash could lose.

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
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from inbox.blobs import BlobStore
from inbox.bounces import apply_bounce
from inbox.bus import Event, NullPublisher, Publisher
from inbox.identities import InvalidIdentity, normalize
from inbox.items import IdentityKind, IdentityRef, InboundMessage, Refused, Trust
from inbox.matching import Matcher
from inbox.models import (
    Attachment,
    ChannelAccount,
    Contact,
    Conversation,
    Message,
    ReportingEvent,
    utcnow,
)
from inbox.policy import InboxPolicy
from inbox.quarantine import RefusedResult, keep_raw, stage_refused
from inbox.reports.waits import insert_waits, opened_by_inbound

log = logging.getLogger(__name__)

MAX_TEXT = 1_000_000  # characters; longer bodies are refused, not truncated silently
EXTERNAL_ID_LENGTH = 500  # inbox.models.Message.external_id
CONTENT_KEY = "content_key"  # where a stored message keeps its item's content key (in meta)


class IngestError(ValueError):
    """An item the pipeline refuses, with a reason a person can act on."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    contact_id: int
    conversation_id: int
    message_id: int
    duplicate: bool

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


@dataclass(slots=True)
class _Staged:
    """One accepted item: the objects it created or joined, resolved to ids after the flush."""

    message: Message
    contact: Contact
    conversation: Conversation
    duplicate: bool = False
    new_conversation: bool = False
    reopened: bool = False
    # The client began to wait with this message (no wait was open), and since when (for the reports).
    starts_wait: bool = False
    received: datetime | None = None


@dataclass(slots=True)
class _Batch:
    session: AsyncSession
    policy: InboxPolicy
    matcher: Matcher
    accounts: dict[int, ChannelAccount] = field(default_factory=dict)
    open_conversations: dict[tuple[int, int, str | None], Conversation] = field(default_factory=dict)
    by_reference: dict[tuple[int, str], Conversation] = field(default_factory=dict)
    by_hint: dict[int, Conversation] = field(default_factory=dict)
    seen: dict[tuple[int, str], _Staged] = field(default_factory=dict)


def _prepare(item: InboundMessage, policy: InboxPolicy) -> _Prepared:
    if not item.external_id or len(item.external_id) > 500:
        raise IngestError("external_id must be 1-500 characters")
    if len(item.text) > MAX_TEXT:
        raise IngestError(f"text is longer than {MAX_TEXT} characters")
    found: dict[tuple[IdentityKind, str], Trust] = {}
    invalid: list[str] = []
    for ref in item.sender.identities:
        try:
            value = normalize(ref.kind, ref.value, policy.default_region)
        except InvalidIdentity as exc:
            invalid.append(str(exc))
            continue
        if found.get((ref.kind, value)) != "vouched":  # shown both ways: the platform's word wins
            found[(ref.kind, value)] = ref.trust
    identities = [IdentityRef(kind, value, trust) for (kind, value), trust in found.items()]
    if not identities:
        reason = "; ".join(invalid) or "the sender has no identity"
        raise IngestError(f"cannot tell who sent it: {reason}")
    return _Prepared(item, identities, invalid)


async def _load(batch: _Batch, prepared: Sequence[_Prepared]) -> dict[tuple[int, str], Message]:
    """Everything the batch needs from the database, in a few queries."""
    session = batch.session
    account_ids = {p.item.account_id for p in prepared}
    for account in (
        await session.scalars(select(ChannelAccount).where(ChannelAccount.id.in_(account_ids)))
    ).all():
        batch.accounts[account.id] = account

    existing: dict[tuple[int, str], Message] = {}
    for account_id in account_ids:
        ids = [i for p in prepared if p.item.account_id == account_id for i in _candidate_ids(p.item)]
        rows = await session.scalars(
            select(Message)
            .where(Message.account_id == account_id, Message.external_id.in_(ids))
            .options(selectinload(Message.conversation), selectinload(Message.contact))
        )
        for message in rows:
            existing[(account_id, message.external_id or "")] = message

    await batch.matcher.load(ref for p in prepared for ref in p.identities)

    contact_ids = {c.id for contacts in batch.matcher.by_identity.values() for c in contacts}
    if contact_ids:
        convs = await session.scalars(
            select(Conversation)
            .where(
                Conversation.contact_id.in_(contact_ids),
                Conversation.account_id.in_(account_ids),
                Conversation.status != "resolved",
            )
            .order_by(Conversation.id)
        )
        for conv in convs:  # the latest unresolved one wins: later rows overwrite earlier
            batch.open_conversations[(conv.contact_id, conv.account_id, conv.visitor_id)] = conv

    for account_id in account_ids:
        refs = {r for p in prepared if p.item.account_id == account_id for r in p.item.references}
        if not refs:
            continue
        rows3 = await session.execute(
            select(Message.external_id, Conversation)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.account_id == account_id, Message.external_id.in_(sorted(refs)))
        )
        for external_id, conv in rows3:
            batch.by_reference[(account_id, external_id or "")] = conv

    hints = {p.item.conversation_hint for p in prepared if p.item.conversation_hint is not None}
    if hints:
        for conv in await session.scalars(select(Conversation).where(Conversation.id.in_(hints))):
            batch.by_hint[conv.id] = conv
    return existing


def _match_contact(batch: _Batch, p: _Prepared, account: ChannelAccount) -> Contact:
    """The sender's card, by their vouched identities only (a new lead if none matches)."""
    sender = p.item.sender
    return batch.matcher.match(
        p.identities,
        name=sender.name or sender.username,
        source_channel=account.kind,
        first_seen=p.item.sent_at,
    )


def _visitor(p: _Prepared, account: ChannelAccount) -> str | None:
    """The web-chat visitor id a message came with: its conversations are that visitor's own."""
    if account.kind != "webchat":
        return None
    return next((r.value for r in p.identities if r.kind == "webchat" and r.trust == "vouched"), None)


def _thread(
    batch: _Batch, p: _Prepared, contact: Contact, account: ChannelAccount
) -> tuple[Conversation, bool]:
    item = p.item
    for ref in item.references:
        conv = batch.by_reference.get((account.id, ref))
        if conv is not None:
            return conv, False
    if item.conversation_hint is not None:
        hinted = batch.by_hint.get(item.conversation_hint)
        # A typed "[#N]" (unlike a signed reply token) may come from anyone: only its own contact joins.
        trusted = item.hint_source != "subject_tag" or (
            hinted is not None and contact.id is not None and hinted.contact_id == contact.id
        )
        if hinted is not None and hinted.account_id == account.id and trusted:
            return hinted, False
    visitor = _visitor(p, account)
    key = (id(contact) if contact.id is None else contact.id, account.id, visitor)
    conv = batch.open_conversations.get(key)
    if conv is not None:
        return conv, False
    noise = item.kind != "message"
    now = utcnow()
    team_id = account.team_id
    if contact.id is None and not noise and batch.policy.new_clients_team_id is not None:
        # A card this message creates: the new lead's first dialog goes to the "new clients" team. The
        # routing rules look at the dialog after this commit, and one that names a team still wins.
        team_id = batch.policy.new_clients_team_id
    conv = Conversation(
        contact=contact,
        account_id=account.id,
        channel_kind=account.kind,
        subject=item.subject,
        # Auto-replies, bounces and service events are kept but never open a dialog of their own.
        status="resolved" if noise else "open",
        resolved_at=now if noise else None,
        team_id=team_id,
        priority=0,
        visitor_id=visitor,
        created_at=now,
        updated_at=now,
    )
    batch.session.add(conv)
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
    batch: _Batch, item: InboundMessage, existing: dict[tuple[int, str], Message]
) -> InboundMessage:
    """`item`, re-keyed when its external id is taken by a different message (another content key).

    A message stored before content keys existed, or without one, counts as the same message: a
    redelivery must never become a second copy.
    """
    if item.content_key is None:
        return item
    key = (item.account_id, item.external_id)
    holder = existing.get(key) or (batch.seen[key].message if key in batch.seen else None)
    if holder is None:
        return item
    stored = (holder.meta or {}).get(CONTENT_KEY)
    if stored is None or stored == item.content_key:
        return item
    return replace(item, external_id=_keyed_id(item.external_id, item.content_key))


def _stage_one(
    batch: _Batch, p: _Prepared, existing: dict[tuple[int, str], Message], digests: dict[int, str]
) -> _Staged:
    item = _stored_under(batch, p.item, existing)
    key = (item.account_id, item.external_id)
    if key in existing:
        old = existing[key]
        return _Staged(old, old.contact or Contact(), old.conversation, duplicate=True)
    if key in batch.seen:
        first = batch.seen[key]
        return _Staged(first.message, first.contact, first.conversation, duplicate=True)
    account = batch.accounts.get(item.account_id)
    if account is None:
        raise IngestError(f"unknown channel account id {item.account_id}")
    contact = _match_contact(batch, p, account)
    conv, created = _thread(batch, p, contact, account)
    now = utcnow()
    # The platform's time, unless it lies in the future (a skewed clock): waits start when the client wrote.
    received = min(item.sent_at, now) if item.sent_at is not None else now
    reopened = False
    starts_wait = False
    if item.kind == "message":
        if not created and conv.status != "open":
            reopened = conv.status == "resolved"
            conv.status = "open"
            conv.resolved_at = None
            conv.snoozed_until = None
        if conv.waiting_since is None:
            starts_wait = True
            conv.waiting_since = received
        if conv.first_response_at is None and conv.first_response_due is None:
            conv.first_response_due = received + batch.policy.first_response_sla
    conv.last_message_at = now
    conv.updated_at = now
    if conv.subject is None and item.subject:
        conv.subject = item.subject
    meta = dict(item.meta)
    if item.content_key is not None:  # read back when another message arrives with the same external id
        meta[CONTENT_KEY] = item.content_key
    if item.offline_form:  # read back by the UI (the form's label, replies by e-mail)
        meta["offline_form"] = True
    if item.from_account:  # read back by the outbox (an echo of our own reply is dropped)
        meta["from_account"] = True
    if p.invalid:
        meta["invalid_identities"] = p.invalid
    message = Message(
        conversation=conv,
        account_id=account.id,
        direction="in",
        kind=item.kind,
        contact=contact,
        external_id=item.external_id,
        subject=item.subject,
        body_text=item.text,
        body_html=item.html,
        sent_at=item.sent_at,
        created_at=now,
        meta=meta,
    )
    for att in item.attachments:
        message.attachments.append(
            Attachment(
                filename=att.filename,
                content_type=att.content_type,
                size=att.size,
                sha256=digests.get(id(att), att.sha256),
                refused=att.refused,
            )
        )
    batch.session.add(message)
    staged = _Staged(
        message,
        contact,
        conv,
        new_conversation=created,
        reopened=reopened,
        starts_wait=starts_wait,
        received=received,
    )
    batch.seen[key] = staged
    return staged


async def stage_batch(
    session: AsyncSession, items: Sequence[InboundMessage], policy: InboxPolicy
) -> tuple[list[IngestResult | Exception], list[Event]]:
    """Stage many items in `session` (not committed). Per-item refusals come back as exceptions."""
    # Refusals are decided before any database work, so one bad item never spoils the batch.
    checked: list[_Prepared | Exception] = []
    for item in items:
        try:
            checked.append(_prepare(item, policy))
        except IngestError as exc:
            checked.append(exc)
    prepared = [c for c in checked if isinstance(c, _Prepared)]
    digests = await _store_attachments(prepared, policy)
    batch = _Batch(session, policy, Matcher(session))
    existing = await _load(batch, prepared) if prepared else {}
    outcomes: list[_Staged | Exception] = []
    for entry in checked:
        if isinstance(entry, Exception):
            outcomes.append(entry)
            continue
        try:
            outcomes.append(_stage_one(batch, entry, existing, digests))
        except IngestError as exc:
            outcomes.append(exc)
    await session.flush()
    staged = [o for o in outcomes if isinstance(o, _Staged)]
    events = await _after_flush(batch, staged)
    await session.flush()
    results: list[IngestResult | Exception] = []
    for outcome in outcomes:
        if isinstance(outcome, _Staged):
            results.append(
                IngestResult(
                    contact_id=outcome.message.contact_id or outcome.contact.id,
                    conversation_id=outcome.message.conversation_id,
                    message_id=outcome.message.id,
                    duplicate=outcome.duplicate,
                )
            )
        else:
            results.append(outcome)
    return results, events


async def _after_flush(batch: _Batch, staged: Iterable[_Staged]) -> list[Event]:
    """Reporting events, duplicate candidates and bus events, now that every row has its id."""
    session = batch.session
    events: list[Event] = []
    measured: list[dict[str, Any]] = []
    waits: list[dict[str, Any]] = []
    for s in staged:
        if s.duplicate:
            continue
        conv, msg = s.conversation, s.message
        common: dict[str, Any] = {
            "conversation_id": conv.id,
            "contact_id": s.contact.id,
            "team_id": conv.team_id,
            "agent_id": conv.assignee_id,
            "account_id": conv.account_id,
            "channel_kind": conv.channel_kind,
            "occurred_at": s.received or msg.created_at,
        }
        if msg.kind == "message":
            waits += opened_by_inbound(
                conv,
                s.received or msg.created_at,
                new_cycle=s.new_conversation or s.reopened,
                starts_wait=s.starts_wait,
            )
            if s.new_conversation:
                measured.append({"name": "conversation_opened", **common})
            elif s.reopened:
                measured.append({"name": "conversation_reopened", **common})
            measured.append({"name": "message_received", **common})
        elif msg.kind == "bounce":
            # A delivery report naming our message fails it, in the transaction that stores the report.
            events.extend(await apply_bounce(session, msg))
        scope = {"conversation_id": conv.id, "team_id": conv.team_id, "assignee_id": conv.assignee_id}
        owner = s.contact.owner_id
        if msg.kind == "message" and owner is not None and owner != conv.assignee_id:
            # A returning client writes: their owner hears of it even when someone else has the dialog.
            # Addressed to the owner alone (no team): inbox.visibility lets only them (and admins) see it.
            events.append(
                Event(
                    "client.returned",
                    conversation_id=conv.id,
                    team_id=None,
                    assignee_id=owner,
                    data={
                        "contact_id": s.contact.id,
                        "owner_id": owner,
                        "conversation_id": conv.id,
                        "preview": msg.body_text[:200],
                    },
                )
            )
        if s.new_conversation:
            events.append(Event("conversation.created", **scope, data={"contact_id": s.contact.id}))
        events.append(
            Event(
                "message.created",
                **scope,
                data={
                    "message_id": msg.id,
                    "direction": "in",
                    "kind": msg.kind,
                    "contact_id": s.contact.id,
                    "preview": msg.body_text[:200],
                },
            )
        )
    if measured:
        # One multi-row INSERT: these rows need no ids back, so no ORM objects (a third of the flush time).
        await session.execute(insert(ReportingEvent), measured)
    await insert_waits(session, waits)
    await batch.matcher.record_duplicates()
    return events


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
    session: AsyncSession, items: Sequence[Queued], policy: InboxPolicy
) -> tuple[list[QueuedResult | Exception], list[Event]]:
    """Stage new messages and refused items together (not committed), results in the order of `items`.

    A refused item shares its neighbours' transaction, so it is committed exactly when they are (see
    inbox.quarantine); its raw bytes are written to the blob store first, like attachments.
    """
    messages = [i for i in items if isinstance(i, InboundMessage)]
    refused = [i for i in items if isinstance(i, Refused)]
    store = BlobStore(policy.attachments_dir) if policy.attachments_dir else None
    digests = await keep_raw(refused, store)
    message_results, events = await stage_batch(session, messages, policy) if messages else ([], [])
    refused_results = await stage_refused(session, refused, digests, inline=store is None)
    by_message, by_refusal = iter(message_results), iter(refused_results)
    results: list[QueuedResult | Exception] = [
        next(by_message) if isinstance(i, InboundMessage) else next(by_refusal) for i in items
    ]
    return results, events


class IngestQueue:
    """Group commit: concurrent `submit` calls share one transaction; each returns after its commit.

    Refused items (`submit_refused`) ride in the same batches: see inbox.quarantine.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        policy: InboxPolicy | None = None,
        publisher: Publisher | None = None,
        max_batch: int = 500,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        # Called after each committed batch, before its events go out (the hub wakes the router: routing
        # runs right after the commit, in its own transaction, not inside this group commit).
        self._on_commit = on_commit
        self.policy = policy or InboxPolicy()  # the hub may replace it before it starts
        self._publisher = publisher or NullPublisher()
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Queued, asyncio.Future[Any]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # how many transactions were committed (for benchmarks and tests)

    async def start(self) -> None:
        if self._task is None:
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
        await self._queue.put((item, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._process(batch)
            except Exception as exc:  # never let the loop die: fail the batch's callers instead
                log.exception("ingest batch failed")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _process(self, batch: list[tuple[Queued, asyncio.Future[Any]]]) -> None:
        items = [item for item, _ in batch]
        results: list[QueuedResult | Exception]
        try:
            async with self._sessionmaker() as session:
                results, events = await stage_items(session, items, self.policy)
                await session.commit()
        except (IntegrityError, DBAPIError) as exc:
            # A race with another process (the same message or sender inserted meanwhile) or one row the
            # database refuses: take the items one by one, so the others still go in.
            log.info("ingest batch of %d fell back to one by one: %s", len(items), exc.__class__.__name__)
            results, events = [], []
            for item in items:
                one, evs = await self._one_with_retry(item)
                results.append(one)
                events.extend(evs)
        self.batches += 1
        if self._on_commit is not None:
            self._on_commit()
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
                    results, events = await stage_items(session, [item], self.policy)
                    await session.commit()
                return results[0], events
            except (IntegrityError, DBAPIError) as exc:
                last = exc
        return IngestError(f"the database refused the item: {last}"), []
