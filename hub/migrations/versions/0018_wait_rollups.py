"""the wait reports add up sums instead of reading every wait: report_wait_sums holds, per kind of wait and
value bucket (inbox.reports.wait_sums.bucket_of: the whole seconds below 8, then eight equal buckets an
octave — subtraction and division by powers of two, exact on both backends), how many ended, measured waits
there are and the sum of their wall-clock seconds: per UTC hour of their start (`width` "h"), and per UTC
day and team ("t"), channel ("c") or agent ("a"); a missing team, channel or agent is kept as 0 / ''.
Triggers on report_waits keep it in the wait's own transaction (as 0016 does for report_counts), and the
waits already stored are summed here.

A wait counts when it has a value and was not dropped. SQLite sums a row at a time; PostgreSQL once a
statement, from its transition tables, in key order. PostgreSQL also gets the waits in value order
(SQLite has had them since 0011) and the open waits by start (the overdue ones are counted from them), and
its key index carries n and total (a report's read of the sums is index-only).

Revision ID: 0018_wait_rollups
Revises: 0017_inbox_indexes
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_wait_rollups"
down_revision: str | None = "0017_inbox_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "width, kind, start, team_id, channel_kind, agent_id, bucket"
TRIGGERS = ("report_wait_sums_added", "report_wait_sums_changed", "report_wait_sums_removed")
OCTAVES = 32  # values of 2**32 s and more (136 years) share the last bucket
SQLITE_FLOOR = "CAST({} AS INTEGER)"
PG_FLOOR = "CAST(floor({}) AS INTEGER)"


def bucket_sql(v: str, floor: str) -> str:
    """The value bucket of `v` (seconds ≥ 0) as SQL: below 8 the whole seconds, then eight equal buckets an
    octave. `floor` is the backend's floor of a non-negative number."""
    arms = [f"WHEN {v} < 8 THEN {floor.format(v)}"]
    for e in range(3, OCTAVES):
        step = floor.format(f"({v} - {2**e}) / {2 ** (e - 3)}")
        arms.append(f"WHEN {v} < {2 ** (e + 1)} THEN {8 * (e - 2)} + {step}")
    return f"(CASE {' '.join(arms)} ELSE {8 * (OCTAVES - 2)} END)"


def _counted(row: str) -> str:
    return f"{row}value_seconds IS NOT NULL AND coalesce({row}outcome, '') <> 'dropped'"


def _arms(row: str, hour: str, day: str, bucket: str, sign: int) -> list[str]:
    """The four sums one wait (`row`: "NEW.", "OLD." or "") adds `sign` times to, as SELECT lists: its
    hour's, and its day's for its team, for its channel and for its agent."""
    team, channel = f"coalesce({row}team_id, 0)", f"coalesce({row}channel_kind, '')"
    agent = f"coalesce({row}agent_id, 0)"
    keys = [
        f"'h', {row}kind, {hour}, 0, '', 0",
        f"'t', {row}kind, {day}, {team}, '', 0",
        f"'c', {row}kind, {day}, 0, {channel}, 0",
        f"'a', {row}kind, {day}, 0, '', {agent}",
    ]
    return [f"SELECT {key}, {bucket}, {sign}, {sign} * {row}value_seconds" for key in keys]


def _sqlite_upsert(row: str, sign: int) -> str:
    """One wait's four sums in one statement with the bucket computed once: the trigger's program is
    compiled into each statement that writes report_waits, so it is kept small."""
    hour = f"substr({row}.started_at, 1, 13) || ':00:00.000000'"
    day = f"substr({row}.started_at, 1, 10) || ' 00:00:00.000000'"
    bucket = bucket_sql(f"{row}.value_seconds", SQLITE_FLOOR)
    widths = "(SELECT 'h' AS width UNION ALL SELECT 't' UNION ALL SELECT 'c' UNION ALL SELECT 'a') AS w"
    return (
        f"INSERT INTO report_wait_sums ({KEY}, n, total) SELECT w.width, {row}.kind,"
        f" CASE w.width WHEN 'h' THEN {hour} ELSE {day} END,"
        f" CASE w.width WHEN 't' THEN coalesce({row}.team_id, 0) ELSE 0 END,"
        f" CASE w.width WHEN 'c' THEN coalesce({row}.channel_kind, '') ELSE '' END,"
        f" CASE w.width WHEN 'a' THEN coalesce({row}.agent_id, 0) ELSE 0 END,"
        f" b.bucket, {sign}, {sign} * {row}.value_seconds FROM (SELECT {bucket} AS bucket) AS b, {widths}"
        f" WHERE {_counted(row + '.')}"
        f" ON CONFLICT ({KEY}) DO UPDATE SET n = n + excluded.n, total = total + excluded.total;"
    )


def _postgresql_rows(table: str, sign: int) -> str:
    hour, day = "date_trunc('hour', started_at, 'UTC')", "date_trunc('day', started_at, 'UTC')"
    where = f" FROM {table} WHERE {_counted('')}"
    arms = _arms("", hour, day, bucket_sql("value_seconds", PG_FLOOR), sign)
    return " UNION ALL ".join(arm + where for arm in arms)


def _postgresql_upsert(rows: str) -> str:
    return (
        f"INSERT INTO report_wait_sums AS s ({KEY}, n, total) SELECT {KEY}, sum(n), sum(total) FROM ({rows})"
        f" AS summed ({KEY}, n, total) GROUP BY {KEY} HAVING sum(n) <> 0 ORDER BY {KEY}"
        f" ON CONFLICT ({KEY}) DO UPDATE SET n = s.n + excluded.n, total = s.total + excluded.total"
    )


def upgrade() -> None:
    op.create_table(
        "report_wait_sums",
        sa.Column("width", sa.String(1), nullable=False),  # 'h': a UTC hour; 't', 'c', 'a': a UTC day
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),  # the hour's or day's start, UTC
        sa.Column("team_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel_kind", sa.String(20), nullable=False),
        sa.Column("agent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "width",
            "kind",
            "start",
            "team_id",
            "channel_kind",
            "agent_id",
            "bucket",
            name="pk_report_wait_sums",
            # PostgreSQL: the counts and sums in the key's index too, so that a report reads a period's rows
            # from the index alone (index-only, 67,000 agent-day rows of a month: 23-40 against 55-80 ms from
            # the table; SQLite's table is its key's index already).
            postgresql_include=["n", "total"],
        ),
        sqlite_with_rowid=False,
    )
    if _pg():
        op.execute(
            f"INSERT INTO report_wait_sums ({KEY}, n, total) SELECT {KEY}, sum(n), sum(total)"
            f" FROM ({_postgresql_rows('report_waits', 1)}) AS summed ({KEY}, n, total) GROUP BY {KEY}"
        )
        bodies = {
            "report_wait_sums_added": _postgresql_upsert(_postgresql_rows("added", 1)),
            "report_wait_sums_changed": _postgresql_upsert(
                f"{_postgresql_rows('before', -1)} UNION ALL {_postgresql_rows('added', 1)}"
            ),
            "report_wait_sums_removed": _postgresql_upsert(_postgresql_rows("before", -1)),
        }
        for name, body in bodies.items():
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN {body}; RETURN NULL; END $$"
            )
        op.execute(
            "CREATE TRIGGER report_wait_sums_added AFTER INSERT ON report_waits"
            " REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION report_wait_sums_added()"
        )
        op.execute(
            "CREATE TRIGGER report_wait_sums_changed AFTER UPDATE ON report_waits"
            " REFERENCING OLD TABLE AS before NEW TABLE AS added"
            " FOR EACH STATEMENT EXECUTE FUNCTION report_wait_sums_changed()"
        )
        op.execute(
            "CREATE TRIGGER report_wait_sums_removed AFTER DELETE ON report_waits"
            " REFERENCING OLD TABLE AS before FOR EACH STATEMENT EXECUTE FUNCTION report_wait_sums_removed()"
        )
        op.create_index(
            "ix_report_waits_kind_value",
            "report_waits",
            ["kind", "value_seconds"],
            postgresql_include=["started_at", "outcome", "team_id", "channel_kind", "agent_id"],
        )
        op.create_index(
            "ix_report_waits_kind_open",
            "report_waits",
            ["kind", "started_at"],
            postgresql_include=["team_id", "channel_kind", "agent_id"],
            postgresql_where=sa.text("outcome IS NULL"),
        )
        op.execute("ANALYZE report_wait_sums")  # planner statistics now: a month of sums is 10,000s of rows
        return
    hour = "substr(started_at, 1, 13) || ':00:00.000000'"
    day = "substr(started_at, 1, 10) || ' 00:00:00.000000'"
    for arm in _arms("", hour, day, bucket_sql("value_seconds", SQLITE_FLOOR), 1):
        key = arm.removeprefix("SELECT ").rsplit(", 1, 1 * value_seconds", 1)[0]  # the seven key columns
        op.execute(
            f"INSERT INTO report_wait_sums ({KEY}, n, total) SELECT {key}, count(*), sum(value_seconds)"
            f" FROM report_waits WHERE {_counted('')} GROUP BY 1, 2, 3, 4, 5, 6, 7"
        )
    op.execute(
        "CREATE TRIGGER report_wait_sums_added AFTER INSERT ON report_waits"
        f" WHEN {_counted('NEW.')} BEGIN {_sqlite_upsert('NEW', 1)} END"
    )
    op.execute(
        "CREATE TRIGGER report_wait_sums_changed AFTER UPDATE OF kind, started_at, outcome, value_seconds,"
        " team_id, channel_kind, agent_id ON report_waits"
        f" BEGIN {_sqlite_upsert('OLD', -1)} {_sqlite_upsert('NEW', 1)} END"
    )
    op.execute(
        "CREATE TRIGGER report_wait_sums_removed AFTER DELETE ON report_waits"
        f" WHEN {_counted('OLD.')} BEGIN {_sqlite_upsert('OLD', -1)} END"
    )


def downgrade() -> None:
    if _pg():
        op.drop_index("ix_report_waits_kind_open", table_name="report_waits")
        op.drop_index("ix_report_waits_kind_value", table_name="report_waits")
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON report_waits" if _pg() else ""))
        if _pg():
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("report_wait_sums")


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"
