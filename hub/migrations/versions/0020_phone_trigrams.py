"""the contacts search by a phone number's digits reads a trigram index of the phones on SQLite too:
`phone_trigrams`, a contentless FTS5 table with the `trigram` tokenizer (SQLite >= 3.34) holding each phone
identity's value under the identity's id, kept in step by triggers on identities (insert, delete, update
of its kind or value) in the writer's own transaction. inbox/search.py asks it for the phones holding the
digits (a phrase of their trigrams) and tests each candidate's value with instr(), as before: 20 -> 5 ms
at 100,000 phones, where the phones' range of ix_identities_kind_value was read whole.

Created only where this SQLite library has the trigram tokenizer: elsewhere the migration goes on without
it, and the search reads the range as before. The search asks whether the TABLE is there (hub/db.py, once
per connection and after migrating), never the library's version: a database migrated without it and
opened later by a newer SQLite keeps the old way, one carried to an older SQLite (that cannot open it)
too. A merge moves identities by their contact_id: the trigrams (keyed by the identity) stay right.

Not copied to PostgreSQL by `okno migrate-data` (hub/migrate_data.py), like the search_* tables:
PostgreSQL has its own trigram index of the phones (0017_inbox_indexes).

Careful: a later migration that rebuilds identities in batch mode (SQLite copies the table) drops its
triggers; it must create them again (`TRIGGERS` below).

Revision ID: 0020_phone_trigrams
Revises: 0019_conversation_counts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_phone_trigrams"
down_revision: str | None = "0019_conversation_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "phone_trigrams"  # inbox/search_index.py's PHONE_TRIGRAMS, frozen here
# The value alone, no copy of it (contentless), no column sizes (nothing ranks the hits).
SPEC = "value, content='', tokenize='trigram', columnsize=0"
_ADD = f"INSERT INTO {TABLE} (rowid, value)"
# A contentless table forgets a row by being told its old values.
_REMOVE = f"INSERT INTO {TABLE} ({TABLE}, rowid, value)"
TRIGGERS = {
    f"{TABLE}_ai": (
        f"AFTER INSERT ON identities WHEN new.kind = 'phone' BEGIN {_ADD} VALUES (new.id, new.value); END"
    ),
    f"{TABLE}_ad": (
        "AFTER DELETE ON identities WHEN old.kind = 'phone' "
        f"BEGIN {_REMOVE} VALUES ('delete', old.id, old.value); END"
    ),
    f"{TABLE}_au": (
        "AFTER UPDATE OF id, kind, value ON identities WHEN old.kind = 'phone' OR new.kind = 'phone' BEGIN "
        f"{_REMOVE} SELECT 'delete', old.id, old.value WHERE old.kind = 'phone'; "
        f"{_ADD} SELECT new.id, new.value WHERE new.kind = 'phone'; END"
    ),
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    try:  # in a savepoint: "no such tokenizer: trigram" (SQLite < 3.34) leaves the migration usable
        with bind.begin_nested():
            bind.exec_driver_sql(f"CREATE VIRTUAL TABLE {TABLE} USING fts5({SPEC})")
    except sa.exc.OperationalError:
        return
    op.execute(f"{_ADD} SELECT id, value FROM identities WHERE kind = 'phone'")
    for name, body in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute(f"DROP TABLE IF EXISTS {TABLE}")
