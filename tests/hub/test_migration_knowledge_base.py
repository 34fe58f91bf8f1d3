"""Migration 0006_knowledge_base on a database with templates: each gets a stable key and stays shared;
the search index finds them although no change has yet written a generation; and it downgrades."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from hub import db
from inbox.knowledge.index_cache import IndexCache
from inbox.knowledge.search import keys_of


async def test_upgrading_gives_existing_templates_keys_and_they_are_searchable(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await db.migrate(engine, "0004_webchat_signing_key")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO templates (id, title, body, language, tags, channels, usage_count,"
                    " created_at) VALUES"
                    " (7, 'Доставка', 'Привезём за 2 дня', 'ru', '[]', '[]', 3, '2026-01-01')"
                )
            )
        await db.migrate(engine, "0006_knowledge_base")
        async with engine.connect() as conn:
            row = (
                await conn.execute(text("SELECT key, owner_id, usage_count, updated_at FROM templates"))
            ).one()
        assert (row.key, row.owner_id, row.usage_count) == ("template-7", None, 3)
        assert row.updated_at is not None
        index = await IndexCache(db.sessionmaker(engine)).index()
        assert keys_of(index.search("доставкой")) == ["template-7"]
    finally:
        await engine.dispose()


async def test_the_migration_downgrades(tmp_path: Path) -> None:
    from alembic import command

    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'down.db'}")
    try:
        await db.migrate(engine, "0006_knowledge_base")
        async with engine.begin() as conn:
            await conn.run_sync(
                lambda sync: command.downgrade(db._alembic_config(sync), "0004_webchat_signing_key")
            )
        async with engine.connect() as conn:
            columns = [r[1] for r in (await conn.execute(text("PRAGMA table_info(templates)"))).all()]
        assert "key" not in columns and "owner_id" not in columns
    finally:
        await engine.dispose()
