"""Migration 0015_message_sent: every outbound message already stored gets its "message_sent" reporting
event (under its conversation's team, the best there is), notes and inbound messages none; the migration goes
down."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from hub import db


async def test_stored_outbound_messages_get_their_events_and_the_migration_goes_down(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'okno.db'}")
    try:
        await db.migrate(engine, "0014_inbox_speed")
        async with engine.begin() as conn:
            for statement in (
                "INSERT INTO teams (id, name, created_at) VALUES (3, 'Sales', '2026-01-01')",
                "INSERT INTO channel_accounts (id, name, kind, state, created_at)"
                " VALUES (1, 'shop', 'api', 'ok', '2026-01-01')",
                "INSERT INTO contacts (id, kind, tags, custom_fields, created_at, updated_at)"
                " VALUES (1, 'lead', '[]', '{}', '2026-01-01', '2026-01-01')",
                "INSERT INTO conversations (id, contact_id, account_id, channel_kind, team_id, status,"
                " priority, created_at, updated_at)"
                " VALUES (1, 1, 1, 'api', 3, 'open', 0, '2026-01-01', '2026-01-01')",
                "INSERT INTO messages (id, conversation_id, account_id, direction, kind, body_text, meta,"
                " created_at) VALUES (1, 1, 1, 'in', 'message', 'Счёт?', '{}', '2026-03-02 07:00:00'),"
                " (2, 1, 1, 'out', 'message', 'Готов', '{}', '2026-03-02 07:10:00'),"
                " (3, 1, 1, 'note', 'message', 'позвонить', '{}', '2026-03-02 07:11:00'),"
                " (4, 1, 1, 'out', 'auto_reply', 'Ответим', '{}', '2026-03-02 07:12:00')",
            ):
                await conn.execute(text(statement))
        await db.migrate(engine, "0015_message_sent")
        async with engine.connect() as conn:
            events = list(
                await conn.execute(
                    text(
                        "SELECT occurred_at, conversation_id, contact_id, team_id, channel_kind"
                        " FROM reporting_events WHERE name = 'message_sent' ORDER BY occurred_at"
                    )
                )
            )
        assert [tuple(e) for e in events] == [
            ("2026-03-02 07:10:00", 1, 1, 3, "api"),
            ("2026-03-02 07:12:00", 1, 1, 3, "api"),
        ]
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(db._alembic_config(sync), "0014_inbox_speed"))
        async with engine.connect() as conn:
            left = await conn.scalar(text("SELECT count(*) FROM reporting_events"))
        assert left == 0
        assert await db.current_revision(engine) == "0014_inbox_speed"
    finally:
        await engine.dispose()
