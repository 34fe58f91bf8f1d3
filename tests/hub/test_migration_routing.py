"""Migration 0005_routing on a database with data: existing agents keep their capacity and start
"offline" (nobody gets dialogs before they say they are online), existing waiting dialogs are left for
the rules and the router to look at, and the migration goes down again."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from hub import db


async def test_upgrading_keeps_capacities_starts_everyone_offline_and_downgrades(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await db.migrate(engine, "0006_knowledge_base")
        async with engine.begin() as conn:
            for statement in (
                "INSERT INTO agents (id, email, name, password_hash, role, capacity, is_active, created_at)"
                " VALUES (1, 'a@example.com', 'A', '-', 'agent', 7, 1, '2026-01-01')",
                "INSERT INTO channel_accounts (id, name, kind, state, created_at)"
                " VALUES (1, 'shop', 'api', 'ok', '2026-01-01')",
                "INSERT INTO contacts (id, kind, tags, custom_fields, created_at, updated_at)"
                " VALUES (1, 'lead', '[]', '{}', '2026-01-01', '2026-01-01')",
                "INSERT INTO conversations (id, contact_id, account_id, channel_kind, status, priority,"
                " created_at, updated_at) VALUES (1, 1, 1, 'api', 'open', 0, '2026-01-01', '2026-01-01')",
            ):
                await conn.execute(text(statement))
        await db.migrate(engine)
        async with engine.connect() as conn:
            agent = (await conn.execute(text("SELECT status, capacity FROM agents"))).one()
            conv = (await conn.execute(text("SELECT rules_applied_at, queued_at FROM conversations"))).one()
        assert tuple(agent) == ("offline", 7)
        assert tuple(conv) == (None, None)

        async with engine.begin() as conn:
            await conn.execute(text("UPDATE agents SET capacity = NULL"))
            await conn.run_sync(
                lambda sync: command.downgrade(db._alembic_config(sync), "0006_knowledge_base")
            )
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT capacity FROM agents"))).scalar_one() == 10
        assert await db.current_revision(engine) == "0006_knowledge_base"
    finally:
        await engine.dispose()
