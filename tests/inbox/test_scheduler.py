"""The scheduler: snoozed conversations open again when their time comes (stepped clock, no sleeps),
once with several workers, and the worker stops cleanly."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub import db
from inbox.bus import Event
from inbox.conversations import set_status
from inbox.ingest import ingest
from inbox.models import AuditLog, ChannelAccount, Conversation, utcnow
from inbox.policy import InboxPolicy
from inbox.scheduler import Scheduler
from tests.inbox.helpers import message
from tests.waiting import eventually, resolved


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.events.append(event)


class SteppedClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def step(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def snoozed_conversation(session: AsyncSession, account: ChannelAccount, until: datetime) -> int:
    result = await ingest(session, message(account.id, "m1", ("email", "client@example.com")))
    conv = await session.get_one(Conversation, result.conversation_id)
    await set_status(session, conv, "snoozed", actor_id=None, policy=InboxPolicy(), snoozed_until=until)
    await session.commit()
    return conv.id


async def status_of(sessionmaker: async_sessionmaker[AsyncSession], conversation_id: int) -> Conversation:
    async with sessionmaker() as session:
        return await session.get_one(Conversation, conversation_id)


async def test_a_snoozed_conversation_wakes_when_its_time_comes_and_not_before(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, api_account: ChannelAccount
) -> None:
    clock = SteppedClock(utcnow())
    until = clock.now + timedelta(hours=1)
    conversation_id = await snoozed_conversation(session, api_account, until)
    published = Recorder()
    scheduler = Scheduler(sessionmaker, publisher=published, clock=clock)
    assert await scheduler.next_due() == until  # the worker sleeps until then, not in a busy poll

    clock.step(minutes=59)
    assert await scheduler.run_once() == 0
    assert (await status_of(sessionmaker, conversation_id)).status == "snoozed"

    clock.step(minutes=1)
    assert await scheduler.run_once() == 1
    conv = await status_of(sessionmaker, conversation_id)
    assert (conv.status, conv.snoozed_until) == ("open", None)
    assert [(e.type, e.conversation_id, e.data["status"]) for e in published.events] == [
        ("conversation.updated", conversation_id, "open")
    ]
    async with sessionmaker() as check:
        audit = (await check.scalars(select(AuditLog).where(AuditLog.entity_id == conversation_id))).all()
    assert [(a.action, a.actor_agent_id, a.detail["to"]) for a in audit][-1] == (
        "conversation.status",
        None,
        "open",
    )
    assert await scheduler.next_due() is None
    assert await scheduler.run_once() == 0


async def test_two_workers_on_one_database_wake_a_conversation_once(
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    api_account: ChannelAccount,
) -> None:
    clock = SteppedClock(utcnow())
    conversation_id = await snoozed_conversation(session, api_account, clock.now + timedelta(minutes=5))
    clock.step(minutes=6)
    other_engine = db.create_engine(database_url)  # another process's connection pool
    try:
        published = Recorder()
        first = Scheduler(sessionmaker, publisher=published, clock=clock)
        second = Scheduler(db.sessionmaker(other_engine), publisher=published, clock=clock)
        done = await asyncio.gather(first.run_once(), second.run_once(), first.run_once(), second.run_once())
    finally:
        await other_engine.dispose()
    assert sum(done) == 1
    assert [e.conversation_id for e in published.events] == [conversation_id]
    async with sessionmaker() as check:
        woken = await check.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.entity_id == conversation_id, AuditLog.detail["to"].as_string() == "open")
        )
    assert woken == 1


async def test_the_running_worker_wakes_a_due_snooze_when_woken_and_stops_cleanly(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, api_account: ChannelAccount
) -> None:
    clock = SteppedClock(utcnow())
    conversation_id = await snoozed_conversation(session, api_account, clock.now + timedelta(hours=1))
    published = Recorder()
    # An idle poll of an hour: only wake() can make it look again within the test.
    scheduler = Scheduler(sessionmaker, publisher=published, clock=clock, idle_seconds=3600)
    await scheduler.start()
    try:
        clock.step(hours=2)
        scheduler.wake()
        await eventually(lambda: published.events, "the snoozed conversation woken")
        assert (await status_of(sessionmaker, conversation_id)).status == "open"
    finally:
        await resolved(scheduler.stop(), "the scheduler stopped")
    assert not scheduler.running
    await scheduler.stop()  # stopping a stopped worker is harmless
