"""full-text search: SQLite FTS5 tables kept by triggers, PostgreSQL GIN indexes (russian and english)

SQLite: one external-content FTS5 table per searched table (`search_messages` over messages' subject and
text, `search_conversations` over conversations' subject, `search_contacts` over cards' name and company),
tokenized by unicode61 with diacritics folded; triggers keep each in step in the writer's own transaction,
so every write path (ingest's group commit, replies, notes, edits, merges, card edits) is covered without
code of its own: a new row is noted in `search_pending` and indexed with the others of its transaction just
before the commit (inbox/search_index.py, called by hub/db.py). Update triggers fire only on the searched
columns. Stemming happens at query time
(inbox/search.py: the snowball stem as a prefix), so the triggers are plain SQL.

Careful: a later migration that rebuilds one of these tables in batch mode (SQLite copies the table) drops
its triggers; it must create them again (`_triggers` below).

PostgreSQL: expression GIN indexes on to_tsvector('russian', …) and to_tsvector('english', …) of the same
documents; inbox/search.py queries with exactly these expressions. Identities are matched by their
normalized value on the existing (kind, value) index on both backends.

Existing rows are indexed here, in batches of ids.

Revision ID: 0012_search
Revises: 0009_routing_rules_extras
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_search"
down_revision: str | None = "0009_routing_rules_extras"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000

# (code in search_pending, FTS table, content table, columns): inbox/search_index.py's, frozen here
_FTS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("m", "search_messages", "messages", ("subject", "body_text")),
    ("v", "search_conversations", "conversations", ("subject",)),
    ("c", "search_contacts", "contacts", ("name", "company")),
)

# The PostgreSQL documents: must stay identical to inbox/search.py's expressions.
# translate(): PostgreSQL's parser reads "A-10234" as the word "a" and the signed number "-10234", so "10234"
# would not find it; hyphens and plus signs are read as spaces.
_PG_DOCUMENTS: tuple[tuple[str, str, str], ...] = (
    ("messages", "msg", "translate(coalesce(subject, '') || ' ' || body_text, '-+', '  ')"),
    ("conversations", "conv", "translate(coalesce(subject, ''), '-+', '  ')"),
    ("contacts", "card", "translate(coalesce(name, '') || ' ' || coalesce(company, ''), '-+', '  ')"),
)
_CONFIGS = ("russian", "english")


def _triggers(code: str, fts: str, table: str, columns: tuple[str, ...]) -> list[str]:
    """New rows are only noted in search_pending (inbox/search_index.py indexes them all just before the
    commit: an FTS5 insert per row from a trigger is three times slower); an indexed row that changes or
    goes loses its old terms here, and a changed one is noted again."""
    cols = ", ".join(columns)
    old = ", ".join(f"old.{c}" for c in columns)
    pending = f"SELECT 1 FROM search_pending WHERE tbl = '{code}' AND id = old.id"
    remove = f"INSERT INTO {fts}({fts}, rowid, {cols}) SELECT 'delete', old.id, {old} "
    remove += f"WHERE NOT EXISTS ({pending});"
    note = f"INSERT OR IGNORE INTO search_pending (tbl, id) VALUES ('{code}', new.id);"
    forget = f"DELETE FROM search_pending WHERE tbl = '{code}' AND id = old.id;"
    return [
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN {note} END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN {remove} {forget} END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {cols} ON {table} BEGIN {remove} {note} END",
    ]


def _backfill(fts: str, table: str, columns: tuple[str, ...]) -> None:
    conn = op.get_bind()
    top = conn.execute(sa.text(f"SELECT max(id) FROM {table}")).scalar() or 0
    cols = ", ".join(columns)
    for start in range(0, top, BATCH):
        conn.execute(
            sa.text(
                f"INSERT INTO {fts}(rowid, {cols}) SELECT id, {cols} FROM {table} "
                "WHERE id > :start AND id <= :end"
            ),
            {"start": start, "end": start + BATCH},
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TABLE search_pending (tbl TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (tbl, id))"
        )
        for code, fts, table, columns in _FTS:
            op.execute(
                f"CREATE VIRTUAL TABLE {fts} USING fts5({', '.join(columns)}, content='{table}', "
                "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
            )
            _backfill(fts, table, columns)
            for statement in _triggers(code, fts, table, columns):
                op.execute(statement)
        return
    # CREATE INDEX builds from the existing rows (PostgreSQL reads the table once; no batches needed).
    for table, short, document in _PG_DOCUMENTS:
        for config in _CONFIGS:
            op.execute(
                f"CREATE INDEX ix_{short}_search_{config[:2]} ON {table} "
                f"USING gin (to_tsvector('{config}'::regconfig, {document}))"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for _code, fts, _table, _columns in _FTS:
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {fts}")
        op.execute("DROP TABLE IF EXISTS search_pending")
        return
    for _table, short, _document in _PG_DOCUMENTS:
        for config in _CONFIGS:
            op.execute(f"DROP INDEX IF EXISTS ix_{short}_search_{config[:2]}")
