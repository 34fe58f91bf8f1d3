"""The SQLite engine: one connection, kept open, serves every transaction in turn."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from hub import db


async def test_a_burst_of_sqlite_transactions_shares_one_connection_opened_once(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'one.db'}")
    opened: list[Any] = []
    event.listen(engine.sync_engine, "connect", lambda conn, _record: opened.append(conn))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        sessions = db.sessionmaker(engine)

        async def write(n: int) -> None:
            async with sessions() as session:
                await session.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": n})
                await session.commit()

        for _ in range(3):  # bursts, each more than the old 5 + 10 connections at once
            await asyncio.gather(*(write(n) for n in range(40)))
        async with sessions() as session:
            assert await session.scalar(text("SELECT count(*) FROM t")) == 120
    finally:
        await engine.dispose()
    assert len(opened) == 1
