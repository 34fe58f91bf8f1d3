"""the volume report adds up counts instead of counting events: report_counts holds how many reporting events
of each kind volume reads (new conversations, inbound and outbound messages) fell in each UTC hour per team
and channel, and in each UTC day per team, channel and agent; triggers on reporting_events keep them in the
transaction of the event itself (every writer, bulk inserts and COPY included), and the events already
stored are counted here

A missing team, channel or agent is kept as 0 / '' (a key with NULLs would never conflict, so the upsert
would not add up). SQLite counts a row at a time (an upsert in its own engine, no round trip); PostgreSQL
once a statement, from its transition tables, in key order (two transactions take the rows' locks in the
same order). An event updated (a team deleted sets its team_id to NULL) or deleted moves its counts.

Revision ID: 0016_report_rollups
Revises: 0015_message_sent
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_report_rollups"
down_revision: str | None = "0015_message_sent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FACTS = "('conversation_opened', 'message_received', 'message_sent')"
KEY = "width, name, bucket, team_id, channel_kind, agent_id"


def _sqlite_rows(row: str, sign: int) -> str:
    """The hour's and the day's counts of one event (`row`: NEW or OLD) as a SELECT, each `sign`."""
    team, channel, agent = f"coalesce({row}.team_id, 0)", f"coalesce({row}.channel_kind, '')", "0"
    hour = f"substr({row}.occurred_at, 1, 13) || ':00:00.000000'"
    day = f"substr({row}.occurred_at, 1, 10) || ' 00:00:00.000000'"
    return (
        f"SELECT 'h', {row}.name, {hour}, {team}, {channel}, {agent}, {sign} WHERE {row}.name IN {FACTS}"
        f" UNION ALL SELECT 'd', {row}.name, {day}, {team}, {channel}, coalesce({row}.agent_id, 0), {sign}"
        f" WHERE {row}.name IN {FACTS}"
    )


def _sqlite_upsert(row: str, sign: int) -> str:
    return (
        f"INSERT INTO report_counts ({KEY}, n) {_sqlite_rows(row, sign)}"
        f" ON CONFLICT ({KEY}) DO UPDATE SET n = n + excluded.n;"
    )


def _postgresql_rows(table: str, sign: int) -> str:
    team, channel = "coalesce(team_id, 0)", "coalesce(channel_kind, '')"
    return (
        f"SELECT 'h', name, date_trunc('hour', occurred_at, 'UTC'), {team}, {channel}, 0, {sign}"
        f" FROM {table} WHERE name IN {FACTS}"
        f" UNION ALL SELECT 'd', name, date_trunc('day', occurred_at, 'UTC'), {team}, {channel},"
        f" coalesce(agent_id, 0), {sign} FROM {table} WHERE name IN {FACTS}"
    )


def _postgresql_upsert(rows: str) -> str:
    return (
        f"INSERT INTO report_counts AS c ({KEY}, n) SELECT {KEY}, sum(n) FROM ({rows})"
        f" AS counted ({KEY}, n) GROUP BY {KEY} HAVING sum(n) <> 0 ORDER BY {KEY}"
        f" ON CONFLICT ({KEY}) DO UPDATE SET n = c.n + excluded.n"
    )


TRIGGERS = ("report_counts_added", "report_counts_changed", "report_counts_removed")


def upgrade() -> None:
    op.create_table(
        "report_counts",
        sa.Column("width", sa.String(1), nullable=False),  # 'h': a UTC hour, 'd': a UTC day
        sa.Column("name", sa.String(30), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),  # the hour's or day's start, UTC
        sa.Column("team_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel_kind", sa.String(20), nullable=False),
        sa.Column("agent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "width", "name", "bucket", "team_id", "channel_kind", "agent_id", name="pk_report_counts"
        ),
        sqlite_with_rowid=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"INSERT INTO report_counts ({KEY}, n) SELECT {KEY}, sum(n)"
            f" FROM ({_postgresql_rows('reporting_events', 1)}) AS counted ({KEY}, n) GROUP BY {KEY}"
        )
        bodies = {
            "report_counts_added": _postgresql_upsert(_postgresql_rows("added", 1)),
            "report_counts_changed": _postgresql_upsert(
                f"{_postgresql_rows('before', -1)} UNION ALL {_postgresql_rows('added', 1)}"
            ),
            "report_counts_removed": _postgresql_upsert(_postgresql_rows("before", -1)),
        }
        for name, body in bodies.items():
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN {body}; RETURN NULL; END $$"
            )
        op.execute(
            "CREATE TRIGGER report_counts_added AFTER INSERT ON reporting_events"
            " REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION report_counts_added()"
        )
        op.execute(
            "CREATE TRIGGER report_counts_changed AFTER UPDATE ON reporting_events"
            " REFERENCING OLD TABLE AS before NEW TABLE AS added"
            " FOR EACH STATEMENT EXECUTE FUNCTION report_counts_changed()"
        )
        op.execute(
            "CREATE TRIGGER report_counts_removed AFTER DELETE ON reporting_events"
            " REFERENCING OLD TABLE AS before FOR EACH STATEMENT EXECUTE FUNCTION report_counts_removed()"
        )
        return
    columns = "AS width, name, {} AS bucket, coalesce(team_id, 0) AS team_id,"
    columns += " coalesce(channel_kind, '') AS channel_kind, {} AS agent_id"
    hours = columns.format("substr(occurred_at, 1, 13) || ':00:00.000000'", "0")
    days = columns.format("substr(occurred_at, 1, 10) || ' 00:00:00.000000'", "coalesce(agent_id, 0)")
    op.execute(
        f"INSERT INTO report_counts ({KEY}, n) SELECT {KEY}, count(*) FROM ("
        f"SELECT 'h' {hours} FROM reporting_events WHERE name IN {FACTS} UNION ALL"
        f" SELECT 'd' {days} FROM reporting_events WHERE name IN {FACTS}) GROUP BY {KEY}"
    )
    op.execute(
        "CREATE TRIGGER report_counts_added AFTER INSERT ON reporting_events"
        f" WHEN NEW.name IN {FACTS} BEGIN {_sqlite_upsert('NEW', 1)} END"
    )
    op.execute(
        "CREATE TRIGGER report_counts_changed AFTER UPDATE OF name, occurred_at, team_id, channel_kind,"
        f" agent_id ON reporting_events BEGIN {_sqlite_upsert('OLD', -1)} {_sqlite_upsert('NEW', 1)} END"
    )
    op.execute(
        "CREATE TRIGGER report_counts_removed AFTER DELETE ON reporting_events"
        f" WHEN OLD.name IN {FACTS} BEGIN {_sqlite_upsert('OLD', -1)} END"
    )


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON reporting_events" if _pg() else ""))
        if _pg():
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("report_counts")


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"
