"""Migration 0018_wait_rollups: the waits already stored are summed per kind, UTC hour and value bucket (open
and dropped waits not), later waits by the triggers, and the migration goes down."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from hub import db
from tests.hub.migration_rows import ACCOUNT, CARD, insert_rows, rows


async def test_stored_waits_are_summed_by_hour_and_bucket_and_the_migration_goes_down(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'okno.db'}")
    try:
        await db.migrate(engine, "0017_inbox_indexes")
        async with engine.begin() as conn:
            await insert_rows(
                conn,
                ACCOUNT,
                CARD,
                "INSERT INTO conversations (id, contact_id, account_id, channel_kind, status, priority,"
                " created_at, updated_at) VALUES (1, 1, 1, 'api', 'open', 0, '2026-01-01', '2026-01-01')",
                "INSERT INTO report_waits (kind, conversation_id, channel_kind, started_at, outcome,"
                " value_seconds) VALUES"
                " ('reply', 1, 'api', '2026-03-02 07:10:00.000000', 'replied', 3600.0),"
                " ('reply', 1, 'api', '2026-03-02 07:59:59.000000', 'replied', 3700.0),"
                " ('reply', 1, 'api', '2026-03-02 08:00:00.000000', 'replied', 5.5),"
                " ('reply', 1, 'api', '2026-03-02 08:30:00.000000', NULL, NULL),"
                " ('reply', 1, 'api', '2026-03-02 08:40:00.000000', 'dropped', NULL)",
            )
        await db.migrate(engine, "0018_wait_rollups")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE report_waits SET outcome = 'replied', value_seconds = 6.0"
                    " WHERE started_at = '2026-03-02 08:30:00.000000'"
                )
            )
        async with engine.connect() as conn:
            sums = await rows(
                conn,
                "SELECT kind, start, bucket, n, total FROM report_wait_sums"
                " WHERE n <> 0 AND width = 'h' ORDER BY 2, 3",
            )
            by_day = await rows(
                conn, "SELECT width, start, bucket, n FROM report_wait_sums WHERE width <> 'h' ORDER BY 1, 3"
            )
        assert by_day == [
            (width, "2026-03-02 00:00:00.000000", bucket, n)
            for width in ("a", "c", "t")
            for bucket, n in ((5, 1), (6, 1), (78, 2))
        ]
        assert sums == [
            ("reply", "2026-03-02 07:00:00.000000", 78, 2, 7300.0),  # 3584 ≤ both < 3840
            ("reply", "2026-03-02 08:00:00.000000", 5, 1, 5.5),
            ("reply", "2026-03-02 08:00:00.000000", 6, 1, 6.0),
        ]
        async with engine.begin() as conn:
            await conn.run_sync(
                lambda sync: command.downgrade(db._alembic_config(sync), "0017_inbox_indexes")
            )
        async with engine.connect() as conn:
            left = await conn.scalar(
                text("SELECT count(*) FROM sqlite_master WHERE name LIKE 'report_wait_sums%'")
            )
        assert left == 0
        assert await db.current_revision(engine) == "0017_inbox_indexes"
    finally:
        await engine.dispose()
