"""The quarantine: refused items kept with their bytes, once per position, and retried through a parser."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox import quarantine
from inbox.blobs import BlobStore
from inbox.dispatch import Receiver
from inbox.ingest import IngestQueue, IngestResult
from inbox.items import InboundItem, Refused
from inbox.models import AuditLog, ChannelAccount, Message, QuarantineItem
from inbox.policy import InboxPolicy
from tests.inbox.helpers import message

RAW = b"\x00not a payload anyone can read\xff"


@pytest.fixture
async def queue(sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path) -> AsyncIterator[IngestQueue]:
    q = IngestQueue(sessionmaker, policy=InboxPolicy(attachments_dir=tmp_path / "blobs"))
    await q.start()
    yield q
    await q.stop()


async def count(session: AsyncSession, model: type[object]) -> int:
    return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_a_refused_item_is_stored_with_its_bytes_in_the_blob_store_its_reason_and_position(
    queue: IngestQueue, api_account: ChannelAccount, session: AsyncSession, tmp_path: Path
) -> None:
    result = await queue.submit_refused(Refused(api_account.id, RAW, "unknown layout", position="line 7"))
    row = await session.get_one(QuarantineItem, result.quarantine_id)
    assert (row.account_id, row.reason, row.position, row.size) == (
        api_account.id,
        "unknown layout",
        "line 7",
        len(RAW),
    )
    assert row.raw is None  # in the blob store, not in the row
    assert row.sha256 == hashlib.sha256(RAW).hexdigest()
    assert await quarantine.raw_bytes(row, BlobStore(tmp_path / "blobs")) == RAW


async def test_the_same_refused_item_read_again_at_the_same_position_is_stored_once(
    queue: IngestQueue, api_account: ChannelAccount, session: AsyncSession
) -> None:
    item = Refused(api_account.id, RAW, "unknown layout", position="uid 12")
    first = await queue.submit_refused(item)
    again = await queue.submit_refused(item)
    together = await asyncio.gather(queue.submit_refused(item), queue.submit_refused(item))
    assert not first.duplicate and again.duplicate and all(r.duplicate for r in together)
    assert {again.quarantine_id, *(r.quarantine_id for r in together)} == {first.quarantine_id}
    other_place = await queue.submit_refused(
        Refused(api_account.id, RAW, "unknown layout", position="uid 13")
    )
    assert other_place.quarantine_id != first.quarantine_id
    assert await count(session, QuarantineItem) == 2


async def test_refused_items_and_messages_share_one_group_commit(
    queue: IngestQueue, api_account: ChannelAccount, session: AsyncSession
) -> None:
    before = queue.batches
    results = await asyncio.gather(
        queue.submit(message(api_account.id, "m1", ("email", "a@example.com"))),
        queue.submit_refused(Refused(api_account.id, RAW, "no usable sender", position="m2")),
        queue.submit(message(api_account.id, "m3", ("email", "b@example.com"))),
    )
    assert [type(r).__name__ for r in results] == ["IngestResult", "RefusedResult", "IngestResult"]
    assert queue.batches - before == 1
    assert await count(session, Message) == 2 and await count(session, QuarantineItem) == 1


async def test_without_a_blob_store_the_bytes_are_kept_in_the_row(
    sessionmaker: async_sessionmaker[AsyncSession], api_account: ChannelAccount, session: AsyncSession
) -> None:
    q = IngestQueue(sessionmaker)
    await q.start()
    try:
        result = await q.submit_refused(Refused(api_account.id, RAW, "unparseable"))
    finally:
        await q.stop()
    row = await session.get_one(QuarantineItem, result.quarantine_id)
    assert row.raw == RAW and row.position == ""
    assert await quarantine.raw_bytes(row, None) == RAW


class ChangingParser:
    """Refuses until `fixed` is set: a parser bug and its fix, as a retry sees them."""

    def __init__(self, account_id: int) -> None:
        self.account_id = account_id
        self.fixed = False

    async def __call__(self, stored: quarantine.StoredRefusal) -> Sequence[InboundItem]:
        if not self.fixed:
            raise ValueError(f"still unreadable at {stored.position}")
        return [message(self.account_id, f"fixed-{stored.position}", ("email", "c@example.com"))]


async def test_a_retry_that_still_fails_keeps_the_item_with_the_new_reason_and_one_that_parses_ingests_once(
    queue: IngestQueue,
    sessionmaker: async_sessionmaker[AsyncSession],
    api_account: ChannelAccount,
    session: AsyncSession,
    tmp_path: Path,
) -> None:
    receiver = Receiver(sessionmaker, queue)
    stored = await queue.submit_refused(Refused(api_account.id, RAW, "old reason", position="p1"))
    assert stored.quarantine_id is not None
    parser = ChangingParser(api_account.id)
    store = BlobStore(tmp_path / "blobs")

    outcomes = await quarantine.retry(sessionmaker, [stored.quarantine_id], parser, receiver, store)
    assert [(o.status, o.reason) for o in outcomes] == [("refused", "still unreadable at p1")]
    row = await session.get_one(QuarantineItem, stored.quarantine_id)
    await session.refresh(row)
    assert (row.reason, row.attempts) == ("still unreadable at p1", 1) and row.retried_at is not None
    await session.rollback()  # let go of SQLite's write lock (transactions begin IMMEDIATE here)

    parser.fixed = True
    ids = await quarantine.select_ids(sessionmaker, account_id=parser.account_id)
    outcomes = await quarantine.retry(sessionmaker, ids, parser, receiver, store, actor_agent_id=None)
    assert [o.status for o in outcomes] == ["ingested"]
    assert outcomes[0].results[0]["duplicate"] is False
    assert await quarantine.retry(sessionmaker, ids, parser, receiver, store) == []  # gone: nothing to retry
    session.expire_all()
    assert await count(session, QuarantineItem) == 0
    assert await session.scalar(select(Message.external_id)) == "fixed-p1"
    actions = list(await session.scalars(select(AuditLog.detail["status"].as_string()).order_by(AuditLog.id)))
    assert actions == ["refused", "ingested"]


async def test_counts_by_account_and_listing_filter_by_account(
    queue: IngestQueue, api_account: ChannelAccount, session: AsyncSession
) -> None:
    other = ChannelAccount(name="mail", kind="email")
    session.add(other)
    await session.commit()
    for n in range(3):
        await queue.submit_refused(Refused(api_account.id, RAW + bytes([n]), f"reason {n}", position=str(n)))
    await queue.submit_refused(Refused(other.id, RAW, "no sender", position="uid 1"))
    assert await quarantine.counts_by_account(session) == {api_account.id: 3, other.id: 1}
    listed = await quarantine.list_items(session, account_id=api_account.id)
    assert [i.reason for i in listed] == ["reason 2", "reason 1", "reason 0"]
    assert IngestResult  # the same module hands out both kinds of results
