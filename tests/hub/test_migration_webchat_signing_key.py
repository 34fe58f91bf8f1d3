"""Migration 0004_webchat_signing_key on a database with data: a web-chat key kept in the account's cursor
moves to its own column (so visitor tokens signed before stay valid), anything else stays where it was, and
a downgrade puts the key back. On SQLite and on PostgreSQL (in a schema of its own on the test database)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hub import db

# It reads OKNO_TEST_DATABASE_URL itself: a PostgreSQL run keeps it (tests/conftest.py).
pytestmark = pytest.mark.database_backend

KEY = "k" * 43


def downgrade(connection: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS))
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


@pytest.fixture
async def old_database(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An empty database to migrate step by step: a SQLite file, or a fresh PostgreSQL schema."""
    url = os.environ.get("OKNO_TEST_DATABASE_URL")
    if not url or db.is_sqlite(url):
        engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
        yield engine
        await engine.dispose()
        return
    schema = f"mig_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_async_engine(url, connect_args={"server_settings": {"search_path": schema}})
    try:
        yield engine
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


async def test_upgrading_moves_the_web_chat_key_out_of_the_cursor_and_downgrading_puts_it_back(
    old_database: AsyncEngine,
) -> None:
    engine = old_database
    await db.migrate(engine, "0003_scheduler_presence")
    cursors = {
        1: ("site", "webchat", json.dumps({"visitor_key": KEY})),
        2: ("fresh", "webchat", None),
        3: ("odd", "webchat", json.dumps({"visitor_key": "short"})),  # never a key: left alone
        4: ("mail", "email", json.dumps({"uidvalidity": 7, "uid": 42})),
    }
    async with engine.begin() as conn:
        for account_id, (name, kind, cursor) in cursors.items():
            await conn.execute(
                text(
                    "INSERT INTO channel_accounts (id, name, kind, cursor, state, created_at)"
                    " VALUES (:id, :name, :kind, :cursor, 'ok', '2026-01-01')"
                ),
                {"id": account_id, "name": name, "kind": kind, "cursor": cursor},
            )
    await db.migrate(engine, "0004_webchat_signing_key")
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, signing_key, cursor FROM channel_accounts"))).all()
    after = {account_id: (key, cursor) for account_id, key, cursor in rows}
    assert after == {
        1: (KEY, None),
        2: (None, None),
        3: (None, cursors[3][2]),
        4: (None, cursors[4][2]),
    }

    async with engine.begin() as conn:
        await conn.run_sync(
            lambda sync: db.command.downgrade(db._alembic_config(sync), "0003_scheduler_presence")
        )
        rows = (await conn.execute(text("SELECT id, cursor FROM channel_accounts"))).all()
    assert dict(rows)[1] == json.dumps({"visitor_key": KEY})
