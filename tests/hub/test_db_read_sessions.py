"""hub.db.read_sessionmaker: sessions for code paths that only read. On SQLite they begin deferred (no wait
for the write lock a writer holds) and refuse to write; on PostgreSQL they run read-only transactions. The
pooled connection a reader used serves a writer afterwards as before."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub import db
from inbox.models import ChannelAccount


async def test_a_read_session_that_tries_to_write_fails_loudly(engine: AsyncEngine) -> None:
    reader = db.read_sessionmaker(engine)
    async with reader() as session:
        session.add(ChannelAccount(name="shop", kind="api"))
        with pytest.raises(DBAPIError, match=r"(?i)read-?only"):
            await session.flush()
    async with db.sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(ChannelAccount)) == 0


async def test_a_writer_after_a_reader_on_the_same_pooled_connection_still_writes(
    engine: AsyncEngine,
) -> None:
    reader, writer = db.read_sessionmaker(engine), db.sessionmaker(engine)
    for name in ("a", "b"):
        async with reader() as session:
            assert await session.scalar(select(func.count()).select_from(ChannelAccount)) == ord(name) - 97
        async with writer() as session:
            session.add(ChannelAccount(name=name, kind="api"))
            await session.commit()
    async with reader() as session:
        names = await session.scalars(select(ChannelAccount.name).order_by(ChannelAccount.name))
        assert list(names) == ["a", "b"]


async def test_a_read_session_reads_the_last_commit_while_a_writer_holds_the_sqlite_write_lock(
    tmp_path: Path,
) -> None:
    # busy_timeout 0: a session that waited for the write lock would fail at once with "database is locked"
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'read.db'}", busy_timeout=0)
    try:
        await db.migrate(engine)
        writer, reader = db.sessionmaker(engine), db.read_sessionmaker(engine)
        async with writer() as session:
            session.add(ChannelAccount(name="committed", kind="api"))
            await session.commit()
        async with writer() as holding:
            holding.add(ChannelAccount(name="uncommitted", kind="api"))
            await holding.flush()  # BEGIN IMMEDIATE: the write lock is held from here to the commit
            async with reader() as session:
                names = await session.scalars(select(ChannelAccount.name))
                assert list(names) == ["committed"]
            # (a writer does wait for that lock, and with no timeout, fails at once)
            other = sqlite3.connect(tmp_path / "read.db", timeout=0, isolation_level=None)
            try:
                with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                    other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()
            await holding.commit()
        async with reader() as session:
            names = await session.scalars(select(ChannelAccount.name).order_by(ChannelAccount.id))
            assert list(names) == ["committed", "uncommitted"]
    finally:
        await engine.dispose()
