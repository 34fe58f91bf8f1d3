"""the reports' facts: one row per wait of a client (first response, reply, resolution);
the lines of imported history files

Revision ID: 0008_report_waits
Revises: 0003_scheduler_presence
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_report_waits"
down_revision: str | None = "0003_scheduler_presence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "report_waits",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=True),
        sa.Column("account_id", ID, nullable=True),
        sa.Column("channel_kind", sa.String(length=20), nullable=False),
        sa.Column("team_id", ID, nullable=True),
        sa.Column("agent_id", ID, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=True),
        sa.Column("value_seconds", sa.Double(), nullable=True),
        sa.Column("business_seconds", sa.Double(), nullable=True),
        sa.Column("_sentinel", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["channel_accounts.id"],
            name=op.f("fk_report_waits_account_id_channel_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_report_waits_agent_id_agents"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_report_waits_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_report_waits_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_report_waits_team_id_teams"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_waits")),
    )
    with op.batch_alter_table("report_waits", schema=None) as batch_op:
        batch_op.create_index("ix_report_waits_kind_started", ["kind", "started_at"], unique=False)
        batch_op.create_index(
            "ix_report_waits_conversation_open", ["conversation_id", "outcome"], unique=False
        )

    op.create_table(
        "history_lines",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", ID, nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_history_lines_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_history_lines")),
    )


def downgrade() -> None:
    op.drop_table("history_lines")
    with op.batch_alter_table("report_waits", schema=None) as batch_op:
        batch_op.drop_index("ix_report_waits_conversation_open")
        batch_op.drop_index("ix_report_waits_kind_started")
    op.drop_table("report_waits")
