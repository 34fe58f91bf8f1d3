"""The outbox's claims with several processes: only rows this process can send, a short lease renewed while
the send runs, and a send cut short by a dead process tried again with the same idempotency key."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.api.connector import ApiConnector
from channels.base import AccountContext
from inbox.ingest import ingest
from inbox.items import Delivery, OutboundMessage
from inbox.models import ChannelAccount, Conversation, Outbox
from inbox.outbox import OutboxWorker, RetryPolicy
from inbox.replies import add_reply
from tests.inbox.helpers import message
from tests.inbox.test_replies_outbox import POLICY, FakeChannel, SteppedClock, reply, setup_conversation
from tests.waiting import event_set, eventually, resolved

LEASE = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, lease_seconds=30.0, send_timeout=120.0)
RENEW = 0.02  # real seconds between renewals here (a third of the lease by default)


async def outbox_row(sessionmaker: async_sessionmaker[AsyncSession], account_id: int) -> Outbox:
    async with sessionmaker() as s:
        row = await s.scalar(select(Outbox).where(Outbox.account_id == account_id))
        assert row is not None
        return row


async def test_a_row_of_an_account_held_elsewhere_is_not_claimed(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, api_account: ChannelAccount
) -> None:
    other = ChannelAccount(name="desk", kind="api")
    session.add(other)
    await session.commit()
    agent, conv = await setup_conversation(session, api_account)
    await add_reply(session, conv, agent, "Добрый день!", policy=POLICY)
    result = await ingest(session, message(other.id, "in-2", ("email", "other@mail.ru")))
    other_conv = await session.get_one(Conversation, result.conversation_id)
    await add_reply(session, other_conv, agent, "Ответ из другого аккаунта", policy=POLICY)
    await session.commit()
    channel = FakeChannel()
    worker = OutboxWorker(sessionmaker, lambda _id: channel, retry=LEASE, elsewhere=lambda: {api_account.id})
    assert await worker.run_once() == 1
    assert [out.account_id for out in channel.sent] == [other.id]
    held_elsewhere = await outbox_row(sessionmaker, api_account.id)
    assert (held_elsewhere.status, held_elsewhere.attempts) == ("pending", 0)  # never claimed, never failed


async def test_a_slow_send_renews_its_lease_and_is_not_retaken_while_its_worker_lives(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, api_account: ChannelAccount
) -> None:
    await reply(session, api_account)
    release = asyncio.Event()
    slow = FakeChannel()
    original = slow.send

    async def long_send(out: OutboundMessage) -> Delivery:
        slow.entered.set()
        await release.wait()
        return await original(out)

    slow.send = long_send  # type: ignore[method-assign]
    clock = SteppedClock()
    sender = OutboxWorker(sessionmaker, lambda _id: slow, retry=LEASE, clock=clock, renew_seconds=RENEW)
    sending = asyncio.create_task(sender.run_once())
    await event_set(slow.entered, "the send under way")
    first_lease = (await outbox_row(sessionmaker, api_account.id)).lease_until
    assert first_lease is not None

    clock.step(LEASE.lease_seconds * 2 / 3)

    async def renewed() -> bool:
        lease = (await outbox_row(sessionmaker, api_account.id)).lease_until
        return lease is not None and lease > first_lease

    await eventually(renewed, "the lease renewed while the send runs")
    clock.step(LEASE.lease_seconds * 2 / 3)  # past the first lease: only the renewal keeps the row
    other = FakeChannel()
    assert await OutboxWorker(sessionmaker, lambda _id: other, retry=LEASE, clock=clock).run_once() == 0
    release.set()
    assert await resolved(sending, "the slow send done") == 1
    row = await outbox_row(sessionmaker, api_account.id)
    assert (row.status, row.attempts, len(slow.sent), other.sent) == ("sent", 1, 1, [])


@dataclass
class Peer:
    """A platform that deduplicates by Idempotency-Key: counts every request per key; the first one
    never gets an answer (the process sending it dies meanwhile)."""

    url: str = ""
    keys: list[str] = field(default_factory=list)
    first_in: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.keys.append(request.headers["Idempotency-Key"])
        if len(self.keys) == 1:
            self.first_in.set()
            await self.release.wait()
        return web.json_response({"id": f"peer-{len(set(self.keys))}"})


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    found = Peer()
    app = web.Application()
    app.router.add_post("/replies", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # the port we were given
    found.url = f"http://127.0.0.1:{port}/replies"
    yield found
    found.release.set()
    await runner.cleanup()


async def test_a_send_cut_by_a_killed_process_goes_again_after_the_lease_with_the_same_key(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    api_account: ChannelAccount,
    peer: Peer,
) -> None:
    await reply(session, api_account)
    context = AccountContext(api_account.id, api_account.name, "api", options={"callback_url": peer.url})
    dying_channel, heir_channel = ApiConnector(context), ApiConnector(context)
    try:
        dying = OutboxWorker(sessionmaker, lambda _id: dying_channel, retry=LEASE)
        sending = asyncio.create_task(dying.run_once())
        await event_set(peer.first_in, "the first try reached the platform")
        sending.cancel()  # the process dies mid-send (kill -9: nothing more runs in it)
        with contextlib.suppress(asyncio.CancelledError):
            await sending

        clock = SteppedClock()
        heir = OutboxWorker(sessionmaker, lambda _id: heir_channel, retry=LEASE, clock=clock)
        assert await heir.run_once() == 0  # within the lease: the first try may still be under way
        clock.step(LEASE.lease_seconds + 1)
        assert await heir.run_once() == 1
        row = await outbox_row(sessionmaker, api_account.id)
        assert (row.status, row.attempts) == ("sent", 2)
        assert peer.keys == [row.idempotency_key, row.idempotency_key]  # once more, with the same key
        assert await heir.run_once() == 0
    finally:
        await dying_channel.close()
        await heir_channel.close()
