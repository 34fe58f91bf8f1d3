"""hub.sqlite_driver: the engine's SQLite cursors, one trip to aiosqlite's thread per statement, give
SQLAlchemy what the stock adapter gave (rows, RETURNING, lastrowid, rowcounts, streamed results, the
driver's errors) on a file of the test's own."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from hub import db
from hub.sqlite_driver import OneTripDBAPI


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


async def test_a_write_transaction_takes_one_trip_per_statement_and_one_for_its_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BEGIN rides with the first statement, the full-text flush with the COMMIT, and the pool's rollback
    of the committed connection costs nothing."""
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'trips.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"))
        trips: list[object] = []
        handoff = aiosqlite.Connection._execute

        async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
            trips.append(fn)
            return await handoff(self, fn, *args, **kwargs)

        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
            await conn.execute(text("INSERT INTO t (v) VALUES ('b')"))
        assert len(trips) == 3
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 2
    finally:
        await engine.dispose()


async def test_a_transaction_opened_by_a_streamed_read_holds_the_write_lock(tmp_path: Path) -> None:
    """A server-side cursor is SQLAlchemy's, not this driver's: the deferred BEGIN IMMEDIATE runs first."""
    path = tmp_path / "stream.db"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        async with engine.begin() as conn:
            streamed = await conn.stream(text("SELECT id FROM t"))
            assert [row async for row in streamed] == []
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("INSERT INTO t (id) VALUES (1)")
        other.execute("INSERT INTO t (id) VALUES (1)")  # the lock went with the commit
    finally:
        other.close()
        await engine.dispose()


async def test_a_failed_statement_first_in_a_transaction_leaves_it_to_roll_back(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'failed.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        with pytest.raises(OperationalError, match="no such table"):
            async with engine.begin() as conn:
                await conn.execute(text("SELECT * FROM missing"))
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (id) VALUES (1)"))
                await conn.execute(text("INSERT INTO t (id) VALUES (1)"))
        async with engine.connect() as conn:  # the first insert was rolled back with its transaction
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0
    finally:
        await engine.dispose()
