"""read markers per agent and conversation (unread = client messages after the marker), the agent's own
time zone, and a partial index of inbound messages the unread counts read

Revision ID: 0013_reads_tz
Revises: 0011_report_speed
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_reads_tz"
down_revision: str | None = "0011_report_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INBOUND = "direction = 'in' AND kind = 'message'"


def upgrade() -> None:
    op.create_table(
        "conversation_reads",
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("last_read_message_id", ID, nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_conversation_reads_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_reads_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", "conversation_id", name=op.f("pk_conversation_reads")),
    )
    # A list page counts each row's client messages after the viewer's marker from this index alone.
    op.create_index(
        "ix_messages_inbound",
        "messages",
        ["conversation_id", "id", "direction", "kind"],  # direction, kind: SQLite then reads the index alone
        postgresql_where=sa.text(INBOUND),
        sqlite_where=sa.text(INBOUND),
    )
    op.add_column("agents", sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("timezone")
    op.drop_index("ix_messages_inbound", table_name="messages")
    op.drop_table("conversation_reads")
