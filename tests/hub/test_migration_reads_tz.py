"""Migration 0013_reads_tz: the read markers' table, the agents' time zone and the index of client messages
the unread counts read; the migration goes down again."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import db


async def _plan(conn: AsyncConnection, sql: str) -> str:
    rows = await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
    return " | ".join(str(row[-1]) for row in rows)


async def test_upgrading_adds_read_markers_and_time_zones_and_the_migration_goes_down(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'okno.db'}")
    try:
        await db.migrate(engine, "0011_report_speed")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO agents (email, name, password_hash, role, status, is_active, created_at)"
                    " VALUES ('anna@okno.ru', 'Anna', 'x', 'agent', 'offline', 1, '2026-03-01 10:00:00')"
                )
            )
        await db.migrate(engine, "0013_reads_tz")  # this migration's own step (0014_inbox_speed follows it)
        assert await db.current_revision(engine) == "0013_reads_tz"
        async with engine.begin() as conn:
            # The agent who was there keeps working: no zone yet (the browser's comes on the first visit).
            assert (await conn.execute(text("SELECT timezone FROM agents"))).scalar_one() is None
            await conn.execute(text("UPDATE agents SET timezone = 'Asia/Vladivostok'"))
            columns = {row[1] for row in await conn.execute(text("PRAGMA table_info(conversation_reads)"))}
            assert columns == {"agent_id", "conversation_id", "last_read_message_id", "read_at"}
            unread = await _plan(
                conn,
                "SELECT m.conversation_id, count(*) FROM messages m LEFT JOIN conversation_reads r"
                " ON r.conversation_id = m.conversation_id AND r.agent_id = 1"
                " WHERE m.conversation_id IN (1, 2, 3) AND m.direction = 'in' AND m.kind = 'message'"
                " AND m.id > coalesce(r.last_read_message_id, 0) GROUP BY m.conversation_id",
            )
        assert "COVERING INDEX ix_messages_inbound" in unread, unread
        assert "SEARCH r USING" in unread, unread  # the marker by its primary key, no scan

        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(db._alembic_config(sync), "0011_report_speed"))
        async with engine.connect() as conn:
            names = {row[0] for row in await conn.execute(text("SELECT name FROM sqlite_master"))}
            agent_columns = {row[1] for row in await conn.execute(text("PRAGMA table_info(agents)"))}
        assert "conversation_reads" not in names and "ix_messages_inbound" not in names
        assert "timezone" not in agent_columns and "email" in agent_columns
        assert await db.current_revision(engine) == "0011_report_speed"
    finally:
        await engine.dispose()
