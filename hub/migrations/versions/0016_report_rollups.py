"""the reports' day roll-ups of ended waits (one row per kind, local day, team, agent and channel, with the
waits' values in arrays), the zone they count in, and a flag on each wait once it is rolled up

Revision ID: 0016_report_rollups
Revises: 0014_inbox_speed
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_report_rollups"
down_revision: str | None = "0014_inbox_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "report_rollups",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("team_id", ID, nullable=False),
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("channel_kind", sa.String(length=20), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("wall", sa.LargeBinary(), nullable=False),
        sa.Column("business", sa.LargeBinary(), nullable=False),
        sa.Column("hours", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_rollups")),
        sa.UniqueConstraint(
            "kind",
            "day",
            "team_id",
            "agent_id",
            "channel_kind",
            name=op.f("uq_report_rollups_kind_day_team_id_agent_id_channel_kind"),
        ),
    )
    op.create_table(
        "report_rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_rollup_state")),
    )
    # Every wait so far is not yet rolled up: the first roll-up pass takes them all.
    op.add_column(
        "report_waits", sa.Column("rolled", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.create_index(
        "ix_report_waits_unrolled",
        "report_waits",
        ["kind", "started_at"],
        postgresql_where=sa.text("NOT rolled"),
        sqlite_where=sa.text("NOT rolled"),
    )


def downgrade() -> None:
    op.drop_index("ix_report_waits_unrolled", table_name="report_waits")
    # Plain ALTER TABLE (SQLite has it since 3.35): a batch copy would reflect the tables report_waits
    # refers to, and SQLAlchemy cannot reflect the expression indexes on conversations (0014_inbox_speed).
    op.execute("ALTER TABLE report_waits DROP COLUMN rolled")
    op.drop_table("report_rollup_state")
    op.drop_table("report_rollups")
