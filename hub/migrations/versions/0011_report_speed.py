"""the reports read indexes only: covering indexes for the period's waits and reporting events, the waits in
value order (SQLite reads a percentile's rank from it instead of sorting), outbound messages, calls and
cards by time

Revision ID: 0011_report_speed
Revises: 0012_search
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_report_speed"
down_revision: str | None = "0012_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What a wait report reads besides its key. PostgreSQL keeps them as INCLUDE columns (not sorted on);
# SQLite has no INCLUDE, so they follow the key.
WAIT_COLUMNS = ["outcome", "value_seconds", "business_seconds", "team_id", "agent_id", "channel_kind"]
EVENT_COLUMNS = ["team_id", "channel_kind", "agent_id"]


def _covering(name: str, table: str, key: list[str], extra: list[str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(name, table, key, postgresql_include=extra)
    else:
        op.create_index(name, table, [*key, *extra])


def upgrade() -> None:
    op.drop_index("ix_report_waits_kind_started", table_name="report_waits")
    _covering("ix_report_waits_kind_started", "report_waits", ["kind", "started_at"], WAIT_COLUMNS)
    if op.get_bind().dialect.name == "sqlite":
        op.create_index(
            "ix_report_waits_kind_value",
            "report_waits",
            ["kind", "value_seconds", "started_at", "outcome", "team_id", "agent_id", "channel_kind"],
        )
    op.drop_index("ix_reporting_events_name_occurred", table_name="reporting_events")
    _covering("ix_reporting_events_name_occurred", "reporting_events", ["name", "occurred_at"], EVENT_COLUMNS)
    op.create_index(
        "ix_messages_outbound_created",
        "messages",
        ["created_at", "conversation_id", "agent_id", "direction"],  # direction: SQLite covers
        postgresql_where=sa.text("direction = 'out'"),
        sqlite_where=sa.text("direction = 'out'"),
    )
    op.create_index("ix_calls_started", "calls", ["started_at"])
    op.create_index("ix_contacts_created", "contacts", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_contacts_created", table_name="contacts")
    op.drop_index("ix_calls_started", table_name="calls")
    op.drop_index("ix_messages_outbound_created", table_name="messages")
    op.drop_index("ix_reporting_events_name_occurred", table_name="reporting_events")
    op.create_index("ix_reporting_events_name_occurred", "reporting_events", ["name", "occurred_at"])
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_report_waits_kind_value", table_name="report_waits")
    op.drop_index("ix_report_waits_kind_started", table_name="report_waits")
    op.create_index("ix_report_waits_kind_started", "report_waits", ["kind", "started_at"])
