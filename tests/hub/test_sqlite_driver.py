"""hub.sqlite_driver: the engine's SQLite cursors, one trip to aiosqlite's thread per statement, give
SQLAlchemy what the stock adapter gave (rows, RETURNING, lastrowid, rowcounts, streamed results, the
driver's errors) on a file of the test's own."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from hub import db
from hub.sqlite_driver import OneTripDBAPI
from inbox.unavailable import unavailable_reason
from tests.waiting import eventually, resolved


async def test_statements_through_one_trip_cursors_answer_as_the_stock_adapter(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    try:
        assert isinstance(engine.dialect.dbapi, OneTripDBAPI)
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)"))
            inserted = await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
            assert inserted.lastrowid == 1 and inserted.rowcount == 1
            many = await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}])
            assert many.rowcount == 2
            returned = await conn.execute(text("INSERT INTO t (v) VALUES ('d'), ('e') RETURNING id, v"))
            assert returned.all() == [(4, "d"), (5, "e")]
            updated = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id > 3"))
            assert updated.rowcount == 2
            rows = await conn.execute(text("SELECT id, v FROM t ORDER BY id"))
            assert list(rows.keys()) == ["id", "v"]
            assert rows.all() == [(1, "a"), (2, "b"), (3, "c"), (4, "d!"), (5, "e!")]
            streamed = await conn.stream(text("SELECT v FROM t WHERE id <= :n ORDER BY id"), {"n": 2})
            assert [row.v async for row in streamed] == ["a", "b"]
            with pytest.raises(IntegrityError):
                await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
            with pytest.raises(OperationalError, match="no such table"):
                await conn.execute(text("SELECT * FROM missing"))
            # The transaction goes on after the errors (SQLite undoes only the failed statement).
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 5
    finally:
        await engine.dispose()


async def _write(sessionmaker: Any, value: str) -> None:
    async with sessionmaker() as session:
        await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})
        await session.commit()


async def test_a_writer_waiting_for_the_lock_begins_when_the_engine_s_writer_before_it_commits(
    tmp_path: Path,
) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}")
    waits = engine.dialect.dbapi.waits  # type: ignore[union-attr]
    waits.polls = (3600.0,)  # no looking again: only the first writer's end can start the second
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"))
        sessionmaker = db.sessionmaker(engine)
        async with sessionmaker() as first:
            await first.execute(text("INSERT INTO t (v) VALUES ('first')"))  # holds the write lock
            second = asyncio.create_task(_write(sessionmaker, "second"))
            await eventually(lambda: waits.waiting == 1 and waits.tries >= 1, "the second writer waiting")
            await first.commit()
        await resolved(second, "the second writer, woken by the first one's commit")
        async with sessionmaker() as session:
            rows = await session.execute(text("SELECT v FROM t ORDER BY id"))
            assert rows.scalars().all() == ["first", "second"]
        assert waits.tries == 1  # one try found the lock taken; the next, after the wake, took it
    finally:
        await engine.dispose()


async def test_a_writer_waiting_for_another_process_s_lock_begins_after_it_commits(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    waits = engine.dialect.dbapi.waits  # type: ignore[union-attr]
    other = sqlite3.connect(path, isolation_level=None)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"))
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t (v) VALUES ('other')")
        writer = asyncio.create_task(_write(db.sessionmaker(engine), "hub"))
        await eventually(lambda: waits.tries >= 2, "the hub's writer looking again for the lock")
        assert not writer.done()
        other.execute("COMMIT")
        await resolved(writer, "the hub's writer, after the other connection's commit")
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT v FROM t ORDER BY id"))
            assert rows.scalars().all() == ["other", "hub"]
    finally:
        other.close()
        await engine.dispose()


async def test_a_writer_that_waits_past_the_busy_timeout_fails_as_database_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}", busy_timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"))
        other.execute("BEGIN IMMEDIATE")  # held for the whole test
        with pytest.raises(OperationalError, match="database is locked") as failed:
            await _write(db.sessionmaker(engine), "late")
        assert unavailable_reason(failed.value) is not None  # the web layer's 503, the widget's retry
        other.execute("ROLLBACK")
        await _write(db.sessionmaker(engine), "in time")  # the connection is usable again
    finally:
        other.close()
        await engine.dispose()
