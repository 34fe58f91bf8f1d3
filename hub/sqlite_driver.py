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

Write transactions of one engine also take turns here, first come first served (:class:`WriteTurns`),
before their ``BEGIN IMMEDIATE`` reaches SQLite. SQLite's own wait for the write lock (busy_timeout) does
not queue: the waiting connection sleeps 1, 2, 5, 10 … then 100 ms at a time and looks again, never woken
when the lock is let go. With the ingest's group commit, the router, the acks' reads and the sockets' reads
all beginning transactions in one process, those sleeps were the web chat's tail: at 200 messages/s
(bench/live.py, a loaded machine) 14 % of the BEGINs waited over 5 ms inside the sqlite3 call, 1 % over
430 ms and the worst 2.8 s, while every other statement's p99 in that call stayed under 1 ms. A turn is
handed on the moment the transaction before it ends. SQLite's busy_timeout still covers other processes
(the CLI, a backup).
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import weakref
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
DEFAULT_TIMEOUT = 5.0  # sqlite3.connect's own default, for an engine made without a timeout
_WRITING = ("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")  # the transactions that take SQLite's write lock at once


class WriteTurns:
    """The write transactions of one engine, one at a time and in the order they began.

    A turn is taken before a ``BEGIN IMMEDIATE`` is sent and handed on when its transaction ends:
    committed or rolled back (and no transaction left open), its connection closed or terminated, or the
    connection object collected (a task cut inside a transaction leaves SQLite's lock until then too).
    Waiting longer than the busy timeout fails as SQLite's own wait would: ``database is locked``.
    """

    def __init__(self) -> None:
        self.timeout = DEFAULT_TIMEOUT
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._owner: int | None = None  # id() of the adapted connection whose transaction holds the turn
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finalizer: weakref.finalize | None = None  # type: ignore[type-arg]
        self.waiting = 0  # transactions waiting for their turn now (tests, diagnostics)

    def _lock(self, loop: asyncio.AbstractEventLoop) -> asyncio.Lock:
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    async def take(self, connection: OneTripConnection) -> None:
        loop = asyncio.get_running_loop()
        lock = self._lock(loop)
        self.waiting += 1
        try:
            async with asyncio.timeout(self.timeout):
                await lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        finally:
            self.waiting -= 1
        self._owner, self._loop = id(connection), loop
        # Collected while holding the turn (a transaction cut off and left to the garbage collector):
        # the turn goes on with SQLite's lock. The callback holds no reference to the connection.
        self._finalizer = weakref.finalize(connection, self._hand_on_from_anywhere, id(connection))
        self._finalizer.atexit = False

    def holds(self, connection: OneTripConnection) -> bool:
        return self._owner == id(connection)

    def hand_on(self, connection: OneTripConnection) -> None:
        """The transaction of `connection` ended (or never began): the next in line goes."""
        if self._owner != id(connection):
            return
        self._release()

    def _release(self) -> None:
        loop, self._owner, self._loop = self._loop, None, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if loop is not None and not loop.is_closed():
            self._lock(loop).release()

    def _hand_on_from_anywhere(self, owner: int) -> None:
        # The garbage collector or a force-close may run on any thread: the lock is the loop's.
        loop = self._loop
        if self._owner != owner or loop is None or loop.is_closed():
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._release_if(owner)
        else:
            loop.call_soon_threadsafe(self._release_if, owner)

    def _release_if(self, owner: int) -> None:
        if self._owner == owner:
            self._release()


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
        adapted: OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        if isinstance(operation, str) and operation.lstrip().upper().startswith(_WRITING):
            await self._begin_in_turn(adapted, raw, operation)
            return

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

    async def _begin_in_turn(
        self, adapted: OneTripConnection, raw: sqlite3.Connection, operation: str
    ) -> None:
        turns = adapted.dbapi.turns
        if not turns.holds(adapted):
            await turns.take(adapted)
        queue: Any = adapted._connection._execute  # untyped in aiosqlite
        try:
            async with adapted._execute_mutex:
                await queue(lambda: raw.execute(operation).close())
        except BaseException:
            if not _in_transaction(raw):
                turns.hand_on(adapted)
            raise
        held: _Held = self._cursor  # type: ignore[assignment]
        held.description, held.rowcount, held.lastrowid = None, -1, None

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


def _in_transaction(raw: sqlite3.Connection) -> bool:
    try:
        return raw.in_transaction
    except sqlite3.ProgrammingError:  # closed
        return False


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("__weakref__",)
    _cursor_cls = _Cursor
    dbapi: OneTripDBAPI

    def _transaction_ended(self) -> None:
        raw: sqlite3.Connection | None = getattr(self._connection, "_conn", None)
        if raw is None or not _in_transaction(raw):
            self.dbapi.turns.hand_on(self)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._transaction_ended()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._transaction_ended()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.dbapi.turns.hand_on(self)

    def _terminate_force_close(self) -> None:
        try:
            super()._terminate_force_close()
        finally:
            # Also the garbage collector's path (any thread): handed on through the loop.
            self.dbapi.turns._hand_on_from_anywhere(id(self))

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
        self.turns = WriteTurns()

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        if "timeout" in kw:  # the engine's busy timeout: a turn is waited for as long
            self.turns.timeout = float(kw["timeout"])
        creator_fn = kw.pop("async_creator_fn", None)
        connection = creator_fn(*arg, **kw) if creator_fn else self.aiosqlite.connect(*arg, **kw)
        if creator_fn is None:  # as SQLAlchemy's own connect: the database thread must not keep us alive
            thread = connection if isinstance(connection, Thread) else connection._thread
            thread.daemon = True
        return OneTripConnection(self, await_(connection))


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
