"""The write turn (inbox.workers.write_turn) the group commit and the router share on SQLite: a writer that
finds the other's transaction under way waits on the turn and goes in when it is let go — never asleep in
SQLite's busy handler — and no way out of a transaction, an error included, leaves the turn taken."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.ingest import IngestQueue
from inbox.models import ChannelAccount, Message
from inbox.routing.worker import RouterWorker
from inbox.workers import write_turn
from tests.inbox.helpers import message
from tests.waiting import event_set, resolved


class WatchedTurn(asyncio.Lock):
    """A turn that says when a writer asks for it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()

    async def acquire(self) -> Literal[True]:
        self.asked.set()
        return await super().acquire()


async def _stored(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Message)) or 0)


async def test_a_batch_waits_for_the_turn_a_router_pass_holds_and_goes_in_when_it_ends(
    sessionmaker: async_sessionmaker[AsyncSession], api_account: ChannelAccount
) -> None:
    turn = WatchedTurn()
    queue = IngestQueue(sessionmaker, turn=turn)
    await queue.start()
    try:
        async with turn:  # a router pass in its transaction
            submitted = asyncio.create_task(
                queue.submit(message(api_account.id, "t-1", ("email", "t@mail.ru")))
            )
            await event_set(turn.asked, "the batch asks for the turn")
            assert await _stored(sessionmaker) == 0 and not submitted.done()
        result = await resolved(submitted, "the batch stored once the turn is let go")
        assert not result.duplicate and await _stored(sessionmaker) == 1
    finally:
        await queue.stop()


async def test_a_router_pass_waits_for_the_turn_a_batch_holds(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    turn = WatchedTurn()
    router = RouterWorker(sessionmaker, turn=turn)
    async with turn:  # a group commit in its transaction
        passed = asyncio.create_task(router.run_once())
        await event_set(turn.asked, "the router asks for the turn")
        assert not passed.done()
    assert await resolved(passed, "the router's pass once the turn is let go") == 0


async def test_a_transaction_that_fails_lets_the_turn_go(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    turn = asyncio.Lock()
    with pytest.raises(RuntimeError):
        async with write_turn(turn), sessionmaker() as session:
            await session.execute(select(1))
            raise RuntimeError("a bug inside the transaction")
    assert not turn.locked()
    async with write_turn(None):  # no turn (PostgreSQL): nothing to wait for
        pass
