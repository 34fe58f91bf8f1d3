"""Migration 0019_conversation_counts: the conversations already stored are counted per status, channel kind,
team and assignee (a missing team or assignee as 0), later writes by the triggers (an emptied group
goes), and the migration goes down."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from hub import db
from tests.hub.migration_rows import ACCOUNT, CARD, insert_rows, rows


async def test_stored_conversations_are_counted_by_group_and_the_migration_goes_down(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'okno.db'}")
    try:
        await db.migrate(engine, "0018_wait_rollups")
        async with engine.begin() as conn:
            await insert_rows(
                conn,
                ACCOUNT,
                CARD,
                "INSERT INTO teams (id, name, strategy, created_at)"
                " VALUES (3, 'T', 'round_robin', '2026-01-01')",
                "INSERT INTO conversations (id, contact_id, account_id, channel_kind, status, priority,"
                " team_id, created_at, updated_at) VALUES"
                " (1, 1, 1, 'api', 'open', 0, NULL, '2026-01-01', '2026-01-01'),"
                " (2, 1, 1, 'api', 'open', 0, NULL, '2026-01-01', '2026-01-01'),"
                " (3, 1, 1, 'api', 'open', 0, 3, '2026-01-01', '2026-01-01'),"
                " (4, 1, 1, 'api', 'resolved', 0, 3, '2026-01-01', '2026-01-01')",
            )
        await db.migrate(engine, "0019_conversation_counts")
        async with engine.connect() as conn:
            filled = await rows(conn, "SELECT * FROM conversation_counts ORDER BY 1, 3")
        assert filled == [("open", "api", 0, 0, 2), ("open", "api", 3, 0, 1), ("resolved", "api", 3, 0, 1)]
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE conversations SET status = 'resolved' WHERE id = 3"))
            await conn.execute(text("DELETE FROM conversations WHERE id = 1"))
        async with engine.connect() as conn:
            kept = await rows(conn, "SELECT * FROM conversation_counts ORDER BY 1, 3")
        assert kept == [("open", "api", 0, 0, 1), ("resolved", "api", 3, 0, 2)]  # an emptied group goes
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(db._alembic_config(sync), "0018_wait_rollups"))
        async with engine.connect() as conn:
            left = await conn.scalar(
                text("SELECT count(*) FROM sqlite_master WHERE name LIKE 'conversation_counts%'")
            )
        assert left == 0
        assert await db.current_revision(engine) == "0018_wait_rollups"
    finally:
        await engine.dispose()
