"""Migration 0012_search on a SQLite database with data: existing messages, subjects and cards are indexed,
later writes reach the index through the triggers, and the migration goes down again."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from hub import db

BEFORE = "0009_routing_rules_extras"  # the revision 0012_search follows


async def test_upgrading_indexes_existing_rows_and_triggers_follow_writes(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await db.migrate(engine, BEFORE)
        async with engine.begin() as conn:
            for statement in (
                "INSERT INTO channel_accounts (id, name, kind, state, created_at)"
                " VALUES (1, 'shop', 'api', 'ok', '2026-01-01')",
                "INSERT INTO contacts (id, name, company, kind, tags, custom_fields, created_at, updated_at)"
                " VALUES (1, 'Мария', 'Ромашка', 'lead', '[]', '{}', '2026-01-01', '2026-01-01')",
                "INSERT INTO conversations (id, contact_id, account_id, channel_kind, subject, status,"
                " priority, created_at, updated_at)"
                " VALUES (1, 1, 1, 'api', 'Счёт 4411', 'open', 0, '2026-01-01', '2026-01-01')",
                "INSERT INTO messages (id, conversation_id, account_id, direction, kind, body_text, meta,"
                " created_at) VALUES (7, 1, 1, 'in', 'message', 'заказ A-10234', '{}', '2026-01-01')",
            ):
                await conn.execute(text(statement))
        await db.migrate(engine)

        async def found(table: str, match: str) -> list[int]:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text(f"SELECT rowid FROM {table} WHERE {table} MATCH :m"), {"m": match}
                )
                return [r[0] for r in rows]

        assert await found("search_messages", '"10234"*') == [7]
        assert await found("search_conversations", '"4411"') == [1]
        assert await found("search_contacts", '"ромашка"') == [1]
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE messages SET body_text = 'новый текст' WHERE id = 7"))
        assert await found("search_messages", '"10234"*') == []
        assert await found("search_messages", '"новый"') == [7]
        # Within one transaction: a row added then changed is indexed as it ends; one added then removed
        # leaves nothing; an indexed row changed twice keeps only its last text.
        async with engine.begin() as conn:
            for statement in (
                "INSERT INTO messages (id, conversation_id, account_id, direction, kind, body_text, meta,"
                " created_at) VALUES (8, 1, 1, 'in', 'message', 'черновик', '{}', '2026-01-01')",
                "UPDATE messages SET body_text = 'чистовик' WHERE id = 8",
                "INSERT INTO messages (id, conversation_id, account_id, direction, kind, body_text, meta,"
                " created_at) VALUES (9, 1, 1, 'in', 'message', 'мимолётный', '{}', '2026-01-01')",
                "DELETE FROM messages WHERE id = 9",
                "UPDATE messages SET body_text = 'второй' WHERE id = 7",
                "UPDATE messages SET body_text = 'третий' WHERE id = 7",
            ):
                await conn.execute(text(statement))
        assert await found("search_messages", '"черновик"') == []
        assert await found("search_messages", '"чистовик"') == [8]
        assert await found("search_messages", '"мимолётный"') == []
        assert await found("search_messages", '"новый" OR "второй"') == []
        assert await found("search_messages", '"третий"') == [7]
        async with engine.connect() as conn:  # raises if the index and the table disagree
            await conn.execute(
                text("INSERT INTO search_messages(search_messages) VALUES ('integrity-check')")
            )

        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(db._alembic_config(sync), BEFORE))
        async with engine.connect() as conn:
            left = await conn.execute(text("SELECT name FROM sqlite_master WHERE name LIKE 'search_%'"))
            assert list(left) == []
        assert await db.current_revision(engine) == BEFORE
    finally:
        await engine.dispose()


async def test_the_migrated_schema_keeps_every_search_trigger(tmp_path: Path) -> None:
    """A later migration that rebuilds messages, conversations or contacts in batch mode (SQLite copies
    the table) drops its triggers with it, and the index would silently stop following: it must create
    them again (0012_search's `_triggers`)."""
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    try:
        await db.migrate(engine)
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'"))
            triggers = {(name, table) for name, table in rows if name.startswith("search_")}
        assert triggers == {
            (f"{fts}_{suffix}", table)
            for fts, table in (
                ("search_messages", "messages"),
                ("search_conversations", "conversations"),
                ("search_contacts", "contacts"),
            )
            for suffix in ("ai", "ad", "au")
        }
    finally:
        await engine.dispose()
