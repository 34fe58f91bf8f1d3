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

The phones' trigram table (migration 0020_phone_trigrams) is kept by plain triggers (a row per new phone:
the ingest adds a phone or none per message). Whether a database has it is looked at when hub/db.py opens
a connection and after it migrates, and remembered for the engine's pool (:func:`phone_trigrams`): the
search reads it only where it is there.
"""

from __future__ import annotations

import sqlite3
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine
from sqlalchemy.pool import Pool

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


# -- the phones' trigrams (migration 0020_phone_trigrams) ---------------------------------------------------

PHONE_TRIGRAMS = "phone_trigrams"
# Whether the database behind a pool holds a usable phone_trigrams table, by pool: an engine and the
# engines made from it by execution_options() (hub.db.read_engine) share their pool.
_PHONE_TRIGRAMS: WeakKeyDictionary[Pool, bool] = WeakKeyDictionary()


def phone_trigrams_present(cursor: Any) -> bool:
    """Whether the database of this DB-API `cursor` (sqlite3's, or SQLAlchemy's adapter of aiosqlite)
    holds the phones' trigram table and this SQLite library can read it: a database migrated under SQLite
    < 3.34 has none (the migration skips it), and one copied to a host whose SQLite lacks the trigram
    tokenizer cannot open it. Not the library's version: the table decides."""
    cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (PHONE_TRIGRAMS,))
    if cursor.fetchone() is None:
        return False
    try:
        cursor.execute(f"SELECT rowid FROM {PHONE_TRIGRAMS} WHERE 0")
        cursor.fetchall()
    except sqlite3.Error:  # "no such tokenizer: trigram"
        return False
    return True


# Today's definition of the table and its triggers: migration 0020 keeps a frozen copy of the same text.
_PHONE_SPEC = "value, content='', tokenize='trigram', columnsize=0"
_PHONE_ADD = f"INSERT INTO {PHONE_TRIGRAMS} (rowid, value)"
_PHONE_REMOVE = f"INSERT INTO {PHONE_TRIGRAMS} ({PHONE_TRIGRAMS}, rowid, value)"  # told the old values
PHONE_TRIGGERS = {
    f"{PHONE_TRIGRAMS}_ai": (
        "AFTER INSERT ON identities WHEN new.kind = 'phone' "
        f"BEGIN {_PHONE_ADD} VALUES (new.id, new.value); END"
    ),
    f"{PHONE_TRIGRAMS}_ad": (
        "AFTER DELETE ON identities WHEN old.kind = 'phone' "
        f"BEGIN {_PHONE_REMOVE} VALUES ('delete', old.id, old.value); END"
    ),
    f"{PHONE_TRIGRAMS}_au": (
        "AFTER UPDATE OF id, kind, value ON identities WHEN old.kind = 'phone' OR new.kind = 'phone' BEGIN "
        f"{_PHONE_REMOVE} SELECT 'delete', old.id, old.value WHERE old.kind = 'phone'; "
        f"{_PHONE_ADD} SELECT new.id, new.value WHERE new.kind = 'phone'; END"
    ),
}


def reconcile_phone_trigrams(conn: sqlite3.Connection) -> bool:
    """Bring the phones' trigram table in line with this SQLite library, at a start on a schema at head
    (hub.db.migrate), in the caller's transaction; whether the search may read it.

    The triggers are the table's proof of being in step: every phone written while they stood is in it.
    - The library can read the table and every trigger stands: nothing to do.
    - It can read it but a trigger is missing (they were dropped below, on a host whose SQLite had no
      trigram tokenizer, and phones were written since): its rows are thrown away and the phones indexed
      again, the triggers made again.
    - No table (migrated where the tokenizer was missing, or dropped by hand): made and filled where the
      tokenizer is here now; else nothing.
    - A table this library cannot read (a database carried to an SQLite without the tokenizer): its triggers
      are dropped, or every new phone would fail its writer's transaction ("no such tokenizer"); the search
      reads the phones' range with instr() instead until a capable SQLite rebuilds it."""
    triggers = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE ?", (f"{PHONE_TRIGRAMS}_%",)
        )
    }
    table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (PHONE_TRIGRAMS,)
    ).fetchone()
    if table is not None and not phone_trigrams_present(conn.cursor()):
        for name in sorted(triggers):
            conn.execute(f"DROP TRIGGER {name}")
        return False
    if table is not None and triggers >= PHONE_TRIGGERS.keys():
        return True
    if table is None:
        try:
            conn.execute("SAVEPOINT phone_trigrams")
            conn.execute(f"CREATE VIRTUAL TABLE {PHONE_TRIGRAMS} USING fts5({_PHONE_SPEC})")
        except sqlite3.OperationalError:  # "no such tokenizer: trigram" (SQLite < 3.34)
            conn.execute("ROLLBACK TO phone_trigrams")
            conn.execute("RELEASE phone_trigrams")
            return False
        conn.execute("RELEASE phone_trigrams")
    else:
        conn.execute(f"INSERT INTO {PHONE_TRIGRAMS} ({PHONE_TRIGRAMS}) VALUES ('delete-all')")
    conn.execute(f"{_PHONE_ADD} SELECT id, value FROM identities WHERE kind = 'phone'")
    for name, body in PHONE_TRIGGERS.items():
        if name not in triggers:
            conn.execute(f"CREATE TRIGGER {name} {body}")
    return True


def note_phone_trigrams(pool: Pool, present: bool) -> None:
    """Remember for the engines of `pool` whether the trigram table is there (hub.db: at every new
    connection, and after migrating)."""
    _PHONE_TRIGRAMS[pool] = present


def phone_trigrams(bind: Engine | Connection) -> bool:
    """Whether queries through `bind` (a session's bind) may read the phones' trigram table: as last seen
    for its engine's pool (False for an engine hub.db did not make, or a PostgreSQL one)."""
    engine = bind.engine if isinstance(bind, Connection) else bind
    return _PHONE_TRIGRAMS.get(engine.pool, False)
