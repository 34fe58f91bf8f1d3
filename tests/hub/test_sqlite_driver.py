"""hub.sqlite_driver: the engine's SQLite cursors, one trip to aiosqlite's thread per statement, give
SQLAlchemy what the stock adapter gave (rows, RETURNING, lastrowid, rowcounts, streamed results, the
driver's errors) on a file of the test's own; the engine's write transactions take turns."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub import db
from hub.sqlite_driver import OneTripDBAPI
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


async def _writer(engine: AsyncEngine, name: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO turns (name) VALUES (:n)"), {"n": name})


async def test_writers_of_one_engine_take_turns_in_the_order_they_began(tmp_path: Path) -> None:
    # SQLite's own wait (busy_timeout) lets waiters sleep up to 100 ms at a time and take the lock in any
    # order; the engine's writers queue instead, and each goes the moment the one before it ends.
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}")
    turns = cast(OneTripDBAPI, engine.dialect.dbapi).turns
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE turns (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"))
        writers = []
        async with engine.begin() as first:
            await first.execute(text("INSERT INTO turns (name) VALUES ('first')"))
            for n, name in enumerate(["b", "c", "d"], start=1):
                writers.append(asyncio.create_task(_writer(engine, name)))
                await eventually(lambda n=n: turns.waiting == n, f"{n} writers waiting for their turn")
        await resolved(asyncio.gather(*writers), "the waiting writers committed")
        async with engine.connect() as conn:
            names = (await conn.execute(text("SELECT name FROM turns ORDER BY id"))).scalars().all()
        assert names == ["first", "b", "c", "d"]
    finally:
        await engine.dispose()


async def test_a_turn_not_given_within_the_busy_timeout_fails_as_a_locked_database(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'locked.db'}", busy_timeout=0.2)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE turns (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"))
        async with engine.begin() as first:
            await first.execute(text("INSERT INTO turns (name) VALUES ('first')"))
            late = asyncio.create_task(_writer(engine, "late"))  # another task, as in the hub
            with pytest.raises(OperationalError, match="database is locked"):
                await resolved(late, "the late writer gave up")
        await _writer(engine, "next")  # the turn went on with the first transaction's commit
    finally:
        await engine.dispose()


async def test_a_connection_closed_inside_its_transaction_hands_its_turn_on(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'closed.db'}", busy_timeout=5)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE turns (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"))
        conn = await engine.connect()
        await conn.begin()
        await conn.execute(text("INSERT INTO turns (name) VALUES ('lost')"))
        await conn.invalidate()  # the connection is closed under its transaction
        await _writer(engine, "next")
        async with engine.connect() as check:
            names = (await check.execute(text("SELECT name FROM turns"))).scalars().all()
        assert names == ["next"]
        await conn.close()
    finally:
        await engine.dispose()
