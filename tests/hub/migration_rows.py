"""Rows the migration tests write before they upgrade: a channel account and a card most of them need, and
one call that runs a test's own INSERTs in order (raw SQL: an old revision's tables, not today's models)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

ACCOUNT = (
    "INSERT INTO channel_accounts (id, name, kind, state, created_at)"
    " VALUES (1, 'shop', 'api', 'ok', '2026-01-01')"
)
CARD = (
    "INSERT INTO contacts (id, name, kind, tags, custom_fields, created_at, updated_at)"
    " VALUES (1, 'x', 'lead', '[]', '{}', '2026-01-01', '2026-01-01')"
)


async def insert_rows(conn: AsyncConnection, *statements: str) -> None:
    """Each statement in turn, in the caller's transaction."""
    for statement in statements:
        await conn.execute(text(statement))


async def rows(conn: AsyncConnection, query: str) -> list[tuple[object, ...]]:
    """The rows of `query` as plain tuples."""
    return [tuple(row) for row in await conn.execute(text(query))]
