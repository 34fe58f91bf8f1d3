"""A batch's Core INSERTs and UPDATEs as steps, run in one trip to SQLite's database thread.

The ingest path writes a batch with a few executemany statements, each needing the ids of the one before
(cards → their identity rows and conversations → messages → attachments). Through the async session each
statement is a trip to the database thread and back, and under load every trip also waits for the event
loop's thread to be scheduled again. A :class:`Step` names its statement, a function making its rows when
it runs (so that it can read the ids the steps before it assigned) and, for an INSERT … RETURNING id whose
new ids the later steps need, a function taking those ids in row order.

:func:`run_steps` runs them all in one call on the sqlite3 connection under the session's (the database
driver of hub/sqlite_driver.py offers `run_sync`): the parameters go through the bind processors of the
statement's own SQLAlchemy compilation, so a row is written with the values SQLAlchemy would write. An
INSERT's rows go in as multi-row INSERTs (see `_Compiled.execute`), and one that hands back ids gives its
rows, holding the write lock, the ids SQLite itself would (the table's largest id plus one, two…: the
tables have no AUTOINCREMENT), where a RETURNING per row cost half as much again as the insert.
(SQLAlchemy's `_sentinel` column, which only its own multi-row INSERT … RETURNING fills to sort what comes
back, stays NULL, as in a single-row insert.)

:func:`fetch_all` does the same for SELECTs that do not depend on each other (a batch's look-ups): their
texts and parameters as SQLAlchemy compiles and binds them, their rows through the statements' own result
processors (times, JSON), all in one trip.

Elsewhere (PostgreSQL, or a connection without `run_sync`) each step is one `session.execute` of its
statement, as before; on PostgreSQL the look-ups go as one statement (`inbox.pg_raw.fetch_together`). A
database error comes out as SQLAlchemy's exception either way (IntegrityError, OperationalError…), which
the callers act on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from weakref import WeakKeyDictionary

from sqlalchemy import Insert, Select, Table, Update, insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler

from inbox import pg_raw

Rows = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Step:
    """One statement of a batch: `statement` with `rows()` (made when the step runs; none: skipped), and
    for an INSERT … RETURNING id (sorted by parameter order) whose ids later steps need, `ids` given the
    new ids in the order of the rows."""

    statement: Insert | Update
    rows: Callable[[], Rows]
    ids: Callable[[list[int]], None] | None = None


@dataclass(slots=True)
class _Compiled:
    sql: str
    # A parameter's key in the row and its processor, or no key and the statement's own (processed) value
    order: tuple[tuple[str | None, Callable[[Any], Any] | None, Any], ...]
    pages: dict[int, str] = field(default_factory=dict)  # rows → an INSERT of that many rows at once

    def params(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            fixed if name is None else row[name] if process is None else process(row[name])
            for name, process, fixed in self.order
        )

    def execute(self, cursor: sqlite3.Cursor, params: list[tuple[Any, ...]]) -> None:
        """The statement once per row of `params`: an INSERT of one row as multi-row INSERTs of 2**k rows
        (the largest that fit first: a few statements, each prepared once for all batches), which cost
        SQLite a third less per row than one statement per row; anything else as executemany."""
        head, _, group = self.sql.rpartition(" VALUES ")
        if not head.startswith("INSERT ") or not group.startswith("(") or not group.endswith(")"):
            cursor.executemany(self.sql, params)
            return
        cap = 1 << (min(_MAX_ROWS, _MAX_VARIABLES // max(1, len(self.order))).bit_length() - 1)
        done = 0
        while done < len(params):
            size = min(cap, 1 << ((len(params) - done).bit_length() - 1))
            sql = self.pages.get(size)
            if sql is None:
                sql = self.pages[size] = f"{head} VALUES {', '.join([group] * size)}"
            cursor.execute(sql, [value for one in params[done : done + size] for value in one])
            done += size


_MAX_ROWS = 128  # rows of one multi-row INSERT
_MAX_VARIABLES = 32766  # SQLite's limit of parameters in one statement (since 3.32)


# A dialect (an engine's, as long as it lives) → (statement, the rows' keys) → its compiled form
_COMPILED: WeakKeyDictionary[Dialect, dict[tuple[int, tuple[str, ...]], tuple[Any, _Compiled]]] = (
    WeakKeyDictionary()
)


def _compiled(statement: Insert | Update, dialect: Dialect, keys: tuple[str, ...]) -> _Compiled:
    cache = _COMPILED.get(dialect)
    if cache is None:
        cache = _COMPILED[dialect] = {}
    cache_key = (id(statement), keys)
    held = cache.get(cache_key)
    if held is not None and held[0] is statement:
        return held[1]
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    if compiled.insert_prefetch or compiled.update_prefetch or compiled.positiontup is None:
        # A Python-side column default would be SQLAlchemy's to compute: not for this path.
        raise ValueError(f"{statement} needs SQLAlchemy's execution to fill in defaults")
    order: list[tuple[str | None, Callable[[Any], Any] | None, Any]] = []
    # The values written into the statement itself (`.values(trust="vouched")`).
    own = {name: bind.effective_value for name, bind in compiled.binds.items() if name not in keys}
    for name in compiled.positiontup:
        process = compiled._bind_processors.get(name)
        if process is not None and not callable(process):  # a tuple type's processors
            raise ValueError(f"{statement}: parameter {name} is not a plain value")
        if name in keys:
            order.append((name, process, None))
        elif compiled.binds[name].required:
            raise ValueError(f"{statement}: the rows have no {name}")
        else:
            order.append((None, None, own[name] if process is None else process(own[name])))
    made = _Compiled(compiled.string, tuple(order))
    cache[cache_key] = (statement, made)
    return made


_PLAIN: dict[int, tuple[Insert | Update, Insert, str]] = {}  # INSERT … RETURNING → the INSERT, the table


def _plain(statement: Insert | Update) -> tuple[Insert, str]:
    """The INSERT of `statement`'s table without its RETURNING, and the table's name."""
    held = _PLAIN.get(id(statement))
    if held is None or held[0] is not statement:
        table = statement.table
        if not isinstance(table, Table) or table.kwargs.get("sqlite_autoincrement"):
            raise ValueError(f"{statement}: ids of this table are not the largest plus one")
        held = _PLAIN[id(statement)] = (statement, insert(table), table.name)
    return held[1], held[2]


def _run_raw(dialect: Dialect, steps: Sequence[Step], raw: sqlite3.Connection) -> None:
    """Every step on the plain sqlite3 connection (on its own thread), in the open write transaction."""
    cursor = raw.cursor()
    sql = ""
    try:
        for step in steps:
            rows = step.rows()
            if not rows:
                continue
            if step.ids is None:
                compiled = _compiled(step.statement, dialect, tuple(rows[0]))
                sql = compiled.sql
                compiled.execute(cursor, [compiled.params(row) for row in rows])
                continue
            statement, table = _plain(step.statement)
            compiled = _compiled(statement, dialect, (*rows[0], "id"))
            sql = compiled.sql
            last = cursor.execute(f"SELECT max(id) FROM {table}").fetchone()[0] or 0
            ids = list(range(last + 1, last + 1 + len(rows)))
            compiled.execute(
                cursor, [compiled.params({**row, "id": i}) for row, i in zip(rows, ids, strict=True)]
            )
            step.ids(ids)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc
    finally:
        cursor.close()


async def run_steps(session: AsyncSession, steps: Sequence[Step]) -> None:
    """Run `steps` in order in the session's transaction: one trip on SQLite (see the module)."""
    connection = await session.connection()  # begins the transaction (BEGIN IMMEDIATE on SQLite)
    if connection.dialect.name == "sqlite":
        dialect = connection.dialect

        def trip(sync: Connection) -> bool:
            run_sync = getattr(sync.connection.dbapi_connection, "run_sync", None)
            if run_sync is None:
                return False
            run_sync(lambda raw: _run_raw(dialect, steps, raw))
            return True

        if await connection.run_sync(trip):
            return
    for step in steps:
        rows = step.rows()
        if not rows:
            continue
        result = await session.execute(step.statement, rows)
        if step.ids is not None:
            step.ids([row[0] for row in result.all()])


@dataclass(frozen=True, slots=True)
class _Query:
    sql: str
    # Each positional parameter: its name and bind processor, or no name and the statement's own value.
    order: tuple[tuple[str | None, Callable[[Any], Any] | None, Any], ...]
    results: tuple[Callable[[Any], Any] | None, ...]  # each column's result processor

    def params(self, given: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(
            fixed if name is None else given[name] if process is None else process(given[name])
            for name, process, fixed in self.order
        )

    def rows(self, raw: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        if not any(self.results):
            return raw
        pairs = list(zip(self.results, range(len(self.results)), strict=True))
        return [tuple(v[i] if p is None or v[i] is None else p(v[i]) for p, i in pairs) for v in raw]


_QUERIES: WeakKeyDictionary[Dialect, dict[int, tuple[Select[Any], _Query | None]]] = WeakKeyDictionary()


def _query(statement: Select[Any], dialect: Dialect) -> _Query | None:
    """`statement` compiled once for `dialect`; None when its parameters are SQLAlchemy's to render at
    execution (an expanding list): such a statement goes through the session."""
    cache = _QUERIES.get(dialect)
    if cache is None:
        cache = _QUERIES[dialect] = {}
    held = cache.get(id(statement))
    if held is not None and held[0] is statement:
        return held[1]
    compiled: SQLCompiler = statement.compile(dialect=dialect)
    made: _Query | None = None
    if compiled.positiontup is not None and not compiled.post_compile_params:
        processors = compiled._bind_processors
        order: list[tuple[str | None, Callable[[Any], Any] | None, Any]] = []
        plain = True
        for name in compiled.positiontup:
            process = processors.get(name)
            if process is not None and not callable(process):  # a tuple type's processors
                plain = False
                break
            bind = compiled.binds[name]
            if bind.required or bind.callable is not None:
                order.append((bind.key, process, None))
            else:  # a value the statement holds (``status != 'resolved'``)
                value = bind.effective_value
                order.append((None, None, value if process is None else process(value)))
        results = tuple(
            column.type._cached_result_processor(dialect, None) for column in compiled._result_columns
        )
        if plain:
            made = _Query(compiled.string, tuple(order), results)
    cache[id(statement)] = (statement, made)
    return made


async def fetch_all(
    session: AsyncSession, reads: Sequence[tuple[Select[Any], Mapping[str, Any]]]
) -> list[Sequence[Any]]:
    """The rows of each of `reads` (a SELECT and its parameters) in the session's transaction: in one trip
    on SQLite (see the module), in one round trip on PostgreSQL (`inbox.pg_raw.fetch_together`: rows as
    tuples, and not in a statement's ORDER BY: the caller sorts where order matters)."""
    connection = await session.connection()  # begins the transaction (BEGIN IMMEDIATE on SQLite)
    if connection.dialect.name == "sqlite":
        dialect = connection.dialect
        queries = [_query(statement, dialect) for statement, _ in reads]
        if all(q is not None for q in queries):
            ready = [(q, q.params(given)) for q, (_, given) in zip(queries, reads, strict=True) if q]

            def run(raw: sqlite3.Connection) -> list[list[tuple[Any, ...]]]:
                cursor = raw.cursor()
                sql = ""
                try:
                    found = []
                    for query, params in ready:
                        sql = query.sql
                        found.append(cursor.execute(sql, params).fetchall())
                    return found
                except sqlite3.Error as exc:
                    raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc
                finally:
                    cursor.close()

            def trip(sync: Connection) -> list[list[tuple[Any, ...]]] | None:
                run_sync = getattr(sync.connection.dbapi_connection, "run_sync", None)
                return None if run_sync is None else cast(list[list[tuple[Any, ...]]], run_sync(run))

            raw_rows = await connection.run_sync(trip)
            if raw_rows is not None:
                return [q.rows(rows) for (q, _), rows in zip(ready, raw_rows, strict=True)]
    if len(reads) > 1:
        together = await pg_raw.fetch_together(session, reads)
        if together is not None:
            return list(together)
    return [await pg_raw.fetch(session, statement, given) for statement, given in reads]
