"""The database: engine, sessions and migrations.

SQLite (aiosqlite) is the default: WAL journal, `synchronous=FULL` (a commit is on disk when it returns:
"acknowledged" means durable), foreign keys on, and every transaction opened with BEGIN IMMEDIATE, because
a deferred transaction that later writes can fail at once with "database is locked" when another writer
got there first, where an immediate one simply waits its turn (busy_timeout). Just before each commit, the
rows the transaction added go into the full-text index (inbox/search_index.py). PostgreSQL (asyncpg) by URL.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from inbox.search_index import index_pending

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, echo=echo, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module (see the module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=30000",
            # Read through a memory map rather than a read() per page: reports scan large indexes
            # (a quarter less CPU on a month of waits at 100,000 conversations).
            "PRAGMA mmap_size=268435456",
        ):
            cursor.execute(pragma)
        cursor.close()
        # SQLite's own lower() folds ASCII only: "Иван" would never match "иван" in a search.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    holders = _TransactionHolders() if os.environ.get("OKNO_DEBUG_SQLITE_NESTING") == "1" else None

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if holders is not None:
            holders.begin(conn)
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine.sync_engine, "commit")
    def _on_commit(conn: Connection) -> None:
        # The transaction's new rows into the full-text index, one statement per table, before COMMIT.
        index_pending(conn)
        if holders is not None:
            holders.end_transaction(conn)

    if holders is not None:
        event.listen(engine.sync_engine, "rollback", holders.end_transaction)
        for name in ("checkin", "reset", "close", "invalidate", "soft_invalidate"):
            event.listen(engine.sync_engine.pool, name, holders.end_connection)

    return engine


class NestedTransactionError(RuntimeError):
    """A task began a second SQLite transaction while its first one still held the write lock."""


class _TransactionHolders:
    """A debug aid (``OKNO_DEBUG_SQLITE_NESTING=1``; the test suite turns it on). On SQLite every transaction
    takes the write lock (BEGIN IMMEDIATE), so a task that opens a second session while its first one holds
    a transaction waits for itself until busy_timeout (30 s), and every other writer with it. That is
    refused here at once, naming the place, instead of surfacing as a "database is locked" elsewhere."""

    def __init__(self) -> None:
        self._holder: dict[int, asyncio.Task[Any]] = {}  # id of a DBAPI connection → its task

    def begin(self, conn: Connection) -> None:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop (a synchronous caller): nothing to track
            return
        if task is None:
            return
        mine = id(conn.connection.dbapi_connection)
        if any(held is task and key != mine and not task.done() for key, held in self._holder.items()):
            raise NestedTransactionError(
                f"task {task.get_name()!r} began a second SQLite transaction while its first one holds "
                "the write lock: it would wait for itself until busy_timeout. Reuse the open session."
            )
        self._holder[mine] = task

    def end_transaction(self, conn: Connection) -> None:
        self._holder.pop(id(conn.connection.dbapi_connection), None)

    def end_connection(self, dbapi_connection: Any, *_args: Any) -> None:
        self._holder.pop(id(dbapi_connection), None)


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
    """Apply migrations up to `revision` (idempotent; run on every start)."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), revision))


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
