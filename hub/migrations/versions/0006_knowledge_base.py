"""knowledge base: template keys, owners (personal templates), last use; the index generation; the
template a reply was written from

Existing templates get the key "template-<id>" and stay shared.

Revision ID: 0006_knowledge_base
Revises: 0004_webchat_signing_key
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_knowledge_base"
down_revision: str | None = "0004_webchat_signing_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("owner_id", ID, nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE templates SET key = 'template-' || CAST(id AS VARCHAR(20)), updated_at = created_at")
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.alter_column("key", existing_type=sa.String(length=100), nullable=False)
        batch_op.alter_column("updated_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_templates_key"), ["key"])
        batch_op.create_index(batch_op.f("ix_templates_owner_id"), ["owner_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_templates_owner_id_agents"), "agents", ["owner_id"], ["id"], ondelete="CASCADE"
        )
    op.create_table(
        "knowledge_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.String(length=32), nullable=False),
        sa.Column("defaults_loaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_state")),
    )
    with op.batch_alter_table("reporting_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template_id", ID, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_reporting_events_template_id_templates"),
            "templates",
            ["template_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("reporting_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_reporting_events_template_id_templates"), type_="foreignkey")
        batch_op.drop_column("template_id")
    op.drop_table("knowledge_state")
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_templates_owner_id_agents"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_templates_owner_id"))
        batch_op.drop_constraint(batch_op.f("uq_templates_key"), type_="unique")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("owner_id")
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("key")
