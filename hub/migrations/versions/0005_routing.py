"""routing: agent availability, team strategies and capacities, the team queue, re-routing and rules

Agents get the status they set (online / busy / offline, "offline" for everyone existing), when they were
last given a dialog (round robin), when their last socket closed (offline after silence) and an optional
capacity per channel kind; their capacity may now be empty (the team's default applies). Presence rows
count idle sockets (an idle tab makes an agent away). Teams get a strategy, a default capacity and an
answer time-out. Conversations get when the routing rules looked at them, when they entered their
team's queue, when they were assigned and when an unanswered assignment is re-routed. Reporting events
get a JSON detail (a hand-over's from, to and why). Routing rules, ordered, editable by admins, live in
their own table.

Revision ID: 0005_routing
Revises: 0006_knowledge_base
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_routing"
down_revision: str | None = "0006_knowledge_base"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.alter_column("capacity", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(
            sa.Column("status", sa.String(length=10), server_default="offline", nullable=False)
        )
        batch_op.add_column(sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_assigned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_socket_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("channel_capacity", sa.JSON(), nullable=True))
    with op.batch_alter_table("agent_presence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idle_sockets", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("strategy", sa.String(length=20), server_default="round_robin", nullable=False)
        )
        batch_op.add_column(sa.Column("agent_capacity", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("answer_timeout_seconds", sa.Integer(), nullable=True))
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reroute_due", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rules_applied_at", sa.DateTime(timezone=True), nullable=True))
        waiting = sa.text("assignee_id IS NULL AND status = 'open'")
        batch_op.create_index(
            "ix_conversations_waiting",
            ["team_id", "created_at"],
            unique=False,
            sqlite_where=waiting,
            postgresql_where=waiting,
        )
        unruled = sa.text("rules_applied_at IS NULL")
        batch_op.create_index(
            "ix_conversations_unruled", ["id"], unique=False, sqlite_where=unruled, postgresql_where=unruled
        )
        batch_op.create_index("ix_conversations_reroute_due", ["reroute_due"], unique=False)
    with op.batch_alter_table("reporting_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detail", sa.JSON(), nullable=True))
    op.create_table(
        "routing_rules",
        sa.Column("id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("team_id", ID, nullable=True),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_routing_rules_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rules")),
    )


def downgrade() -> None:
    op.drop_table("routing_rules")
    with op.batch_alter_table("reporting_events", schema=None) as batch_op:
        batch_op.drop_column("detail")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_reroute_due")
        batch_op.drop_index("ix_conversations_unruled")
        batch_op.drop_index("ix_conversations_waiting")
        batch_op.drop_column("rules_applied_at")
        batch_op.drop_column("reroute_due")
        batch_op.drop_column("assigned_at")
        batch_op.drop_column("queued_at")
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_column("answer_timeout_seconds")
        batch_op.drop_column("agent_capacity")
        batch_op.drop_column("strategy")
    with op.batch_alter_table("agent_presence", schema=None) as batch_op:
        batch_op.drop_column("idle_sockets")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("channel_capacity")
        batch_op.drop_column("last_socket_at")
        batch_op.drop_column("last_assigned_at")
        batch_op.drop_column("status_changed_at")
        batch_op.drop_column("status")
        batch_op.execute("UPDATE agents SET capacity = 10 WHERE capacity IS NULL")
        batch_op.alter_column("capacity", existing_type=sa.Integer(), nullable=False)
