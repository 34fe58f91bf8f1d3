"""This process's side of shared agent presence (:mod:`inbox.presence`).

It counts the agent sockets this process holds and writes the count to the database when a socket opens
or closes (not per frame), refreshes its rows every `heartbeat_seconds`, and removes them on a clean stop.
Reads of who is online go through a short cache (`cache_seconds`), invalidated by this process's own
changes, because pages and the widget's config ask on every request. The clock is injectable so tests
step it to expire a dead process's rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.finishing import Finishing
from inbox import presence
from inbox.models import utcnow
from inbox.routing.availability import presence_of
from inbox.unavailable import log_failure

log = logging.getLogger(__name__)
T = TypeVar("T")


class Presence:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime] = utcnow,
        heartbeat_seconds: float = 30.0,
        ttl: timedelta = presence.PRESENCE_TTL,
        cache_seconds: float = 1.0,
    ) -> None:
        self.process_id = uuid.uuid4().hex
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._heartbeat = heartbeat_seconds
        self._ttl = ttl
        self._cache_for = timedelta(seconds=cache_seconds)
        self._cached: tuple[datetime, set[int]] | None = None
        self._local: Counter[int] = Counter()
        self._idle: Counter[int] = Counter()  # of those sockets, how many report an idle tab
        self._lock = asyncio.Lock()  # one write at a time: the row always holds the latest count
        self._task: asyncio.Task[None] | None = None
        self._finishing = Finishing()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._beat_forever(), name="okno-presence")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._finishing.wait()  # writes a cancel did not cut short
        async with self._lock, self._sessionmaker() as session:
            await presence.forget_process(session, self.process_id)
            await session.commit()
        self._local.clear()
        self._idle.clear()
        self._cached = None

    async def connect(self, agent_id: int) -> bool:
        """A socket of the agent opened here; True if the agent was offline everywhere before."""
        return await self._shielded(self._connect(agent_id))

    async def disconnect(self, agent_id: int, *, idle: bool = False) -> bool:
        """A socket of the agent closed here (`idle`: it had reported an idle tab); True if the agent is
        now offline everywhere."""
        return await self._shielded(self._disconnect(agent_id, -1 if idle else 0))

    async def set_idle(self, agent_id: int, idle: bool) -> str:
        """A socket of the agent reports its tab idle (or active again); the agent's presence after it:
        "away" when every socket of theirs anywhere is idle, else "online"."""
        return await self._shielded(self._set_idle(agent_id, +1 if idle else -1))

    async def _set_idle(self, agent_id: int, delta: int) -> str:
        await self._write(agent_id, 0, delta)
        async with self._sessionmaker() as session:
            found = await presence_of(session, self._clock(), [agent_id], ttl=self._ttl)
        return found.get(agent_id, "offline")

    async def _connect(self, agent_id: int) -> bool:
        was_online = agent_id in await self.online()
        await self._write(agent_id, +1)
        return not was_online

    async def _disconnect(self, agent_id: int, idle_delta: int) -> bool:
        await self._write(agent_id, -1, idle_delta)
        return agent_id not in await self.online()

    async def _shielded(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` to its end even if the caller is cancelled (a socket handler at shutdown): a cancel
        inside its transaction would leave the connection, and on SQLite the write lock, to the garbage
        collector. :meth:`stop` waits for what is still running."""
        return await self._finishing.run(work)

    async def online(self, session: AsyncSession | None = None) -> set[int]:
        """The agents online in any process (cached for `cache_seconds`). Inside a transaction pass its
        session: on SQLite a second session would wait for the write lock the first one holds."""
        now = self._clock()
        if self._cached is not None and now - self._cached[0] < self._cache_for:
            return set(self._cached[1])
        if session is not None:
            found = await presence.online_agents(session, now=now, ttl=self._ttl)
        else:
            async with self._sessionmaker() as own:
                found = await presence.online_agents(own, now=now, ttl=self._ttl)
        self._cached = (now, found)
        return set(found)

    async def beat(self) -> None:
        """Refresh this process's rows and drop expired ones (the heartbeat's one step)."""
        async with self._lock, self._sessionmaker() as session:
            await presence.heartbeat(session, process_id=self.process_id, now=self._clock(), ttl=self._ttl)
            await session.commit()
        self._cached = None

    async def _write(self, agent_id: int, delta: int, idle_delta: int = 0) -> None:
        async with self._lock:
            self._local[agent_id] = max(0, self._local[agent_id] + delta)
            sockets = self._local[agent_id]
            self._idle[agent_id] = min(sockets, max(0, self._idle[agent_id] + idle_delta))
            idle = self._idle[agent_id]
            if sockets == 0:
                del self._local[agent_id]
                del self._idle[agent_id]
            async with self._sessionmaker() as session:
                await presence.record_sockets(
                    session,
                    agent_id=agent_id,
                    process_id=self.process_id,
                    sockets=sockets,
                    now=self._clock(),
                    idle=idle,
                )
                await session.commit()
            self._cached = None

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            try:
                await self._shielded(self.beat())
            except Exception as exc:
                log_failure(log, "presence heartbeat failed", exc)
