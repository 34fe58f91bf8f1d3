"""Migration 0016_report_rollups: the roll-ups' tables, every wait so far marked as not yet rolled up (the
first pass takes them all), the partial index a report reads those through; the migration goes down."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from hub import db

BEFORE = "0013_reads_tz"


async def test_upgrading_leaves_every_wait_for_the_first_pass_and_the_migration_goes_down(
    tmp_path: Path,
) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'okno.db'}")
    try:
        await db.migrate(engine, BEFORE)
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO channel_accounts (name, kind, state, created_at)"
                    " VALUES ('shop', 'api', 'idle', '2026-03-01 10:00:00')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO contacts (name, kind, tags, custom_fields, created_at, updated_at)"
                    " VALUES ('x', 'lead', '[]', '{}', '2026-03-01 10:00:00', '2026-03-01 10:00:00')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO conversations (contact_id, account_id, channel_kind, status, priority,"
                    " created_at, updated_at)"
                    " VALUES (1, 1, 'api', 'open', 0, '2026-03-01 10:00:00', '2026-03-01 10:00:00')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO report_waits (kind, conversation_id, channel_kind, started_at, outcome,"
                    " value_seconds) VALUES ('reply', 1, 'api', '2026-03-01 10:00:00', 'replied', 60)"
                )
            )
        await db.migrate(engine, "0016_report_rollups")
        async with engine.begin() as conn:
            assert (await conn.execute(text("SELECT rolled FROM report_waits"))).scalar_one() == 0
            plan = " | ".join(
                str(row[-1])
                for row in await conn.execute(
                    text(
                        "EXPLAIN QUERY PLAN SELECT count(*) FROM report_waits WHERE kind = 'reply'"
                        " AND NOT rolled AND started_at >= '2026-03-01' AND started_at < '2026-04-01'"
                    )
                )
            )
        assert "ix_report_waits_unrolled" in plan, plan
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(db._alembic_config(sync), BEFORE))
        async with engine.connect() as conn:
            names = {row[0] for row in await conn.execute(text("SELECT name FROM sqlite_master"))}
            columns = {row[1] for row in await conn.execute(text("PRAGMA table_info(report_waits)"))}
        assert not {"report_rollups", "report_rollup_state", "ix_report_waits_unrolled"} & names
        assert "rolled" not in columns and "value_seconds" in columns
        assert await db.current_revision(engine) == BEFORE
    finally:
        await engine.dispose()
