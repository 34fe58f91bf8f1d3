"""Keeping SQLite's full-text tables (migration 0012_search) in step with the rows they index.

FTS5 flushes its pending terms into a new segment at every statement savepoint, and a trigger's statement
runs under one: an FTS5 insert per row from a trigger cost about three times the tokenizing itself (one
segment per row, then merges). So the AFTER INSERT triggers only note the new row's id in
`search_pending` (a plain insert), and :func:`index_pending` indexes every noted row with one INSERT …
SELECT per table just before the transaction commits (hub/db.py calls it from SQLAlchemy's commit event):
the index still changes in the writer's own transaction, whatever the write path.

Updates and deletes of an indexed row remove its old terms at once, in the trigger (they are rare: edits,
a new subject, a renamed card), and an updated row is noted again to be indexed with its new values; a row
still pending is only noted (its terms were never added, so there is nothing to remove).

PostgreSQL needs none of this: its GIN indexes are maintained by the database.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.engine import Connection

# (code in search_pending, FTS table, content table, indexed columns)
TABLES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("m", "search_messages", "messages", ("subject", "body_text")),
    ("v", "search_conversations", "conversations", ("subject",)),
    ("c", "search_contacts", "contacts", ("name", "company")),
)

_FLUSH = (
    *(
        f"INSERT INTO {fts}(rowid, {', '.join(cols)}) "
        f"SELECT t.id, {', '.join('t.' + c for c in cols)} FROM search_pending p "
        f"JOIN {table} t ON t.id = p.id WHERE p.tbl = '{code}'"
        for code, fts, table, cols in TABLES
    ),
    "DELETE FROM search_pending",
)


_EXISTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_pending'"
_ANY = "SELECT 1 FROM search_pending LIMIT 1"


def index_pending_raw(raw: sqlite3.Connection) -> None:
    """:func:`index_pending` on the sqlite3 connection itself, for a caller already on its thread: the
    same statements in one hand-off instead of one per statement (up to six a commit)."""
    if raw.execute(_EXISTS).fetchone() is None or raw.execute(_ANY).fetchone() is None:
        return
    for statement in _FLUSH:
        raw.execute(statement).close()


def index_pending(conn: Connection) -> None:
    """Index the rows noted in `search_pending`, in the current transaction (SQLite only; a no-op on a
    database migrated to before 0012_search)."""
    # Checked at each commit (two look-ups of a few microseconds): a migration may create or drop the table.
    if conn.exec_driver_sql(_EXISTS).first() is None:
        return
    if conn.exec_driver_sql(_ANY).first() is None:
        return
    for statement in _FLUSH:
        conn.exec_driver_sql(statement)
