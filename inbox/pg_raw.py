"""PostgreSQL: a statement of fixed text run on the asyncpg connection under a session, in its transaction.

The ingest path's bulk statements (inbox.pg_bulk, inbox.pg_messages) are built once and take their rows
as arrays, so SQLAlchemy has nothing left to do for them per execution but its own layers: a greenlet, an
execution context, a cursor and a result, ~0.11 ms of CPU per statement on top of asyncpg's ~0.04 (both
measured in one loop on this machine), several times per group commit. Here such a statement is compiled
once for the dialect (its ``$n`` text, the order of its parameters and their bind processors, which still
run: a JSON value serialized, a UTC datetime checked) and executed by asyncpg itself (its own cache of
prepared statements) on the session's connection, holding the driver adapter's lock and in the
transaction the session began.

What goes wrong is raised as SQLAlchemy raises it (``IntegrityError``, ``OperationalError``, ``DBAPIError``
with the driver's error as ``orig``): the callers tell a race from an outage by that (inbox.ingest,
inbox.unavailable); a connection lost on the way is invalidated, as SQLAlchemy's own execution does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from weakref import WeakKeyDictionary

from sqlalchemy import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

from inbox.models import UtcDateTime


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    # Each positional parameter: its name, the bind processor of its type (None: the value as it is), and
    # what fills it when the caller's parameters do not name it: a column's Python-side default or
    # onupdate that SQLAlchemy would compute, or a value the statement holds (``status != 'resolved'``).
    order: tuple[tuple[str, Callable[[Any], Any] | None, Callable[[], Any] | None], ...]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        args = []
        for name, process, fill in self.order:
            value = params[name] if fill is None or name in params else fill()
            args.append(value if process is None else process(value))
        return args


def _held(value: Any) -> Callable[[], Any]:
    return lambda: value


def _fill(column: Any, default: Any) -> Callable[[], Any]:
    """What SQLAlchemy computes for a column default or onupdate it prefetches: a scalar, or a call of a
    function of no argument (SQLAlchemy wraps it to take the execution context, which it ignores)."""
    if getattr(default, "is_scalar", False):
        value = default.arg
        return lambda: value
    if getattr(default, "is_callable", False):
        function = default.arg
        return lambda: function(None)
    raise ValueError(f"{column}: a default SQLAlchemy would compute is not a plain value or function")


def _utc_times(type_: Any) -> bool:
    """An array of :class:`inbox.models.UtcDateTime`."""
    return isinstance(type_, ARRAY) and isinstance(type_.item_type, UtcDateTime)


def _checked_times(values: Any) -> Any:
    """An array of UTC times as UtcDateTime would bind them, minus its copy of each in UTC (asyncpg
    converts an aware time itself): a naive time is still refused. Cheaper than the type's processor per
    element (~0.5 us: a call, then `astimezone`), on several times per message."""
    if values is not None and any(value is not None and value.tzinfo is None for value in values):
        raise ValueError("naive datetime given where UTC is required")
    return values


_COMPILED: WeakKeyDictionary[Dialect, dict[int, tuple[ClauseElement, _Compiled]]] = WeakKeyDictionary()


def _compiled(statement: ClauseElement, dialect: Dialect) -> _Compiled:
    cache = _COMPILED.get(dialect)
    if cache is None:
        cache = _COMPILED[dialect] = {}
    held = cache.get(id(statement))
    if held is not None and held[0] is statement:
        return held[1]
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
    if compiled.positiontup is None:  # pragma: no cover - asyncpg's paramstyle is positional
        raise ValueError(f"{statement}: no positional parameters on {dialect.name}")
    processors = compiled._bind_processors
    fills = {c.key: _fill(c, c.default) for c in compiled.insert_prefetch}
    fills.update({c.key: _fill(c, c.onupdate) for c in compiled.update_prefetch})
    order: list[tuple[str, Callable[[Any], Any] | None, Callable[[], Any] | None]] = []
    for name in compiled.positiontup:
        found = processors.get(name)
        if found is not None and not callable(found):  # a tuple type's processors
            raise ValueError(f"{statement}: parameter {name} is not a plain value")
        process: Callable[[Any], Any] | None = found
        fill = fills.get(name)
        bind = compiled.binds.get(name)
        if bind is not None and _utc_times(bind.type):
            process = _checked_times  # asyncpg takes any aware time to UTC itself
        if fill is None and bind is not None and not bind.required:
            fill = _held(bind.effective_value)
        order.append((name, process, fill))
    made = _Compiled(compiled.string, tuple(order))
    cache[id(statement)] = (statement, made)
    return made


def compile_ahead(statements: Iterable[ClauseElement], dialect: Dialect) -> None:
    """Compile `statements` for `dialect` now, into the cache that :func:`fetch` reads (a warm-up)."""
    for statement in statements:
        _compiled(statement, dialect)


# Session.info key: (the session's transaction, its dialect, the driver adapter of its connection). Each
# statement of a group commit would otherwise ask the session for its connection again (a greenlet trip).
_HELD = "okno.pg_raw.connection"


async def _adapted(session: AsyncSession) -> tuple[Dialect, Any] | None:
    """The dialect and driver adapter of the session's connection (its transaction begun), or None when
    the driver is not asyncpg."""
    sync = session.sync_session
    held = sync.info.get(_HELD)
    transaction = sync.get_transaction()
    if held is not None and held[0] is transaction and transaction is not None and transaction.is_active:
        return held[1], held[2]  # the connection of this transaction, found before
    dialect = session.get_bind().dialect
    if dialect.driver != "asyncpg":
        return None
    connection = await session.connection()  # begins the session's transaction
    adapted = (await connection.get_raw_connection()).dbapi_connection  # SQLAlchemy's adapter
    sync.info[_HELD] = (sync.get_transaction(), dialect, adapted)
    return dialect, adapted


async def fetch(session: AsyncSession, statement: ClauseElement, params: Mapping[str, Any]) -> Sequence[Any]:
    """Run `statement` (built once, reused) with `params` in the session's transaction; its rows."""
    found = await _adapted(session)
    if found is None:  # any other driver (SQLite's) through SQLAlchemy
        return (await session.execute(cast(Executable, statement), params)).all()
    dialect, adapted = found
    compiled = _compiled(statement, dialect)
    args = compiled.args(params)
    return cast(Sequence[Any], await _run(session, dialect, adapted, "fetch", compiled.sql, args))


async def _run(
    session: AsyncSession, dialect: Dialect, adapted: Any, call: str, sql: str, args: list[Any]
) -> Any:
    async with adapted._execute_mutex:
        try:
            if adapted._transaction is None:  # as the adapter's cursor does before its first statement
                await adapted._start_transaction()
            return await getattr(adapted._connection, call)(sql, *args)
        except Exception as error:
            await _raise(session, dialect, adapted, sql, args, error)


_PLACEHOLDER = re.compile(r"\$(\d+)")
_TOGETHER: WeakKeyDictionary[Dialect, dict[tuple[int, ...], tuple[tuple[_Compiled, ...], str]]] = (
    WeakKeyDictionary()
)


def _shifted(offset: int) -> Callable[[re.Match[str]], str]:
    return lambda match: f"${int(match.group(1)) + offset}"


def _together(compiled: tuple[_Compiled, ...], dialect: Dialect) -> str:
    """One SELECT whose columns are the rows of each statement as an array of records (see
    :func:`fetch_together`), each statement's ``$n`` moved past the parameters of those before it."""
    cache = _TOGETHER.get(dialect)
    if cache is None:
        cache = _TOGETHER[dialect] = {}
    key = tuple(id(c) for c in compiled)
    held = cache.get(key)
    if held is not None and all(a is b for a, b in zip(held[0], compiled, strict=True)):
        return held[1]
    columns = []
    offset = 0
    for one in compiled:
        if "'" in one.sql:  # a literal could hold a "$1" that is not a parameter
            raise ValueError(f"{one.sql}: a statement with a literal cannot be fetched together")
        if max((int(n) for n in _PLACEHOLDER.findall(one.sql)), default=0) > len(one.order):
            raise ValueError(f"{one.sql}: more placeholders than parameters")  # pragma: no cover
        moved = _PLACEHOLDER.sub(_shifted(offset), one.sql)
        columns.append(f"ARRAY(SELECT ROW(q.*) FROM ({moved}) AS q)")
        offset += len(one.order)
    sql = "SELECT " + ", ".join(columns)
    cache[key] = (compiled, sql)
    return sql


async def fetch_together(
    session: AsyncSession, reads: Sequence[tuple[ClauseElement, Mapping[str, Any]]]
) -> list[list[tuple[Any, ...]]] | None:
    """The rows of each of `reads` (a SELECT built once and its parameters), all in one round trip: one
    statement whose columns are arrays of records, which asyncpg decodes with each value's own codec (as
    :func:`fetch` would). A statement's rows come as tuples, and not in its ORDER BY: sort them. None when
    the driver is not asyncpg."""
    found = await _adapted(session)
    if found is None:
        return None
    dialect, adapted = found
    compiled = tuple(_compiled(statement, dialect) for statement, _ in reads)
    args = [arg for one, (_, params) in zip(compiled, reads, strict=True) for arg in one.args(params)]
    row = await _run(session, dialect, adapted, "fetchrow", _together(compiled, dialect), args)
    return [[tuple(record) for record in column] for column in row]


async def _raise(
    session: AsyncSession, dialect: Dialect, adapted: Any, sql: str, args: list[Any], error: Exception
) -> None:
    """Raise `error` as SQLAlchemy's execution would (and drop a connection that is gone)."""
    try:
        adapted._handle_exception(error)  # the driver adapter's DBAPI error for it
    except Exception as dbapi_error:
        disconnect = dialect.is_disconnect(cast(Any, dbapi_error), adapted, None)
        if disconnect:
            await (await session.connection()).invalidate(dbapi_error)
        raise DBAPIError.instance(
            sql,
            args,
            dbapi_error,
            dialect.loaded_dbapi.Error,
            dialect=dialect,
            connection_invalidated=disconnect,
        ) from error
    raise error  # pragma: no cover - the adapter raises for every error
