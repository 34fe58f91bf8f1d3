"""Migration 0011_report_speed: the reports' queries read indexes only — a month's waits from the covering
index in time order, a percentile's rank from the index in value order, outbound messages from their partial
index — and the migration goes down again."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import db

PERIOD = "started_at >= '2026-03-01' AND started_at < '2026-04-01'"


async def _plan(conn: AsyncConnection, sql: str) -> str:
    rows = await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
    return " | ".join(str(row[-1]) for row in rows)


async def test_report_queries_read_covering_indexes_and_the_migration_goes_down(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'okno.db'}")
    try:
        await db.migrate(engine)
        async with engine.connect() as conn:
            month = await _plan(
                conn,
                "SELECT count(value_seconds), avg(value_seconds), sum(CASE WHEN value_seconds <= 60 THEN 1"
                " ELSE 0 END) FROM report_waits WHERE kind = 'reply' AND outcome IS NOT NULL AND " + PERIOD,
            )
            rank = await _plan(
                conn,
                "SELECT value_seconds FROM report_waits WHERE kind = 'reply' AND value_seconds IS NOT NULL"
                f" AND {PERIOD} ORDER BY value_seconds LIMIT 2 OFFSET 10",
            )
            sent = await _plan(
                conn,
                "SELECT count(*) FROM messages WHERE direction = 'out'"
                " AND created_at >= '2026-03-01' AND created_at < '2026-04-01'",
            )
        assert "COVERING INDEX ix_report_waits_kind_started" in month
        assert "COVERING INDEX ix_report_waits_kind_value" in rank and "TEMP B-TREE" not in rank
        assert "COVERING INDEX ix_messages_outbound_created" in sent

        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(db._alembic_config(sync), "0012_search"))
        async with engine.connect() as conn:
            names = {row[0] for row in await conn.execute(text("SELECT name FROM sqlite_master"))}
        assert "ix_report_waits_kind_started" in names and "ix_report_waits_kind_value" not in names
        assert "ix_messages_outbound_created" not in names
        assert await db.current_revision(engine) == "0012_search"
    finally:
        await engine.dispose()
