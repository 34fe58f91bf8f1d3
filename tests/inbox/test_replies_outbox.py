"""The send path: replies and notes, the persistent outbox, retries, restarts, exactly-one send."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.agents import create_agent
from inbox.blobs import BlobStore
from inbox.capabilities import Capabilities
from inbox.ingest import ingest
from inbox.items import Delivery, DeliveryError, OutboundAttachment, OutboundMessage
from inbox.models import (
    Agent,
    Attachment,
    ChannelAccount,
    Conversation,
    Message,
    Outbox,
    ReportingEvent,
    utcnow,
)
from inbox.outbox import OutboxWorker, RetryPolicy
from inbox.policy import InboxPolicy
from inbox.replies import ReplyError, add_reply, store_reply_files
from tests.inbox.helpers import message
from tests.waiting import event_set, resolved

FILES = Capabilities(attachments=True)

POLICY = InboxPolicy()
# Short backoffs; a lease no slow pass can outlive (a lapsed lease lets another worker send a row again).
FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, lease_seconds=300.0)


class SteppedClock:
    """The wall clock, stepped on by the test instead of sleeping through backoffs and leases."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.ahead

    def step(self, seconds: float) -> None:
        self.ahead += timedelta(seconds=seconds)


class FakeChannel:
    """Stands in for a remote platform: records what it was given; scripted failures first."""

    def __init__(self, *failures: DeliveryError, hang: bool = False) -> None:
        self.sent: list[OutboundMessage] = []
        self.failures = list(failures)
        self.hang = hang
        self.entered = asyncio.Event()

    async def send(self, out: OutboundMessage) -> Delivery:
        self.entered.set()
        if self.hang:
            await asyncio.Event().wait()
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(out)
        return Delivery(external_id=f"platform-{len(self.sent)}")


async def setup_conversation(session: AsyncSession, account: ChannelAccount) -> tuple[Agent, Conversation]:
    agent = await create_agent(session, email="anna@okno.ru", name="Анна", password="long-password")
    result = await ingest(session, message(account.id, "in-1", ("email", "client@mail.ru")))
    conv = await session.get_one(Conversation, result.conversation_id)
    return agent, conv


async def reply(session: AsyncSession, account: ChannelAccount, text: str = "Добрый день!") -> Message:
    agent, conv = await setup_conversation(session, account)
    msg, _ = await add_reply(session, conv, agent, text, policy=POLICY)
    await session.commit()
    return msg


async def test_reply_is_a_message_plus_an_outbox_row(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    msg = await reply(session, api_account)
    row = await session.scalar(select(Outbox).where(Outbox.message_id == msg.id))
    assert row is not None and row.status == "pending" and row.idempotency_key
    assert msg.delivery_status == "queued"
    conv = await session.get_one(Conversation, msg.conversation_id)
    assert conv.first_response_at is not None and conv.waiting_since is None
    assert conv.assignee_id == msg.agent_id  # whoever answers an unassigned dialog takes it
    names = set(await session.scalars(select(ReportingEvent.name)))
    assert {"first_response", "reply"} <= names


async def test_notes_are_never_sent(session: AsyncSession, api_account: ChannelAccount) -> None:
    agent, conv = await setup_conversation(session, api_account)
    note, _ = await add_reply(session, conv, agent, "Клиент VIP, не спорить", note=True, policy=POLICY)
    await session.commit()
    assert note.direction == "note" and note.delivery_status is None
    assert await session.scalar(select(func.count()).select_from(Outbox)) == 0


async def test_late_first_reply_records_an_sla_miss(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    agent, conv = await setup_conversation(session, api_account)
    conv.first_response_due = utcnow() - timedelta(minutes=5)
    await add_reply(session, conv, agent, "Извините за задержку", policy=POLICY)
    miss = await session.scalar(select(ReportingEvent).where(ReportingEvent.name == "sla_miss"))
    assert miss is not None and miss.value_seconds is not None and miss.value_seconds >= 300


async def test_html_from_an_agent_is_sanitized(session: AsyncSession, api_account: ChannelAccount) -> None:
    agent, conv = await setup_conversation(session, api_account)
    msg, _ = await add_reply(
        session, conv, agent, "hi", html='<p onclick="x()">hi<script>alert(1)</script></p>', policy=POLICY
    )
    assert msg.body_html == "<p>hi</p>"


async def test_reply_survives_a_worker_restart_and_is_sent_once(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, api_account: ChannelAccount
) -> None:
    msg = await reply(session, api_account)
    down = FakeChannel(DeliveryError("connection refused"))
    first = OutboxWorker(sessionmaker, lambda _id: down, retry=FAST)
    assert await first.run_once() == 1
    async with sessionmaker() as s:
        row = await s.scalar(select(Outbox))
        stored = await s.get_one(Message, msg.id)
        assert row is not None and row.status == "pending" and row.last_error == "connection refused"
        assert stored.delivery_status == "queued" and stored.delivery_error == "retrying: connection refused"
    # The process dies here; a new one starts with a new worker.
    up = FakeChannel()
    clock = SteppedClock()
    second = OutboxWorker(sessionmaker, lambda _id: up, retry=FAST, clock=clock)
    clock.step(FAST.max_delay + 1)  # past the backoff
    assert await second.run_once() == 1
    assert await second.run_once() == 0
    assert [o.message_id for o in up.sent] == [msg.id]
    async with sessionmaker() as s:
        stored = await s.get_one(Message, msg.id)
        assert (stored.delivery_status, stored.external_id, stored.delivery_error) == (
            "sent",
            "platform-1",
            None,
        )


async def test_worker_killed_mid_send_is_resumed_after_its_lease_with_the_same_key(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, api_account: ChannelAccount
) -> None:
    await reply(session, api_account)
    lease = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, lease_seconds=300.0)
    stuck = FakeChannel(hang=True)
    dying = OutboxWorker(sessionmaker, lambda _id: stuck, retry=lease)
    sending = asyncio.create_task(dying.run_once())
    await event_set(stuck.entered, "the send under way")
    sending.cancel()  # the process dies while the send is under way (no graceful stop)
    with contextlib.suppress(asyncio.CancelledError):
        await sending
    up = FakeChannel()
    clock = SteppedClock()
    heir = OutboxWorker(sessionmaker, lambda _id: up, retry=lease, clock=clock)
    assert await heir.run_once() == 0  # the lease still holds: it might have gone out
    clock.step(lease.lease_seconds + 1)
    assert await heir.run_once() == 1
    async with sessionmaker() as s:
        row = await s.scalar(select(Outbox))
        assert row is not None and row.status == "sent" and row.attempts == 2
        assert up.sent[0].idempotency_key == row.idempotency_key


async def test_graceful_stop_finishes_the_send_under_way(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, api_account: ChannelAccount
) -> None:
    await reply(session, api_account)
    slow = FakeChannel()
    release = asyncio.Event()
    original = slow.send

    async def held_send(out: OutboundMessage) -> Delivery:
        slow.entered.set()
        await release.wait()
        return await original(out)

    slow.send = held_send  # type: ignore[method-assign]
    worker = OutboxWorker(sessionmaker, lambda _id: slow, retry=RetryPolicy(lease_seconds=60))
    await worker.start()
    await event_set(slow.entered, "the send under way")
    stopping = asyncio.create_task(worker.stop())
    release.set()
    await resolved(stopping, "the worker stopped")
    async with sessionmaker() as s:
        row = await s.scalar(select(Outbox))
        assert row is not None and row.status == "sent"


async def test_two_workers_never_send_one_row_twice(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, api_account: ChannelAccount
) -> None:
    agent, conv = await setup_conversation(session, api_account)
    for i in range(15):
        await add_reply(session, conv, agent, f"ответ {i}", policy=POLICY)
    await session.commit()
    channel = FakeChannel()
    workers = [OutboxWorker(sessionmaker, lambda _id: channel, retry=FAST, batch=4) for _ in range(3)]
    for _ in range(10):
        await asyncio.gather(*(w.run_once() for w in workers))
    assert sorted(o.text for o in channel.sent) == sorted(f"ответ {i}" for i in range(15))


async def test_permanent_failure_is_shown_on_the_message(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, api_account: ChannelAccount
) -> None:
    msg = await reply(session, api_account)
    blocked = FakeChannel(
        DeliveryError("bot was blocked by the user", permanent=True, blocks_conversation=True)
    )
    await OutboxWorker(sessionmaker, lambda _id: blocked, retry=FAST).run_once()
    async with sessionmaker() as s:
        stored = await s.get_one(Message, msg.id)
        conv = await s.get_one(Conversation, msg.conversation_id)
        row = await s.scalar(select(Outbox))
        assert (stored.delivery_status, stored.delivery_error) == ("failed", "bot was blocked by the user")
        assert conv.blocked_reason == "bot was blocked by the user"
        assert row is not None and row.status == "dead"


async def test_retries_stop_after_max_attempts(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, api_account: ChannelAccount
) -> None:
    msg = await reply(session, api_account)
    flaky = FakeChannel(*(DeliveryError(f"timeout {i}") for i in range(5)))
    clock = SteppedClock()
    worker = OutboxWorker(sessionmaker, lambda _id: flaky, retry=FAST, clock=clock)
    for _ in range(5):
        await worker.run_once()
        clock.step(FAST.max_delay + 1)  # past any backoff
    async with sessionmaker() as s:
        stored = await s.get_one(Message, msg.id)
        row = await s.scalar(select(Outbox))
        assert row is not None and (row.status, row.attempts) == ("dead", 3)
        assert (stored.delivery_status, stored.delivery_error) == ("failed", "timeout 2")


async def test_no_running_connector_means_retry_later(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, api_account: ChannelAccount
) -> None:
    await reply(session, api_account)
    await OutboxWorker(sessionmaker, lambda _id: None, retry=FAST).run_once()
    async with sessionmaker() as s:
        row = await s.scalar(select(Outbox))
        assert row is not None and row.status == "pending"
        assert row.last_error == "the channel account is not running"


def test_backoff_is_exponential_and_capped() -> None:
    policy = RetryPolicy(base_delay=5, max_delay=60)
    assert [policy.delay(n) for n in range(1, 6)] == [5, 10, 20, 40, 60]


async def test_files_of_a_reply_are_stored_and_handed_to_the_channel(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    api_account: ChannelAccount,
    tmp_path: Path,
) -> None:
    agent, conv = await setup_conversation(session, api_account)
    policy = InboxPolicy(attachments_dir=tmp_path)
    files = await store_reply_files(
        [OutboundAttachment("../../etc/счёт.pdf", "application/pdf", b"%PDF-1.4 invoice")],
        policy,
        capabilities=FILES,
        channel="api",
    )
    msg, _ = await add_reply(session, conv, agent, "Счёт во вложении", policy=policy, files=files)
    await session.commit()
    stored = await session.scalar(select(Attachment).where(Attachment.message_id == msg.id))
    assert stored is not None and (stored.filename, stored.size) == ("счёт.pdf", 16)
    await session.commit()  # end the read: on SQLite every transaction holds the write lock
    channel = FakeChannel()
    await OutboxWorker(sessionmaker, lambda _id: channel, retry=FAST, blobs=BlobStore(tmp_path)).run_once()
    (out,) = channel.sent
    assert [(a.filename, a.content) for a in out.attachments] == [("счёт.pdf", b"%PDF-1.4 invoice")]


async def test_a_reply_whose_files_are_gone_fails_with_the_reason(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    api_account: ChannelAccount,
    tmp_path: Path,
) -> None:
    agent, conv = await setup_conversation(session, api_account)
    policy = InboxPolicy(attachments_dir=tmp_path / "files")
    files = await store_reply_files(
        [OutboundAttachment("a.txt", "text/plain", b"hello")], policy, capabilities=FILES, channel="api"
    )
    msg, _ = await add_reply(session, conv, agent, "see file", policy=policy, files=files)
    await session.commit()
    channel = FakeChannel()
    await OutboxWorker(
        sessionmaker, lambda _id: channel, retry=FAST, blobs=BlobStore(tmp_path / "empty")
    ).run_once()
    assert channel.sent == []
    async with sessionmaker() as s:
        failed = await s.get_one(Message, msg.id)
        assert failed.delivery_status == "failed" and "a.txt" in (failed.delivery_error or "")


async def test_files_need_an_attachment_store() -> None:
    with pytest.raises(ReplyError, match="attachments_dir") as err:
        await store_reply_files(
            [OutboundAttachment("a", "text/plain", b"")], InboxPolicy(), capabilities=FILES, channel="api"
        )
    assert err.value.field == "attachments"


async def test_a_file_of_a_type_or_size_the_channel_refuses_is_named_before_anything_is_stored(
    tmp_path: Path,
) -> None:
    policy = InboxPolicy(attachments_dir=tmp_path)
    images = Capabilities(attachments=True, attachment_kinds=frozenset({"image/*"}), max_attachment_bytes=4)
    with pytest.raises(
        ReplyError, match=r"cannot carry application/pdf files \(счёт.pdf\); it takes image/\*"
    ):
        await store_reply_files(
            [OutboundAttachment("счёт.pdf", "application/pdf", b"%PDF")],
            policy,
            capabilities=images,
            channel="x",
        )
    with pytest.raises(
        ReplyError, match=r"big\.png is 5 bytes: the x channel carries files of at most 4 bytes"
    ):
        await store_reply_files(
            [OutboundAttachment("big.png", "image/png", b"12345")], policy, capabilities=images, channel="x"
        )
    assert list(tmp_path.iterdir()) == []
