"""The outbox worker: delivers queued replies through their channel, with retries and visible status.

A row is claimed by a conditional UPDATE (pending → sending, with a lease), so two workers, in one process
or several, never hold the same row; on PostgreSQL the candidates are read with FOR UPDATE SKIP LOCKED so
workers do not queue behind each other. A worker claims only rows of accounts it can send through now: the
`elsewhere` accounts (their connector runs in another process, see hub.holds) are left out in the claim's
own SQL. The lease is short (30 s by default) and renewed every third of it while the send runs (the send
has its own, longer timeout), so a row is never retaken while its worker lives, and a worker that died
mid-send leaves its row in "sending" only until the lease runs out; it is then tried again, at most once
more per death, with the same idempotency key, which connectors hand to platforms that deduplicate (e-mail
Message-ID, VK random_id, the API channel's Idempotency-Key header).

A worker that lives through a database outage does not leave its rows to the lease: the rows it
claimed but never handed to a sender are released (back to pending, the attempt not counted) and the
outcome of a send it could not record is recorded, both at the start of its next pass that reaches the
database — so a reply is not sent a second time, and a row claimed just before the outage goes out
just after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from inbox import audit
from inbox.blobs import BlobStore
from inbox.bus import Event, NullPublisher, Publisher
from inbox.conversations import Viewer, get_visible_conversation, scope
from inbox.items import (
    Delivery,
    DeliveryError,
    IdentityRef,
    MessageSender,
    OutboundAttachment,
    OutboundMessage,
)
from inbox.models import Agent, Contact, Conversation, Message, Outbox, utcnow
from inbox.unavailable import as_unavailable, log_failure
from inbox.workers import PassWorker

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 10
    base_delay: float = 5.0
    max_delay: float = 3600.0
    lease_seconds: float = 30.0  # renewed every third of it while the send runs
    send_timeout: float = 120.0

    def delay(self, attempts: int) -> float:
        """Exponential backoff: base, 2·base, 4·base … capped."""
        return float(min(self.max_delay, self.base_delay * 2 ** max(0, attempts - 1)))


SenderLookup = Callable[[int], MessageSender | None]
AccountsElsewhere = Callable[[], Collection[int]]  # accounts whose rows another process sends


class OutboxWorker(PassWorker):
    task_name = "okno-outbox"

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        senders: SenderLookup,
        *,
        publisher: Publisher | None = None,
        retry: RetryPolicy | None = None,
        poll_seconds: float = 1.0,
        batch: int = 20,
        blobs: BlobStore | None = None,
        clock: Callable[[], datetime] = utcnow,
        elsewhere: AccountsElsewhere | None = None,
        renew_seconds: float | None = None,
    ) -> None:
        super().__init__()
        self._sessionmaker = sessionmaker
        self._clock = clock  # due times and leases are read against it (tests step it instead of sleeping)
        self._senders = senders
        self._publisher = publisher or NullPublisher()
        self.retry = retry or RetryPolicy()
        self._poll = poll_seconds
        self._batch = batch
        self._blobs = blobs
        # Left by a pass the database failed (see the module docstring): claimed rows never handed to a
        # sender (id → the lease this worker set), and sends whose outcome is not recorded yet.
        self._unsent: dict[int, datetime] = {}
        self._unrecorded: dict[int, tuple[Delivery | None, DeliveryError | None]] = {}
        self._elsewhere = elsewhere
        # Real seconds between lease renewals (tests shorten it; the lease itself is read on `clock`).
        self._renew_seconds = renew_seconds if renew_seconds is not None else self.retry.lease_seconds / 3

    async def _run(self) -> None:
        while not self._stopping:
            try:
                done = await self.run_once()
            except Exception as exc:
                log_failure(log, "outbox pass failed", exc)
                done = 0
            if done or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._wake.wait()
            self._wake.clear()

    async def run_once(self) -> int:
        """Claim due rows and try each once. Returns how many were tried."""
        await self._settle()
        claimed = await self._claim()
        try:
            for outbox_id in claimed:
                await self._deliver(outbox_id)
        except Exception as exc:
            if as_unavailable(exc) is None:  # a bug, not an outage: its rows wait out their lease as before
                self._unsent.clear()
            raise
        return len(claimed)

    async def _settle(self) -> None:
        """What a failed pass left: record the outcomes of its sends, release its rows never sent."""
        for outbox_id, (delivery, error) in list(self._unrecorded.items()):
            await self._record(outbox_id, delivery, error)
            del self._unrecorded[outbox_id]
        if not self._unsent:
            return
        async with self._sessionmaker() as session:
            for outbox_id, lease in self._unsent.items():
                await session.execute(
                    update(Outbox)
                    # Still ours (the same lease): no other worker took it after the lease ran out.
                    .where(Outbox.id == outbox_id, Outbox.status == "sending", Outbox.lease_until == lease)
                    .values(status="pending", lease_until=None, attempts=Outbox.attempts - 1),
                    execution_options={"synchronize_session": False},
                )
            await session.commit()
        log.info("outbox: %d rows claimed before a database failure released, never sent", len(self._unsent))
        self._unsent.clear()

    async def _claim(self) -> list[int]:
        now = self._clock()
        due = or_(
            and_(Outbox.status == "pending", Outbox.next_attempt_at <= now),
            and_(Outbox.status == "sending", Outbox.lease_until < now),  # its worker died mid-send
        )
        skipped = sorted(self._elsewhere()) if self._elsewhere is not None else []
        if skipped:  # their connector runs in another process: that one sends them
            due = and_(due, Outbox.account_id.not_in(skipped))
        async with self._sessionmaker() as session:
            stmt = select(Outbox.id).where(due).order_by(Outbox.next_attempt_at, Outbox.id).limit(self._batch)
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            candidates = list(await session.scalars(stmt))
            claimed = []
            lease = now + timedelta(seconds=self.retry.lease_seconds)
            for outbox_id in candidates:
                result = await session.execute(
                    update(Outbox)
                    .where(Outbox.id == outbox_id, due)
                    .values(status="sending", lease_until=lease, attempts=Outbox.attempts + 1),
                    execution_options={"synchronize_session": False},
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(outbox_id)
            await session.commit()
        self._unsent.update(dict.fromkeys(claimed, lease))
        return claimed

    async def _deliver(self, outbox_id: int) -> None:
        async with self._sessionmaker() as session:
            out, row, stored = await _build(session, outbox_id)
        out = await _with_files(out, stored, self._blobs)  # file reads with no transaction open
        sender = self._senders(row.account_id)
        del self._unsent[outbox_id]  # from here on the row's outcome is recorded, now or after an outage
        error: DeliveryError | None = None
        delivery = None
        if out.meta.get("missing_files"):
            error = DeliveryError(
                f"attachment files are missing: {out.meta['missing_files']}", permanent=True
            )
        elif sender is None:
            error = DeliveryError("the channel account is not running")
        else:
            done = asyncio.Event()
            renewal = asyncio.create_task(
                self._renew(outbox_id, row.attempts, done), name="okno-outbox-lease"
            )
            try:
                async with asyncio.timeout(self.retry.send_timeout):
                    delivery = await sender.send(out)
            except DeliveryError as exc:
                error = exc
            except TimeoutError:
                error = DeliveryError(f"no answer from the channel within {self.retry.send_timeout:.0f} s")
            except Exception as exc:  # a connector bug must not stop the worker
                log.exception("connector send failed for outbox %s", outbox_id)
                error = DeliveryError(f"{exc.__class__.__name__}: {exc}")
            finally:
                done.set()  # the renewal ends after its write under way, never cut inside it
                await renewal
        try:
            await self._record(outbox_id, delivery, error)
        except Exception as exc:
            if as_unavailable(exc) is not None:
                self._unrecorded[outbox_id] = (delivery, error)  # recorded by the next pass that can
            raise

    async def _record(self, outbox_id: int, delivery: Delivery | None, error: DeliveryError | None) -> None:
        """Write a send's outcome on its row and message, then publish the delivery status."""
        async with self._sessionmaker() as session:
            row = await session.get_one(Outbox, outbox_id)
            if row.status != "sending":  # an outcome recorded late: another worker took the row since
                log.warning("outbox %s: outcome not recorded, the row is %s now", outbox_id, row.status)
                return
            message = await session.get_one(Message, row.message_id)
            conv = await session.get_one(Conversation, message.conversation_id)
            now = self._clock()
            if error is None and delivery is not None:
                row.status, row.sent_at, row.last_error, row.lease_until = "sent", now, None, None
                message.delivery_status = delivery.status
                message.delivery_error = None
                message.sent_at = now
                if delivery.external_id:
                    await _drop_echo(session, message, delivery.external_id)
                    message.external_id = delivery.external_id
                if conv.blocked_reason:
                    conv.blocked_reason = None
            else:
                assert error is not None
                row.last_error = error.reason
                row.lease_until = None
                if error.permanent or row.attempts >= self.retry.max_attempts:
                    row.status = "dead"
                    message.delivery_status = "failed"
                    message.delivery_error = error.reason
                else:
                    row.status = "pending"
                    wait = (
                        error.retry_after if error.retry_after is not None else self.retry.delay(row.attempts)
                    )
                    row.next_attempt_at = now + timedelta(seconds=wait)
                    message.delivery_error = f"retrying: {error.reason}"
                if error.blocks_conversation:
                    conv.blocked_reason = error.reason
            await session.commit()
            event = Event(
                "message.delivery",
                **scope(conv),
                data={
                    "message_id": message.id,
                    "delivery_status": message.delivery_status,
                    "error": message.delivery_error,
                    "attempts": row.attempts,
                },
            )
        try:
            await self._publisher.publish(event)
        except Exception:
            log.exception("publishing delivery status failed")

    async def _renew(self, outbox_id: int, attempt: int, done: asyncio.Event) -> None:
        """Push the row's lease on every `renew_seconds` until `done`: a slow send is not retaken while its
        worker lives. Only this claim's lease (its attempt number) is renewed."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._renew_seconds):
                    await done.wait()
            if done.is_set():
                return
            lease = self._clock() + timedelta(seconds=self.retry.lease_seconds)
            try:
                async with self._sessionmaker() as session:
                    await session.execute(
                        update(Outbox)
                        .where(Outbox.id == outbox_id, Outbox.status == "sending", Outbox.attempts == attempt)
                        .values(lease_until=lease),
                        execution_options={"synchronize_session": False},
                    )
                    await session.commit()
            except Exception as exc:  # the next renewal may get through; the send itself goes on
                log_failure(log, f"renewing the lease of outbox {outbox_id} failed", exc)


async def _drop_echo(session: AsyncSession, message: Message, external_id: str) -> None:
    """An echo of our own reply (VK message_reply) stored before this commit recorded its id: drop it,
    or the unique (account, external id) would refuse this commit and the reply would go out again."""
    echo = await session.scalar(
        select(Message).where(
            Message.account_id == message.account_id,
            Message.external_id == external_id,
            Message.id != message.id,
        )
    )
    if echo is not None and echo.direction == "in" and echo.kind == "event" and echo.meta.get("from_account"):
        await session.delete(echo)
        await session.flush()


StoredRef = tuple[str, str, str | None]  # filename, content type, SHA-256 in the blob store


async def _with_files(
    out: OutboundMessage, stored: list[StoredRef], blobs: BlobStore | None
) -> OutboundMessage:
    """`out` with its files' bytes read from the blob store; files that are gone are named in meta."""
    files, missing = [], []
    for filename, content_type, sha256 in stored:
        if sha256 is None or blobs is None:
            missing.append(filename)
            continue
        try:
            content = await blobs.get(sha256)
        except OSError:
            missing.append(filename)
            continue
        files.append(OutboundAttachment(filename, content_type, content))
    meta = {**out.meta, "missing_files": missing} if missing else out.meta
    return replace(out, attachments=tuple(files), meta=meta)


async def _build(session: AsyncSession, outbox_id: int) -> tuple[OutboundMessage, Outbox, list[StoredRef]]:
    """The message to send (without its files' bytes) and the files to read once the session ends."""
    row = await session.get_one(Outbox, outbox_id)
    message = await session.get_one(Message, row.message_id, options=[selectinload(Message.attachments)])
    stored = [(a.filename, a.content_type, a.sha256) for a in message.attachments]
    conv = await session.get_one(Conversation, message.conversation_id)
    contact = await session.get_one(Contact, conv.contact_id, options=[selectinload(Contact.identities)])
    agent = await session.get(Agent, message.agent_id) if message.agent_id else None
    last_in = await session.scalar(
        select(Message)
        .where(Message.conversation_id == conv.id, Message.direction == "in", Message.kind == "message")
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )
    references = tuple(
        ext
        for ext in await session.scalars(
            select(Message.external_id)
            .where(Message.conversation_id == conv.id, Message.external_id.is_not(None))
            .order_by(Message.created_at, Message.id)
        )
        if ext
    )
    out = OutboundMessage(
        outbox_id=row.id,
        message_id=message.id,
        account_id=row.account_id,
        conversation_id=conv.id,
        idempotency_key=row.idempotency_key,
        text=message.body_text,
        html=message.body_html,
        recipients=tuple(IdentityRef(i.kind, i.value) for i in contact.identities),  # type: ignore[arg-type]
        contact_name=contact.name,
        agent_name=agent.name if agent else None,
        subject=conv.subject,
        in_reply_to=last_in.external_id if last_in else None,
        references=references,
        meta=dict(last_in.meta) if last_in else {},
        buttons=tuple(str(b) for b in message.meta.get("buttons", ()))
        if isinstance(message.meta, dict)
        else (),
        automatic=message.kind == "auto_reply",
    )
    return out, row, stored


class RetryRefused(ValueError):
    """A retry of a message that is not a failed reply (still queued, sent, a note or a client's message)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MessageNotFound(LookupError):
    pass


async def retry_failed(
    session: AsyncSession, viewer: Viewer, message_id: int, *, actor_id: int, now: datetime | None = None
) -> tuple[Message, list[Event]]:
    """Queue a failed reply again: its outbox row goes back to pending, due now, with its attempts reset and
    the SAME idempotency key, so a platform that got the first try after all deduplicates the second.

    Refused (:class:`RetryRefused`) unless the message is a reply whose delivery failed (its row dead);
    a conversation the viewer may not see is refused as everywhere (NotAllowed / ConversationNotFound).
    Stages the change and an audit row in `session`; the caller commits, publishes and wakes the worker.
    """
    message = await session.get(Message, message_id)
    if message is None:
        raise MessageNotFound(f"message {message_id} not found")
    conv = await get_visible_conversation(session, viewer, message.conversation_id)
    row = await session.scalar(select(Outbox).where(Outbox.message_id == message.id))
    if message.direction != "out" or row is None:
        raise RetryRefused(f"message {message_id} is not a reply sent through the outbox", "id")
    if message.delivery_status != "failed" or row.status != "dead":
        raise RetryRefused(
            f"message {message_id} has not failed (its delivery is {message.delivery_status or 'unknown'})",
            "id",
        )
    now = now or utcnow()
    previous_error, previous_attempts = message.delivery_error, row.attempts
    row.status, row.attempts, row.next_attempt_at = "pending", 0, now
    row.lease_until, row.last_error = None, None
    message.delivery_status, message.delivery_error = "queued", None
    audit.record(
        session,
        "message.retry",
        entity="message",
        entity_id=message.id,
        actor_agent_id=actor_id,
        detail={"conversation_id": conv.id, "error": previous_error, "attempts": previous_attempts},
    )
    await session.flush()
    event = Event(
        "message.delivery",
        **scope(conv),
        data={"message_id": message.id, "delivery_status": "queued", "error": None, "attempts": 0},
    )
    return message, [event]
