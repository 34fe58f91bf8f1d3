"""hub.sqlite_driver: the engine's SQLite cursors, one trip to aiosqlite's thread per statement, give
SQLAlchemy what the stock adapter gave (rows, RETURNING, lastrowid, rowcounts, streamed results, the
driver's errors) on a file of the test's own."""

from __future__ import annotations

from pathlib import Path

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
