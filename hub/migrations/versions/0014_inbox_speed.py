"""the agent's lists read their pages from indexes in their own order — latest activity
(coalesce(last_message_at, created_at)) then id: one over all conversations (with status, team and assignee
in it, checked before a row is read), one per assignee and status, one per team and status — instead of
scanning conversations and sorting them in a temporary B-tree

Identities get an index of their value alone, read as a range in byte order by the search of a value's
prefix (inbox.search): plain on SQLite, COLLATE "C" on PostgreSQL (whose default collation is linguistic).

No index leads with status alone: without statistics (a hub never runs ANALYZE) SQLite would prefer it to
the scheduler's own indexes for due snoozes and answer timeouts.

Expression indexes (SQLite 3.9+ and PostgreSQL): the query must sort by exactly this expression, which
inbox.models.CONVERSATION_ACTIVITY is. No column is added, so no write path changes.

Revision ID: 0014_inbox_speed
Revises: 0013_reads_tz
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_inbox_speed"
down_revision: str | None = "0013_reads_tz"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVITY = "coalesce(last_message_at, created_at)"
# name → (columns before (activity, id), columns after)
INDEXES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ix_conversations_activity": ((), ("status", "team_id", "assignee_id")),
    "ix_conversations_assignee_activity": (("assignee_id", "status"), ()),
    "ix_conversations_team_activity": (("team_id", "status"), ()),
}


def upgrade() -> None:
    for name, (before, after) in INDEXES.items():
        op.create_index(name, "conversations", [*before, sa.text(ACTIVITY), "id", *after])
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_identities_value", "identities", [sa.text('value COLLATE "C"')])
    else:
        op.create_index("ix_identities_value", "identities", ["value"])


def downgrade() -> None:
    op.drop_index("ix_identities_value", table_name="identities")
    for name in INDEXES:
        op.drop_index(name, table_name="conversations")
