"""Migration 0016_report_rollups: the reporting events already stored are counted per UTC hour and per UTC
day (events of other kinds not), later events are counted by the triggers, and the migration goes down."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from hub import db


async def test_stored_events_are_counted_by_hour_and_day_and_the_migration_goes_down(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'okno.db'}")
    try:
        await db.migrate(engine, "0015_message_sent")
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO teams (id, name, created_at) VALUES (3, 'Sales', '2026-01-01')")
            )
            await conn.execute(
                text(
                    "INSERT INTO reporting_events (name, occurred_at, team_id, channel_kind) VALUES"
                    " ('message_received', '2026-03-02 07:10:00.000000', 3, 'api'),"
                    " ('message_received', '2026-03-02 07:59:59', 3, 'api'),"
                    " ('message_received', '2026-03-02 08:00:00.000000', NULL, 'api'),"
                    " ('first_response', '2026-03-02 07:20:00.000000', 3, 'api')"
                )
            )
        await db.migrate(engine, "0016_report_rollups")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO reporting_events (name, occurred_at, team_id, channel_kind, agent_id)"
                    " VALUES ('message_sent', '2026-03-02 23:00:00.000000', 3, 'api', NULL)"
                )
            )
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT width, name, bucket, team_id, channel_kind, agent_id, n FROM report_counts"
                    " ORDER BY width, name, bucket, team_id"
                )
            )
            counts = [tuple(r) for r in rows]
        assert counts == [
            ("d", "message_received", "2026-03-02 00:00:00.000000", 0, "api", 0, 1),
            ("d", "message_received", "2026-03-02 00:00:00.000000", 3, "api", 0, 2),
            ("d", "message_sent", "2026-03-02 00:00:00.000000", 3, "api", 0, 1),
            ("h", "message_received", "2026-03-02 07:00:00.000000", 3, "api", 0, 2),
            ("h", "message_received", "2026-03-02 08:00:00.000000", 0, "api", 0, 1),
            ("h", "message_sent", "2026-03-02 23:00:00.000000", 3, "api", 0, 1),
        ]
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(db._alembic_config(sync), "0015_message_sent"))
        async with engine.connect() as conn:
            tables = await conn.scalar(
                text("SELECT count(*) FROM sqlite_master WHERE name LIKE 'report_counts%'")
            )
        assert tables == 0
        assert await db.current_revision(engine) == "0015_message_sent"
    finally:
        await engine.dispose()
