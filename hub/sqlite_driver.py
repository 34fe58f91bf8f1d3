"""SQLAlchemy's aiosqlite adapter with one trip to the database thread per statement instead of four.

aiosqlite runs every sqlite3 call on a thread of its own; SQLAlchemy's adapter makes four of those calls
per statement (open a cursor, execute, fetch the rows, close the cursor), each a hand-off to that thread
and a wake-up of the event loop when it is done. Here one function does all four on the database thread
and hands back what the cursor knew (description, rowcount, lastrowid) with the rows. Measured on the
2-core machine (the same run, shared): a `SELECT 1` through the engine 207 → 103 µs of CPU, and the
ingest benchmark's CPU per message about a tenth lower.

Only buffered cursors change; server-side ones (`stream()`) and the connection's own calls (commit,
rollback, close) are SQLAlchemy's and aiosqlite's, as are the error types (a sqlite3 error raised on the
database thread reaches the caller through the same future). It relies on two internals of aiosqlite's
`Connection` (`_execute`, which queues a function for its thread, and `_conn`, the sqlite3 connection),
present since aiosqlite 0.17; `tests/hub/test_sqlite_driver.py` pins what the engine sees.

A write transaction's ``BEGIN IMMEDIATE`` (:meth:`OneTripConnection.begin_immediate`) does not wait for
the write lock in SQLite's busy handler, which sleeps 1, 2, 5, 10 … then 100 ms at a time and is never
woken when the lock is let go (with the ingest, the router and presence writing in one process, those
sleeps were the web chat's tail). It tries without waiting, and while another connection holds the lock
it waits on this engine's :class:`WriteWaits`: woken the moment a write transaction of the engine ends
(commit, rollback, close), looking again every few milliseconds anyway for a writer of another process
(the CLI, a backup). Nothing is held between the tries: a transaction that ends by a path that wakes
no one (a connection collected, a cancelled commit) costs the waiters one poll, never a hang. Past the
busy timeout the BEGIN fails with "database is locked", as SQLite's own wait did.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sqlite3
from collections.abc import Callable
from threading import Thread
from types import ModuleType
from typing import Any, TypeVar, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, int, int | None, list[Any] | None]
_T = TypeVar("_T")
DEFAULT_TIMEOUT = 5.0  # sqlite3.connect's own busy timeout, for a connection made without one


class WriteWaits:
    """The connections of one engine waiting for SQLite's write lock, woken when a write transaction of
    the engine ends. A waiter also looks again after each of `polls` (the last repeating): the lock may be
    another process's, which wakes no one here."""

    def __init__(self, polls: tuple[float, ...] = (0.001, 0.002, 0.005, 0.01)) -> None:
        self.polls = polls
        self._waiters: set[asyncio.Future[None]] = set()
        self.tries = 0  # BEGIN IMMEDIATE attempts that found the lock taken (tests, diagnostics)

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def register(self) -> asyncio.Future[None]:
        """A future the next `wake` settles; taken before a try, so that a wake between the try and the
        wait is not missed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(future)
        return future

    async def wait(self, future: asyncio.Future[None], seconds: float) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await asyncio.shield(future)
        finally:
            self._waiters.discard(future)

    def forget(self, future: asyncio.Future[None]) -> None:
        self._waiters.discard(future)

    def wake(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for future in waiters:
            loop = future.get_loop()
            if loop.is_closed():
                continue
            try:
                running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:  # the garbage collector closing a connection, on any thread
                running = None
            if running is loop:
                _settle(future)
            else:
                loop.call_soon_threadsafe(_settle, future)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Held:
    """What the sqlite3 cursor knew after its statement (it is closed by then)."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self) -> None:
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1


class _Cursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def _make_new_cursor(self, connection: Any) -> Any:
        return _Held()  # no sqlite3 cursor yet: each statement opens and closes its own on the thread

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor

    async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        raw: sqlite3.Connection = connection._conn

        def run() -> _Outcome:
            cursor = raw.cursor()
            try:
                if many:
                    cursor.executemany(operation, parameters)
                elif parameters is None:
                    cursor.execute(operation)
                else:
                    cursor.execute(operation, parameters)
                rows = cursor.fetchall() if cursor.description else None
                return cursor.description, cursor.rowcount, cursor.lastrowid, rows
            finally:
                cursor.close()

        queue: Any = connection._execute  # untyped in aiosqlite
        async with self._adapt_connection._execute_mutex:
            description, rowcount, lastrowid, rows = await queue(run)
        held: _Held = self._cursor  # type: ignore[assignment]
        held.description, held.rowcount, held.lastrowid = description, rowcount, lastrowid
        if rows is not None and not self.server_side:
            self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._run(operation, seq_of_parameters, many=True)

    async def _async_soft_close(self) -> None:
        self._soft_closed_memoized = self._soft_closed_memoized.union(
            {"description": self._cursor.description}
        )

    def close(self) -> None:
        self._rows.clear()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_busy_timeout", "_writing")
    _cursor_cls = _Cursor

    def __init__(self, dbapi: Any, connection: Any, busy_timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(dbapi, connection)
        self._busy_timeout = busy_timeout
        self._writing = False  # began with begin_immediate, not ended yet: its end wakes the waiters

    def begin_immediate(self, first: tuple[str, ...] = ()) -> None:
        """BEGIN IMMEDIATE without SQLite's sleeping busy handler (see the module docstring); the
        statements `first` run just before it, in the same trip (a PRAGMA of the connection's)."""
        await_(self._begin_immediate(first))

    async def _begin_immediate(self, first: tuple[str, ...]) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        raw: sqlite3.Connection = connection._conn
        queue: Any = connection._execute  # untyped in aiosqlite
        waits: WriteWaits = self.dbapi.waits
        restore = f"PRAGMA busy_timeout={round(self._busy_timeout * 1000)}"
        pending = list(first)

        def attempt() -> sqlite3.OperationalError | None:
            """None: begun; else SQLite's own "database is locked" (SQLITE_BUSY), to raise at the end."""
            for statement in pending:
                raw.execute(statement)
            pending.clear()
            raw.execute("PRAGMA busy_timeout=0")
            try:
                raw.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                    raise
                return exc
            finally:
                raw.execute(restore)
            return None

        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._busy_timeout
        polls = iter(waits.polls)
        poll = waits.polls[-1]
        while True:
            woken = waits.register()
            # Set before the trip: a try cut off (cancelled) after SQLite began still wakes at its end.
            self._writing = True
            try:
                busy = await self._run_locked(queue, attempt)
            except BaseException:
                waits.forget(woken)
                raise
            if busy is None:
                waits.forget(woken)
                return
            self._writing = False
            waits.tries += 1
            left = deadline - loop.time()
            if left <= 0:
                waits.forget(woken)
                raise busy
            poll = next(polls, poll)
            await waits.wait(woken, min(poll, left))

    def _ended(self) -> None:
        if self._writing:
            self._writing = False
            self.dbapi.waits.wake()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._ended()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._ended()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._ended()

    def terminate(self) -> None:
        try:
            super().terminate()
        finally:
            self._ended()

    def run_sync(self, function: Callable[[sqlite3.Connection], _T]) -> _T:
        """`function(sqlite3 connection)` on the database thread, in one trip; from SQLAlchemy's sync side
        (an event handler, `run_sync`), like a statement. Several statements in one call (the commit
        hook's full-text flush) cost one hand-off instead of one each."""
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        raw: sqlite3.Connection = connection._conn
        queue: Any = connection._execute  # untyped in aiosqlite
        return cast(_T, await_(self._run_locked(queue, lambda: function(raw))))

    async def _run_locked(self, queue: Any, call: Callable[[], Any]) -> Any:
        async with self._execute_mutex:
            return await queue(call)


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module to give `create_async_engine(..., module=...)` for a sqlite+aiosqlite URL."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)
        self.waits = WriteWaits()  # this engine's connections waiting for the write lock

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        creator_fn = kw.pop("async_creator_fn", None)
        timeout = float(kw.get("timeout", DEFAULT_TIMEOUT))
        connection = creator_fn(*arg, **kw) if creator_fn else self.aiosqlite.connect(*arg, **kw)
        if creator_fn is None:  # as SQLAlchemy's own connect: the database thread must not keep us alive
            thread = connection if isinstance(connection, Thread) else connection._thread
            thread.daemon = True
        return OneTripConnection(self, await_(connection), timeout)


def run_sync(dbapi_connection: Any, function: Callable[[sqlite3.Connection], _T]) -> _T:
    """`function` on the sqlite3 connection under `dbapi_connection` (the pool's), on its own thread: one
    trip through this module's adapter, or a direct call on a plain sqlite3 connection (no thread)."""
    if isinstance(dbapi_connection, OneTripConnection):
        return dbapi_connection.run_sync(function)
    if isinstance(dbapi_connection, sqlite3.Connection):
        return function(dbapi_connection)
    raise TypeError(f"not a SQLite connection of this driver: {type(dbapi_connection).__name__}")


def dbapi() -> ModuleType:
    """One instance per engine, as SQLAlchemy makes for its own dialect."""
    return OneTripDBAPI()  # type: ignore[return-value]
