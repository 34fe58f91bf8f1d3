"""routing rules may send an auto-reply: the knowledge-base template key a matching rule answers with

Revision ID: 0009_routing_rules_extras
Revises: 0007_quarantine
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_routing_rules_extras"
down_revision: str | None = "0007_quarantine"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("routing_rules") as batch_op:
        batch_op.add_column(sa.Column("auto_reply", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routing_rules") as batch_op:
        batch_op.drop_column("auto_reply")
