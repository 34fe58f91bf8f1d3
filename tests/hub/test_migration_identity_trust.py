"""Migration 0002_identity_trust on a database with data: existing identities stay vouched, and existing
web-chat conversations learn the visitor who started them, so visitors keep their history."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from hub import db


async def test_upgrading_keeps_identities_vouched_and_finds_each_web_chat_conversations_visitor(
    tmp_path: Path,
) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await db.migrate(engine, "0001")
        async with engine.begin() as conn:
            for statement in (
                "INSERT INTO channel_accounts (id, name, kind, state, created_at)"
                " VALUES (1, 'site', 'webchat', 'ok', '2026-01-01'), (2, 'shop', 'api', 'ok', '2026-01-01')",
                "INSERT INTO contacts (id, kind, tags, custom_fields, created_at, updated_at)"
                " VALUES (1, 'lead', '[]', '{}', '2026-01-01', '2026-01-01')",
                "INSERT INTO identities (id, contact_id, kind, value, created_at)"
                " VALUES (1, 1, 'email', 'irina@example.com', '2026-01-01')",
                "INSERT INTO conversations (id, contact_id, account_id, channel_kind, status, priority,"
                " created_at, updated_at) VALUES (1, 1, 1, 'webchat', 'open', 0, '2026-01-01', '2026-01-01'),"
                " (2, 1, 2, 'api', 'open', 0, '2026-01-01', '2026-01-01')",
                "INSERT INTO messages (id, conversation_id, account_id, direction, kind, contact_id,"
                " external_id, body_text, meta, created_at) VALUES"
                " (1, 1, 1, 'in', 'message', 1, 'VisitorVisitorVisitor1:c1', 'hi', '{}', '2026-01-01'),"
                " (2, 2, 2, 'in', 'message', 1, 'e1', 'hi', '{}', '2026-01-01')",
            ):
                await conn.execute(text(statement))
        await db.migrate(engine)
        async with engine.connect() as conn:
            trust = (await conn.execute(text("SELECT trust FROM identities"))).scalars().all()
            visitors = dict((await conn.execute(text("SELECT id, visitor_id FROM conversations"))).all())
        assert trust == ["vouched"]
        assert visitors == {1: "VisitorVisitorVisitor1", 2: None}
    finally:
        await engine.dispose()
