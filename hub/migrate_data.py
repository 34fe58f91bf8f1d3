"""Moving a hub's data from SQLite to PostgreSQL (`okno migrate-data`, CLI in :mod:`hub.cli_migrate_data`).

The steps, each refusing with one line naming what is wrong before anything is written:

1. the source is a SQLite file at the code's migration head (an older one: ``okno migrate`` it first);
2. the target is PostgreSQL, holds none of our tables' rows (a second run is refused, naming the table),
   and is migrated to head with the real migrations — so it has the PostgreSQL schema, its GIN full-text
   indexes (migration 0012_search) and expression indexes included;
3. every table of :data:`inbox.models.Base.metadata` is copied in foreign-key order, in batches read by
   primary key (keyset: no OFFSET scan, nothing held beyond one batch) and written in a transaction of
   their own, with SQLAlchemy Core; a self-reference (a merged card's ``merged_into_id``, which may name a
   newer card) is written in a second pass once every row of the table is in;
4. every sequence is moved past the largest id copied, ``ANALYZE`` gives the planner statistics, and the
   row counts of every table are compared on both sides.

JSON columns are copied as their stored text: SQLAlchemy writes a Python None into a JSON column as the
JSON ``null``, so decoding and encoding again would turn SQL NULLs into JSON nulls.

What is SQLite's own is not copied: ``alembic_version`` (the target has its own), the FTS5 tables (the
phones' ``phone_trigrams`` too) and ``search_pending`` (PostgreSQL indexes the copied rows in its GIN
indexes as they go in), nor
``report_counts``, ``report_wait_sums`` and ``conversation_counts`` (the target's triggers count the
reporting events, sum the waits and count the conversations as they go in). The hub's files
(``attachments_dir``) are not in the database: they stay where they are (see deploy/README.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, Column, Table, Text, bindparam, cast, func, inspect, select, text, tuple_
from sqlalchemy import update as sql_update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from hub import db
from inbox.models import Base

DEFAULT_BATCH = 2000
SQLITE_HEADER = b"SQLite format 3\x00"
# SQLite's own tables: not copied (see the module docstring). FTS5 keeps shadow tables beside each.
SQLITE_ONLY = frozenset({"alembic_version", "search_pending", "sqlite_sequence", "sqlite_stat1"})
FTS_TABLES = ("search_messages", "search_conversations", "search_contacts", "phone_trigrams")
# Kept by the target's own triggers as the rows they count are copied (migration 0016_report_rollups).
DERIVED = frozenset({"report_counts", "report_wait_sums", "conversation_counts"})


class MigrateDataError(Exception):
    """What stops `okno migrate-data`, in one line a person can act on."""


@dataclass(frozen=True, slots=True)
class TableCopy:
    name: str
    source_rows: int
    target_rows: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Summary:
    tables: tuple[TableCopy, ...]
    sequences: int  # sequences moved past the largest id copied
    left_out: tuple[str, ...]  # tables of the source not copied (SQLite's own)
    revision: str
    seconds: float

    @property
    def rows(self) -> int:
        return sum(t.target_rows for t in self.tables)


Progress = Callable[[str], None]


def _quiet(_line: str) -> None:
    pass


# ------------------------------------------------------------------------------------------ the two ends


def source_url(given: str) -> tuple[str, Path]:
    """`--from`: a SQLite file, or a SQLite URL. Its aiosqlite URL and its file; MigrateDataError when it
    is no SQLite file."""
    value = given.strip()
    if "://" in value:
        try:
            url = make_url(value)
        except ArgumentError:
            raise MigrateDataError(f"--from {given!r}: not a database URL or a file") from None
        if url.get_backend_name() != "sqlite":
            raise MigrateDataError(
                f"--from {url.render_as_string(hide_password=True)}: the source must be a SQLite database "
                "(a file or sqlite:///PATH); migrate-data copies SQLite into PostgreSQL"
            )
        if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
            raise MigrateDataError(f"--from {given!r}: name the SQLite database's file")
        path = Path(url.database)
    else:
        path = Path(value)
    if not path.exists():
        raise MigrateDataError(f"--from {path}: no such file")
    if not path.is_file():
        raise MigrateDataError(f"--from {path}: not a file")
    with path.open("rb") as fh:
        if fh.read(16) != SQLITE_HEADER:
            raise MigrateDataError(f"--from {path}: not a SQLite database")
    return f"sqlite+aiosqlite:///{path.resolve()}", path


def target_url(given: str) -> str:
    """`--to`: a PostgreSQL URL, given to asyncpg whatever driver it names (``postgresql://`` …)."""
    try:
        url = make_url(given.strip())
    except ArgumentError:
        raise MigrateDataError(
            f"--to {given!r}: not a database URL (e.g. postgresql://okno@127.0.0.1/okno)"
        ) from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise MigrateDataError(
            f"--to {url.render_as_string(hide_password=True)}: the target must be PostgreSQL "
            "(postgresql://USER@HOST/DBNAME)"
        )
    if not url.database:
        raise MigrateDataError(f"--to {url.render_as_string(hide_password=True)}: the URL names no database")
    return _asyncpg(url).render_as_string(hide_password=False)


def _asyncpg(url: URL) -> URL:
    return url.set(drivername="postgresql+asyncpg")


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    if head is None:  # the package ships its migrations: never without one
        raise MigrateDataError("no migrations found")
    return head


async def _source_revision(engine: AsyncEngine, path: Path) -> str:
    async with engine.connect() as conn:
        names = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        if "alembic_version" not in names:
            raise MigrateDataError(f"--from {path}: not an Okno database (no alembic_version table)")
        revision = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    return str(revision or "")


async def _source_tables(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


def _left_out(names: Sequence[str]) -> tuple[str, ...]:
    """The source's own tables that are not copied (an FTS5 table's shadow tables go with it unnamed)."""
    return tuple(sorted(n for n in names if n in SQLITE_ONLY or n in FTS_TABLES))


async def _refuse_data(engine: AsyncEngine) -> None:
    """A target holding a row in any of our tables is refused, naming the first such table."""
    async with engine.connect() as conn:
        present = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        for table in Base.metadata.sorted_tables:
            if table.name not in present:
                continue
            if (await conn.execute(select(1).select_from(table).limit(1))).first() is not None:
                raise MigrateDataError(
                    f"the target database already holds data (table {table.name}): migrate-data copies "
                    "into an empty database only — create a new one (createdb) or empty this one"
                )


# ------------------------------------------------------------------------------------------- the copy


def _self_references(table: Table) -> list[Column[Any]]:
    return [fk.parent for fk in table.foreign_keys if fk.column.table is table]


def _read_columns(table: Table) -> list[ColumnElement[Any]]:
    """The table's columns as read from SQLite: JSON ones as their stored text (None is SQL NULL)."""
    return [
        cast(column, Text).label(column.name) if isinstance(column.type, JSON) else column
        for column in table.columns
    ]


def _insert(table: Table) -> Any:
    """INSERT of every column from parameters ``p_<name>``; JSON text cast to the column's type."""
    values: dict[str, Any] = {}
    for column in table.columns:
        if isinstance(column.type, JSON):
            values[column.name] = cast(bindparam(f"p_{column.name}", type_=Text), column.type)
        else:
            values[column.name] = bindparam(f"p_{column.name}", type_=column.type)
    return table.insert().values(values)


async def _copy_table(
    source: AsyncEngine, target: AsyncEngine, table: Table, batch: int, progress: Progress
) -> TableCopy:
    started = time.perf_counter()
    async with source.connect() as conn:
        total = int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
    key = list(table.primary_key.columns)
    if not key:
        raise MigrateDataError(f"table {table.name}: no primary key to copy it by")
    deferred = _self_references(table)
    for column in deferred:
        if not column.nullable:
            raise MigrateDataError(f"table {table.name}: {column.name} names its own table and is NOT NULL")
    names = [c.name for c in table.columns]
    later = {c.name for c in deferred}
    statement = _insert(table)
    copied = 0
    last: tuple[Any, ...] | None = None
    while True:
        query = select(*_read_columns(table)).order_by(*key).limit(batch)
        if last is not None:
            query = query.where(key[0] > last[0] if len(key) == 1 else tuple_(*key) > tuple_(*last))
        async with source.connect() as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            break
        params = [
            {f"p_{name}": (None if name in later else row[i]) for i, name in enumerate(names)} for row in rows
        ]
        try:
            async with target.begin() as conn:
                await conn.execute(statement, params)
        except DBAPIError as exc:
            raise MigrateDataError(
                f"table {table.name}: the rows after {last if last is not None else 'the first'} could not "
                f"be written ({' '.join(str(exc.orig).split())}); the target now holds part of the data: "
                "drop it, create it again and start over"
            ) from exc
        copied += len(rows)
        last = tuple(rows[-1]._mapping[c.name] for c in key)
        progress(f"{table.name}: {copied:,} / {total:,} rows")
    for column in deferred:
        await _copy_self_reference(source, target, table, key[0], column, batch)
    return TableCopy(table.name, total, copied, time.perf_counter() - started)


async def _copy_self_reference(
    source: AsyncEngine, target: AsyncEngine, table: Table, key: Column[Any], column: Column[Any], batch: int
) -> None:
    """The second pass for a column naming a row of its own table (written once every row is in)."""
    statement = (
        sql_update(table)
        .where(key == bindparam("k_id", type_=key.type))
        .values({column.name: bindparam("k_value", type_=column.type)})
    )
    last: Any = None
    while True:
        query = select(key, column).where(column.is_not(None)).order_by(key).limit(batch)
        if last is not None:
            query = query.where(key > last)
        async with source.connect() as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            return
        async with target.begin() as conn:
            await conn.execute(statement, [{"k_id": r[0], "k_value": r[1]} for r in rows])
        last = rows[-1][0]


async def _reset_sequences(target: AsyncEngine) -> int:
    """Each serial column's sequence continues after the largest id copied: the next insert gets a new id."""
    moved = 0
    async with target.begin() as conn:
        for table in Base.metadata.sorted_tables:
            for column in table.primary_key.columns:
                found = await conn.execute(
                    text("SELECT pg_get_serial_sequence(:table, :column)"),
                    {"table": table.name, "column": column.name},
                )
                sequence = found.scalar()
                if sequence is None:
                    continue
                top = (await conn.execute(select(func.max(column)))).scalar()
                # setval(…, false): the next nextval() answers exactly this value.
                await conn.execute(
                    text("SELECT setval(CAST(:sequence AS regclass), :next, false)"),
                    {"sequence": sequence, "next": int(top or 0) + 1},
                )
                moved += 1
    return moved


async def _count(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def migrate_data(
    source: str, target: str, *, batch: int = DEFAULT_BATCH, progress: Progress = _quiet
) -> Summary:
    """Copy the SQLite database `source` (a file or URL) into the empty PostgreSQL database `target`."""
    if batch < 1:
        raise MigrateDataError(f"--batch-size {batch}: must be 1 or more")
    started = time.perf_counter()
    url, path = source_url(source)
    to = target_url(target)
    head = head_revision()
    src = db.create_engine(url)
    dst = db.create_engine(to)
    try:
        revision = await _source_revision(src, path)
        if revision != head:
            raise MigrateDataError(
                f"--from {path}: the database is at revision {revision or 'none'}, this okno's is {head}: "
                f"bring it up to date first (OKNO_DATABASE_URL={url} okno migrate)"
            )
        await _refuse_data(dst)
        progress("migrating the target to " + head)
        await db.migrate(dst)
        await _refuse_data(dst)
        copies = []
        for table in Base.metadata.sorted_tables:
            if table.name not in DERIVED:
                copies.append(await _copy_table(src, dst, table, batch, progress))
        sequences = await _reset_sequences(dst)
        progress("ANALYZE (planner statistics for the copied rows)")
        async with dst.begin() as conn:
            await conn.execute(text("ANALYZE"))
        checked = []
        wrong = []
        for copy in copies:
            table = Base.metadata.tables[copy.name]
            source_rows, target_rows = await _count(src, table), await _count(dst, table)
            checked.append(TableCopy(copy.name, source_rows, target_rows, copy.seconds))
            if source_rows != target_rows:
                wrong.append(f"{copy.name} ({source_rows} in the source, {target_rows} in the target)")
        if wrong:
            raise MigrateDataError("row counts differ after the copy: " + ", ".join(wrong))
        left_out = _left_out(await _source_tables(src))
    finally:
        await src.dispose()
        await dst.dispose()
    return Summary(tuple(checked), sequences, left_out, head, time.perf_counter() - started)
