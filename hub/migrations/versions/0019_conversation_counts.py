"""the inbox's queue counters add up a roll-up instead of counting conversations: conversation_counts holds
how many conversations there are per (status, channel_kind, team_id, assignee_id) — all that a viewer's
visibility (inbox.conversations.visible), a queue and the list's filters read — a missing team or assignee
kept as 0. Triggers on conversations keep it in the conversation's own transaction (as 0016 does for
report_counts), and the conversations already stored are counted here.

SQLite counts a row at a time. PostgreSQL counts inserts and deletes once a statement, from their transition
tables, in key order; an update a row at a time, and only when one of the four columns changed (a row
trigger's WHEN and column list are checked without calling the function: the ingest's updates of
last_message_at cost nothing; a statement trigger with transition tables may have no column list).

Also the index of the teams' lines in queue order, ix_conversations_line: a listed row's place in its line
(inbox.queues.queue_places) is counted over a range of it.

Note for later migrations: SQLite's batch mode rebuilds a table by copying it into a new one, which drops
its triggers: a migration that rebuilds conversations must create these again.

Revision ID: 0019_conversation_counts
Revises: 0018_wait_rollups
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_conversation_counts"
down_revision: str | None = "0018_wait_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "status, channel_kind, team_id, assignee_id"
COLUMNS = ("status", "channel_kind", "team_id", "assignee_id")
LINE_INDEX = "ix_conversations_line"
WAITING = "rules_applied_at IS NOT NULL AND assignee_id IS NULL AND status = 'open' AND team_id IS NOT NULL"
# ... and what else a count over it reads, so that it is read alone (SQLite covers an expression only with its
# columns, and the partial index's condition only with them too; PostgreSQL the expression with its columns).
LINE_COVERS = "queued_at, created_at, rules_applied_at, assignee_id, status"
TRIGGERS = ("conversation_counts_added", "conversation_counts_changed", "conversation_counts_removed")


def _key(row: str) -> str:
    """The roll-up's key of a conversation (`row`: "NEW.", "OLD." or ""), a missing team or assignee 0."""
    return f"{row}status, {row}channel_kind, coalesce({row}team_id, 0), coalesce({row}assignee_id, 0)"


def _changed(differs: str) -> str:
    """Whether one of the key's columns changed, `differs` the backend's NULL-safe inequality."""
    return " OR ".join(f"OLD.{c} {differs} NEW.{c}" for c in COLUMNS)


def _sqlite_upsert(row: str, sign: int) -> str:
    return (
        f"INSERT INTO conversation_counts ({KEY}, n) VALUES ({_key(row)}, {sign})"
        f" ON CONFLICT ({KEY}) DO UPDATE SET n = n + excluded.n;"
    )


def _drop_empty(row: str) -> str:
    """The group `row` ("OLD.") left, gone once empty: the roll-up holds the groups there are, no zeros (a
    copy to PostgreSQL, okno migrate-data, then has the same rows)."""
    return (
        f"DELETE FROM conversation_counts WHERE status = {row}status AND channel_kind = {row}channel_kind"
        f" AND team_id = coalesce({row}team_id, 0) AND assignee_id = coalesce({row}assignee_id, 0) AND n = 0;"
    )


def _postgresql_upsert(table: str, sign: int) -> str:
    return (
        f"INSERT INTO conversation_counts AS s ({KEY}, n) SELECT {_key('')}, {sign} * count(*) FROM {table}"
        f" GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
        f" ON CONFLICT ({KEY}) DO UPDATE SET n = s.n + excluded.n"
    )


def upgrade() -> None:
    # The teams' lines in queue order (inbox.routing.router.queue_order), for the waiting dialogs alone (as
    # router.waiting): a listed row's place counts a range of it, and the router reads a line from it.
    op.execute(
        f"CREATE INDEX {LINE_INDEX} ON conversations"
        f" (team_id, priority DESC, coalesce(queued_at, created_at), id, {LINE_COVERS}) WHERE {WAITING}"
    )
    op.create_table(
        "conversation_counts",
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("channel_kind", sa.String(20), nullable=False),
        sa.Column("team_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("assignee_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        # A status's groups of one team and assignee together: a team's line (its open unassigned dialogs,
        # inbox.queues.queue_places) is a few rows, one a channel.
        sa.PrimaryKeyConstraint(
            "status", "team_id", "assignee_id", "channel_kind", name="pk_conversation_counts"
        ),
        sqlite_with_rowid=False,
    )
    op.execute(
        f"INSERT INTO conversation_counts ({KEY}, n) SELECT {_key('')}, count(*) FROM conversations"
        " GROUP BY 1, 2, 3, 4"
    )
    if _pg():
        bodies = {
            "conversation_counts_added": _postgresql_upsert("added", 1),
            "conversation_counts_removed": (
                f"{_postgresql_upsert('before', -1)}; DELETE FROM conversation_counts AS s USING before"
                f" WHERE ({', '.join('s.' + c for c in COLUMNS)}) = ({_key('before.')}) AND s.n = 0"
            ),
            # One row's move from its old group to its new one, the two keys in order (they differ).
            "conversation_counts_changed": (
                f"INSERT INTO conversation_counts AS s ({KEY}, n)"
                f" SELECT * FROM (VALUES ({_key('OLD.')}, -1), ({_key('NEW.')}, 1)) AS moved ({KEY}, n)"
                f" ORDER BY 1, 2, 3, 4 ON CONFLICT ({KEY}) DO UPDATE SET n = s.n + excluded.n;"
                f" {_drop_empty('OLD.').rstrip(';')}"
            ),
        }
        for name, body in bodies.items():
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN {body}; RETURN NULL; END $$"
            )
        op.execute(
            "CREATE TRIGGER conversation_counts_added AFTER INSERT ON conversations"
            " REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION conversation_counts_added()"
        )
        op.execute(
            f"CREATE TRIGGER conversation_counts_changed AFTER UPDATE OF {KEY} ON conversations"
            f" FOR EACH ROW WHEN ({_changed('IS DISTINCT FROM')})"
            " EXECUTE FUNCTION conversation_counts_changed()"
        )
        op.execute(
            "CREATE TRIGGER conversation_counts_removed AFTER DELETE ON conversations"
            " REFERENCING OLD TABLE AS before FOR EACH STATEMENT"
            " EXECUTE FUNCTION conversation_counts_removed()"
        )
        op.execute("ANALYZE conversation_counts")
        return
    op.execute(
        "CREATE TRIGGER conversation_counts_added AFTER INSERT ON conversations"
        f" BEGIN {_sqlite_upsert('NEW.', 1)} END"
    )
    op.execute(
        f"CREATE TRIGGER conversation_counts_changed AFTER UPDATE OF {KEY} ON conversations"
        f" WHEN {_changed('IS NOT')}"  # SQLite before 3.39 has no IS DISTINCT FROM
        f" BEGIN {_sqlite_upsert('OLD.', -1)} {_sqlite_upsert('NEW.', 1)} {_drop_empty('OLD.')} END"
    )
    op.execute(
        "CREATE TRIGGER conversation_counts_removed AFTER DELETE ON conversations"
        f" BEGIN {_sqlite_upsert('OLD.', -1)} {_drop_empty('OLD.')} END"
    )


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {LINE_INDEX}")
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON conversations" if _pg() else ""))
        if _pg():
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("conversation_counts")


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"
