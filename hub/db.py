"""The database: engine, sessions and migrations.

SQLite (aiosqlite) is the default: WAL journal, `synchronous=FULL` (a commit is on disk when it returns:
"acknowledged" means durable), foreign keys on, and every transaction opened with BEGIN IMMEDIATE, because
a deferred transaction that later writes can fail at once with "database is locked" when another writer
got there first, where an immediate one simply waits its turn (busy_timeout). Just before each commit, the
rows the transaction added go into the full-text index (inbox/search_index.py). PostgreSQL (asyncpg) by URL.

A code path that only reads takes a read-only session (:func:`read_sessionmaker`): on SQLite its
transaction opens with a deferred BEGIN, which in WAL mode never waits for the write lock (a reader sees
the last commit and is never blocked by a writer), instead of queueing behind the ingest in SQLite's busy
handler, which sleeps (1, 2, 5 … 100 ms) and is not woken when the lock is released. Such a session
refuses to write, loudly (``PRAGMA query_only``: "attempt to write a readonly database"): a deferred
transaction that wrote would take the write lock late and could fail with SQLITE_BUSY_SNAPSHOT. On
PostgreSQL the same session runs ``BEGIN READ ONLY`` (a write fails too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import InvalidatePoolError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util.concurrency import await_

from hub import sqlite_driver
from inbox.search_index import (
    index_pending_raw,
    note_phone_trigrams,
    phone_trigrams_present,
    reconcile_phone_trigrams,
)

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


# The first key of the advisory locks Okno takes on PostgreSQL: "okno" in ASCII, told apart from other
# applications' locks. The second: an account's id (hub.holds), or one of the negative keys below.
LOCK_CLASS = 0x6F6B6E6F
STARTUP_KEY = -1  # a hub's start-up (migrations, then the rows it seeds): one starting process at a time
MIGRATION_KEY = -2  # a migration (also `okno migrate` alone): one at a time

# The execution option that marks a read-only engine (read_engine): its transactions begin deferred on
# SQLite, with the connection's query_only guard on.
READ_ONLY = "okno_read_only"
# In a pooled SQLite connection's `info`: whether its PRAGMA query_only is on now (flipped at BEGIN).
_QUERY_ONLY = "okno_query_only"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(
    url: str, *, echo: bool = False, busy_timeout: float = 30.0, idle_ping: float | None = None
) -> AsyncEngine:
    """An engine for `url`. On SQLite, a transaction waits up to `busy_timeout` seconds for the write lock
    another process holds, then fails with "database is locked" (the web layer answers 503). On PostgreSQL
    a pooled connection idle for `idle_ping` seconds (default IDLE_PING_SECONDS) is pinged before use."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_async_engine(url, echo=echo)
        if engine.dialect.driver == "asyncpg":
            _one_trip_ping(engine)
        _ping_when_idle(engine, IDLE_PING_SECONDS if idle_ping is None else idle_ping)
        return engine
    if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url,
        echo=echo,
        connect_args={"timeout": busy_timeout},
        module=sqlite_driver.dbapi(),  # one trip to aiosqlite's thread per statement (see the module)
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module (see the module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA busy_timeout={round(busy_timeout * 1000)}",
            # Read through a memory map rather than a read() per page: reports scan large indexes
            # (a quarter less CPU on a month of waits at 100,000 conversations).
            "PRAGMA mmap_size=268435456",
        ):
            cursor.execute(pragma)
        # Whether the phone digits' search may read the trigram table (inbox.search): looked at once per
        # new connection, not per query (and again after migrating, see migrate()).
        note_phone_trigrams(engine.sync_engine.pool, phone_trigrams_present(cursor))
        cursor.close()
        # SQLite's own lower() folds ASCII only: "Иван" would never match "иван" in a search.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    holders = _HOLDERS if os.environ.get("OKNO_DEBUG_SQLITE_NESTING") == "1" else None

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = bool(conn.get_execution_options().get(READ_ONLY))
        if read_only:  # never waits for the write lock (WAL), holds none: nothing to track
            _begin(conn, read_only=True)
            return
        if holders is None:
            _begin(conn, read_only=False)
            return
        holders.refuse_nesting(conn)
        try:
            _begin(conn, read_only=False)
        except OperationalError:
            log.error("BEGIN IMMEDIATE failed; transactions open now:\n%s", holders.describe())
            raise
        holders.began(conn)

    @event.listens_for(engine.sync_engine, "commit")
    def _on_commit(conn: Connection) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            return  # wrote nothing (query_only): nothing to index
        # The transaction's new rows into the full-text index, one statement per table, before COMMIT:
        # all in one trip to the database thread.
        sqlite_driver.before_commit(conn.connection.dbapi_connection, index_pending_raw)
        if holders is not None:
            holders.end_transaction(conn)

    if holders is not None:
        event.listen(engine.sync_engine, "rollback", holders.end_transaction)
        for name in ("checkin", "reset", "close", "invalidate", "soft_invalidate"):
            event.listen(engine.sync_engine.pool, name, holders.end_connection)

    return engine


def _one_trip_ping(engine: AsyncEngine) -> None:
    """The pool's check of a connection (an idle one, :func:`_ping_when_idle`) in one round trip (``;``)
    instead of three: the asyncpg adapter wraps its ping in BEGIN … ROLLBACK (for PgBouncer's transaction
    mode, which Okno does not use)."""

    def do_ping(dbapi_connection: Any) -> bool:
        try:
            await_(dbapi_connection._connection.fetchrow(";"))
        except Exception as error:  # a lost connection comes out as the driver adapter's DBAPI error
            dbapi_connection._handle_exception(error)
        return True

    setattr(engine.sync_engine.dialect, "do_ping", do_ping)  # noqa: B010  (a method of this engine's own)


# A pooled PostgreSQL connection unused for longer than this is pinged before it serves again. A busy hub's
# connections come back within milliseconds and go out unpinged: pool_pre_ping's BEGIN, ";" and ROLLBACK
# were three of the fourteen round trips of each ingest batch. A connection lost while it was idle for less
# fails its first statement instead; the pool is then renewed, as after any disconnect, and the callers
# hear "unavailable" and hand the items in again (inbox.unavailable).
IDLE_PING_SECONDS = 1.0
_IDLE_SINCE = "okno_idle_since"  # in a pooled connection's `info`: when it was last checked in (monotonic)


def _ping_when_idle(engine: AsyncEngine, seconds: float) -> None:
    """Ping a pooled connection on checkout when it has been idle for `seconds` or more: a dead
    one renews the whole pool (every connection made before it is replaced), as pool_pre_ping does."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _on_checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)  # none on a new connection: nothing to ping
        if since is None or time.monotonic() - since < seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            if not dialect.is_disconnect(cast(Any, exc), dbapi_connection, None):
                raise
            raise InvalidatePoolError(f"ping of an idle connection failed: {exc}") from exc


def _begin(conn: Connection, *, read_only: bool) -> None:
    """BEGIN IMMEDIATE (a writer) or a deferred BEGIN with the query_only guard on (a reader), with the
    guard flipped in the same trip to the database thread when the pooled connection last served the
    other kind."""
    info = conn.connection.info
    flip = bool(info.get(_QUERY_ONLY, False)) != read_only
    begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"

    def run(raw: sqlite3.Connection) -> None:
        if flip:
            raw.execute(f"PRAGMA query_only={int(read_only)}")
            info[_QUERY_ONLY] = read_only
        raw.execute(begin)

    # In the trip of the transaction's first statement (hub.sqlite_driver): one hand-off fewer.
    sqlite_driver.defer(conn.connection.dbapi_connection, run)


def read_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (pool, events) whose transactions only read: deferred and guarded on SQLite (see
    the module docstring), ``BEGIN READ ONLY`` on PostgreSQL."""
    if engine.dialect.name == "postgresql":  # (READ_ONLY marks it there too: what a reader's statements are)
        return engine.execution_options(postgresql_readonly=True, **{READ_ONLY: True})
    return engine.execution_options(**{READ_ONLY: True})


def read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for code paths that only read (an agent socket's look-ups, GET handlers): they never queue
    for SQLite's write lock, and a write in one fails at once."""
    return async_sessionmaker(read_engine(engine), expire_on_commit=False)


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None: another backend, or a database in memory)."""
    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name)


class Checkpoints:
    """Copies the SQLite write-ahead log into the database file from a thread and connection of its own.

    SQLite checkpoints on its own in the connection whose commit took the log past 1,000 pages: that
    commit then also writes those pages into the database file and waits for its fsync. On the hub that
    connection is the ingest's, holding its turn of the write lock (hub.sqlite_driver) while the web chat's
    next messages wait; so every few seconds a commit took a checkpoint's time. Here a PASSIVE checkpoint
    runs every `every` seconds on this thread (the sqlite3 module lets go of the GIL while it writes): it
    never blocks a writer, and it keeps the log short, so the log restarts from its beginning and the
    commits' own checkpoint seldom comes due (it stays as the safety net). Nothing is less durable: a
    commit is on disk in the log when it returns (synchronous=FULL), whenever its pages are copied.
    """

    def __init__(self, path: Path, every: float = 0.5) -> None:
        self.path = path
        self.every = every
        # What the last checkpoint reported: pages in the log, and how many of them are in the database file.
        self.log_pages = self.copied_pages = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="okno-sqlite-checkpoints", daemon=True)
            self._thread.start()

    async def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            await asyncio.to_thread(thread.join)  # a checkpoint under way ends first

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=0)
        try:
            conn.execute("PRAGMA synchronous=FULL")  # the checkpoint's fsyncs, as the hub's connections
            while not self._stop.wait(self.every):
                try:
                    _busy, pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:  # another checkpoint under way, a database going away
                    log.debug("background checkpoint skipped: %s", exc)
                    continue
                self.log_pages, self.copied_pages = pages, copied
        finally:
            conn.close()


class NestedTransactionError(RuntimeError):
    """A task began a second SQLite transaction while its first one still held the write lock."""


class _TransactionHolders:
    """A debug aid (``OKNO_DEBUG_SQLITE_NESTING=1``; the test suite turns it on). On SQLite every transaction
    takes the write lock (BEGIN IMMEDIATE), so a task that opens a second session while its first one holds
    a transaction waits for itself until busy_timeout (30 s), and every other writer with it. That is
    refused here at once, naming the place, instead of surfacing as a "database is locked" elsewhere; and
    when a BEGIN does time out, the log names every transaction still open (task, age, where it began)."""

    def __init__(self) -> None:
        # id of a DBAPI connection → (its task, when its transaction began, where)
        self._open: dict[int, tuple[asyncio.Task[Any], float, str]] = {}

    @staticmethod
    def _task() -> asyncio.Task[Any] | None:
        try:
            return asyncio.current_task()
        except RuntimeError:  # no running loop (a synchronous caller): nothing to track
            return None

    def refuse_nesting(self, conn: Connection) -> None:
        task = self._task()
        if task is None:
            return
        mine = id(conn.connection.dbapi_connection)
        if any(held is task and key != mine for key, (held, _, _) in self._open.items()):
            raise NestedTransactionError(
                f"task {task.get_name()!r} began a second SQLite transaction while its first one holds "
                "the write lock: it would wait for itself until busy_timeout. Reuse the open session."
            )

    def began(self, conn: Connection) -> None:
        task = self._task()
        if task is None:
            return
        try:
            where = _awaiting(task)
        except Exception:  # a debug aid must never break a transaction
            where = task.get_name()
        self._open[id(conn.connection.dbapi_connection)] = (task, time.monotonic(), where)

    def end_transaction(self, conn: Connection) -> None:
        # Never raise here: this runs inside SQLAlchemy's rollback, also of a cancelled or invalidated
        # connection (whose `.connection` raises); an error would keep the ROLLBACK from reaching SQLite
        # and leave the write lock held. The pool's checkin/reset/close events drop the entry anyway.
        try:
            key = id(conn.connection.dbapi_connection)
        except Exception:
            return
        self._open.pop(key, None)

    def end_connection(self, dbapi_connection: Any, *_args: Any) -> None:
        self._open.pop(id(dbapi_connection), None)

    def describe(self) -> str:
        now = time.monotonic()
        lines = [
            f"- task {task.get_name()!r} ({'done' if task.done() else 'running'}), "
            f"open {now - since:.1f} s, began at: {where}"
            for task, since, where in self._open.values()
        ]
        return "\n".join(lines) or "- none in this process"


def _awaiting(task: asyncio.Task[Any]) -> str:
    """Where the task began the transaction: our own frames (not libraries') of the coroutine that awaits
    SQLAlchemy, innermost first. The begin event runs in SQLAlchemy's greenlet; the awaiting coroutines'
    frames are on its parent greenlet's suspended stack."""
    import greenlet  # type: ignore[import-untyped]  # SQLAlchemy's asyncio support requires it

    parent = greenlet.getcurrent().parent
    frame = parent.gr_frame if parent is not None else None
    places: list[str] = []
    while frame is not None and len(places) < 8:
        name = frame.f_code.co_filename
        if "site-packages" not in name and "/asyncio/" not in name and "/lib/python" not in name:
            places.append(f"{Path(name).name}:{frame.f_lineno} {frame.f_code.co_name}")
        frame = frame.f_back
    return " < ".join(places) or task.get_name()


_HOLDERS = _TransactionHolders()


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (idempotent; run on every start).

    On PostgreSQL the migration holds an advisory lock for its transaction: several hub processes started
    at once (systemd's okno.target, Compose) migrate one after the other, and the later ones find the
    schema at head instead of failing on tables another one is creating. (SQLite: one process per file.)"""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:k, :v)"), {"k": LOCK_CLASS, "v": MIGRATION_KEY}
            )
        await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), revision))
        if conn.dialect.name == "sqlite":  # a migration may have created or dropped it
            if revision == "head":  # a start: the table made to fit this SQLite (a schema of today's)
                present = await conn.run_sync(
                    lambda sync: sqlite_driver.run_sync(
                        sync.connection.dbapi_connection, reconcile_phone_trigrams
                    )
                )
            else:
                present = await conn.run_sync(lambda sync: phone_trigrams_present(sync.connection.cursor()))
            note_phone_trigrams(engine.sync_engine.pool, present)


@contextlib.asynccontextmanager
async def startup_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """On PostgreSQL, one hub process at a time through its start-up: processes started together (systemd's
    okno.target, Compose) would otherwise each insert the same channel account, team or starter template
    and all but one fail on its unique key. The lock is a session-level advisory lock on a connection of
    its own, with no transaction left open; it goes with the connection if the process dies. (SQLite:
    one process per file, nothing to do.)"""
    if engine.dialect.name != "postgresql":
        yield
        return
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(:k, :v)"), {"k": LOCK_CLASS, "v": STARTUP_KEY})
        await conn.commit()
        try:
            yield
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:k, :v)"), {"k": LOCK_CLASS, "v": STARTUP_KEY})
            await conn.commit()


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
