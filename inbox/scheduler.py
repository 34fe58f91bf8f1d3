"""The scheduler: one worker that runs the domain's timed work when it falls due.

Due times live in the database, on the rows they concern (a conversation's ``snoozed_until``); there is
no separate jobs table to keep in step with them. Each kind of timed work is a :class:`JobKind` in
:data:`JOB_KINDS`: it says when its next item falls due and, inside one transaction, claims and applies
the items due now, returning the events to publish after the commit. Routing time-outs and SLA breaches
are added the same way: a new ``JobKind`` (a due-time column with an index, a ``next_due`` query and a
``run_due`` that claims by a conditional UPDATE) appended to the registry; the worker needs no change.

Safe with several processes: a kind claims an item with a conditional UPDATE that re-checks that the
item is still due (``WHERE status = 'snoozed' AND snoozed_until <= now``), so of two workers only one
sees a row count of 1 and publishes; on PostgreSQL the candidates are read with FOR UPDATE SKIP LOCKED
so workers do not queue behind each other, on SQLite the single writer (BEGIN IMMEDIATE) serialises
them. The claim and the work are one transaction with nothing slow in between, so no lease is needed:
a worker that dies mid-pass rolls back and the item stays due. A kind whose work leaves the transaction
(a network call) must claim with a lease instead, as :mod:`inbox.outbox` does.

The worker sleeps until the earliest due time (at most `idle_seconds`, so work set by another process
is found), and :meth:`Scheduler.wake` makes it look now (called after a snooze is set). Its clock is
injectable: tests step it instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.bus import Event, NullPublisher, Publisher
from inbox.models import utcnow
from inbox.snoozes import SnoozeEnds
from inbox.unavailable import log_failure
from inbox.workers import PassWorker

log = logging.getLogger(__name__)


class JobKind(Protocol):
    """One kind of timed work."""

    name: str

    async def next_due(self, session: AsyncSession) -> datetime | None:
        """When the earliest pending item falls due (None: nothing pending)."""
        ...

    async def run_due(self, session: AsyncSession, now: datetime, limit: int) -> list[Event]:
        """Claim and apply up to `limit` items due at `now`; the caller commits, then publishes."""
        ...


JOB_KINDS: tuple[JobKind, ...] = (SnoozeEnds(),)


class Scheduler(PassWorker):
    task_name = "okno-scheduler"

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        kinds: Sequence[JobKind] = JOB_KINDS,
        publisher: Publisher | None = None,
        clock: Callable[[], datetime] = utcnow,
        idle_seconds: float = 30.0,
        batch: int = 50,
    ) -> None:
        super().__init__()
        self._sessionmaker = sessionmaker
        self._kinds = tuple(kinds)
        self._publisher = publisher or NullPublisher()
        self._clock = clock
        self._idle = idle_seconds
        self._batch = batch

    async def run_once(self) -> int:
        """One pass over every kind: returns how many items this worker claimed and applied."""
        done = 0
        for kind in self._kinds:
            async with self._sessionmaker() as session:
                events = await kind.run_due(session, self._clock(), self._batch)
                await session.commit()
            done += len(events)
            for event in events:
                try:
                    await self._publisher.publish(event)
                except Exception:
                    log.exception("publishing %s failed", event.type)
        return done

    async def next_due(self) -> datetime | None:
        """The earliest due time over every kind."""
        found: list[datetime] = []
        async with self._sessionmaker() as session:
            for kind in self._kinds:
                due = await kind.next_due(session)
                if due is not None:
                    found.append(due)
        return min(found, default=None)

    async def _pause(self) -> float:
        due = await self.next_due()
        if due is None:
            return self._idle
        seconds = (due - self._clock()).total_seconds()
        # Due already yet nothing claimed: another process holds it; look again shortly, never spin.
        return min(self._idle, seconds if seconds > 0 else 1.0)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                done = await self.run_once()
                pause = 0.0 if done else await self._pause()
            except Exception as exc:
                log_failure(log, "scheduler pass failed", exc)
                pause = self._idle
            if self._stopping:
                break
            if pause > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await self._wake.wait()
            self._wake.clear()
