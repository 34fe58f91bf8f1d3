"""When the visitors' messages were stored, read for their acks many at a time.

An ``ack`` carries the message as the widget shows it, with the time it was stored, which the ingest
does not hand back: it has to be read after the commit. One read (one transaction) per ack was a quarter
of the hub's time at 200 messages/s on SQLite, where every transaction waits its turn for the write lock;
the acks of one group commit arrive together, so one reader takes every id asked meanwhile in one query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.finishing import Finishing
from inbox import visitor_history

log = logging.getLogger(__name__)


class StoredTimes:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], finishing: Finishing) -> None:
        self._sessionmaker = sessionmaker
        self._finishing = finishing
        self._asked: dict[int, list[asyncio.Future[datetime | None]]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="okno-webchat-stored-times")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        asked, self._asked = self._asked, {}
        _fail(asked, ConnectionAbortedError("the web chat is stopping"))

    async def of(self, message_id: int) -> datetime | None:
        """When this message was stored (None: no such message)."""
        if self._task is None:  # not started (an app served without its start-up): read it alone
            async with self._sessionmaker() as session:
                return await visitor_history.created_at(session, message_id)
        future: asyncio.Future[datetime | None] = asyncio.get_running_loop().create_future()
        self._asked.setdefault(message_id, []).append(future)
        self._wake.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            asked, self._asked = self._asked, {}
            try:
                # Run to its end even if the reader is cancelled meanwhile: a read cut inside the
                # database would hold its connection (on SQLite, the write lock) until collected.
                times = await self._finishing.run(self._read(list(asked)))
            except asyncio.CancelledError:
                _fail(asked, ConnectionAbortedError("the web chat is stopping"))
                raise
            except Exception as exc:
                log.exception("reading when %d web-chat messages were stored failed", len(asked))
                _fail(asked, exc)
                continue
            for message_id, futures in asked.items():
                for future in futures:
                    if not future.done():
                        future.set_result(times.get(message_id))

    async def _read(self, message_ids: list[int]) -> dict[int, datetime]:
        async with self._sessionmaker() as session:
            return await visitor_history.created_at_of(session, message_ids)


def _fail(asked: dict[int, list[asyncio.Future[datetime | None]]], exc: BaseException) -> None:
    for futures in asked.values():
        for future in futures:
            if not future.done():
                future.set_exception(exc)


STORED_TIMES = web.AppKey("okno_webchat_stored_times", StoredTimes)
