"""The router worker: applies the routing rules to new dialogs, then runs
:func:`~inbox.routing.router.route_team` for every team with waiting dialogs.

It is woken right after each ingest commit that opened a dialog (the ingest queue's `on_opened`: a new
one, or one back to open) and by every event that may free capacity or bring an agent (a dialog
resolved, snoozed or reassigned, an agent coming online or setting their status: the hub wakes it from
the event bus, so a change in another process counts too); between wakes it looks every `idle_seconds`
anyway. A pass repeats while it hands dialogs out. Routing is idempotent — it only ever takes dialogs
that still wait — so a spurious wake costs one query. Each team is decided in its own short
transaction, never inside the ingest's group commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.bus import Event, NullPublisher, Publisher
from inbox.business_hours import BusinessHours
from inbox.models import utcnow
from inbox.presence import PRESENCE_TTL
from inbox.routing.auto_reply import AutoReplies
from inbox.routing.router import BATCH, route_team, waiting_teams
from inbox.routing.rules import apply_rules
from inbox.unavailable import log_failure
from inbox.workers import PassWorker

log = logging.getLogger(__name__)


class RouterWorker(PassWorker):
    task_name = "okno-router"

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        publisher: Publisher | None = None,
        clock: Callable[[], datetime] = utcnow,
        idle_seconds: float = 10.0,
        batch: int = BATCH,
        ttl: timedelta = PRESENCE_TTL,
        hours: BusinessHours | None = None,
        vip_tags: Sequence[str] = ("vip",),
        auto_replies: AutoReplies | None = None,
        on_auto_reply: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._sessionmaker = sessionmaker
        self._publisher = publisher or NullPublisher()
        self._clock = clock
        self._idle = idle_seconds
        self._batch = batch
        self._ttl = ttl
        self._hours = hours or BusinessHours.always()
        self._vip_tags = tuple(vip_tags)
        self._auto_replies = auto_replies or AutoReplies()
        self._on_auto_reply = on_auto_reply  # wakes the outbox worker after a commit that queued one
        self.assigned = 0  # dialogs this worker handed out (benchmarks and tests)
        self.passes = 0

    async def run_once(self) -> int:
        """One pass over every team with waiting dialogs: how many were assigned."""
        async with self._sessionmaker() as session:
            ruled = await apply_rules(
                session,
                self._clock(),
                self._hours,
                limit=self._batch,
                vip_tags=self._vip_tags,
                auto_replies=self._auto_replies,
            )
            teams = await waiting_teams(session)
            await session.commit()
        if self._on_auto_reply is not None and any(e.data.get("auto_reply") for e in ruled):
            self._on_auto_reply()
        for event in ruled:
            await self._publish(event)
        assigned = 0
        for team_id in teams:
            async with self._sessionmaker() as session:
                events = await route_team(session, team_id, self._clock(), limit=self._batch, ttl=self._ttl)
                await session.commit()
            assigned += sum(1 for e in events if e.type == "conversation.assigned" and e.assignee_id)
            for event in events:
                await self._publish(event)
        self.assigned += assigned
        self.passes += 1
        return assigned + len(ruled)

    async def _publish(self, event: Event) -> None:
        try:
            await self._publisher.publish(event)
        except Exception:
            log.exception("publishing %s failed", event.type)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()  # a wake during the pass below makes the next one start at once
            try:
                done = await self.run_once()
            except Exception as exc:
                log_failure(log, "routing pass failed", exc)
                done = 0
            if self._stopping:
                break
            if not done:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._idle):
                        await self._wake.wait()
