"""identity trust and the web-chat visitor who started a conversation

Identities get a trust level ("vouched" for every existing row: they came from platforms, or from forms
before this distinction existed). Conversations get the web-chat visitor id that started them, filled
in for existing web-chat conversations from the visitor id in front of their first inbound message's
external id ("<visitor id>:<client id>"), so visitors keep their history across the upgrade.

Revision ID: 0002_identity_trust
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_identity_trust"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("trust", sa.String(length=10), server_default="vouched", nullable=False)
        )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("visitor_id", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_conversations_account_visitor", ["account_id", "visitor_id"], unique=False)

    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT c.id, m.external_id FROM conversations c"
            " JOIN channel_accounts a ON a.id = c.account_id"
            " JOIN messages m ON m.id = (SELECT min(m2.id) FROM messages m2"
            "   WHERE m2.conversation_id = c.id AND m2.direction = 'in' AND m2.external_id IS NOT NULL)"
            " WHERE a.kind = 'webchat'"
        )
    ).all()
    for conversation_id, external_id in rows:
        visitor_id, colon, _ = str(external_id).partition(":")
        if colon and 0 < len(visitor_id) <= 64:
            connection.execute(
                sa.text("UPDATE conversations SET visitor_id = :v WHERE id = :id"),
                {"v": visitor_id, "id": conversation_id},
            )


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_account_visitor")
        batch_op.drop_column("visitor_id")
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_column("trust")
