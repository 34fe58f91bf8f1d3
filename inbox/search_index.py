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

All of it runs in one call on the plain sqlite3 connection (:func:`index_pending_raw`): hub/db.py hands that
call to the database thread once per commit, where six statements through SQLAlchemy were six trips to the
thread and back (under load each trip waits for the event loop's thread to be scheduled again).

PostgreSQL needs none of this: its GIN indexes are maintained by the database.
"""

from __future__ import annotations

import sqlite3

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


def index_pending_raw(conn: sqlite3.Connection) -> None:
    """Index the rows noted in `search_pending`, in the current transaction of the sqlite3 connection
    `conn` (a no-op on a database migrated to before 0012_search). Runs on the connection's own thread."""
    # Checked at each commit (two look-ups of a few microseconds): a migration may create or drop the table.
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_pending'"
    ).fetchone()
    if exists is None:
        return
    if conn.execute("SELECT 1 FROM search_pending LIMIT 1").fetchone() is None:
        return
    for statement in _FLUSH:
        conn.execute(statement)
