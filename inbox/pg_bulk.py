"""PostgreSQL: many rows in one statement of one text, the rows' values bound as arrays (``unnest``).

A multi-row ``INSERT … VALUES (…), (…)`` has a new text for every number of rows, so asyncpg prepares it
again for almost every batch (PostgreSQL parses and plans thousands of placeholders each time), and an
executemany UPDATE runs once per row. Here every statement has one text whatever the batch holds: each
column's values go in as one array, ``unnest`` turns the arrays back into rows, and the statement is
prepared once per connection. Values still pass through their columns' SQLAlchemy types (an array of the
column's type: JSON is serialized, a UTC datetime checked) and Python-side column defaults are filled in
as SQLAlchemy's own INSERT would. Text columns go in as ``text[]``: PostgreSQL's assignment to a
``varchar(n)`` column then refuses a value too long, as it does for a plain INSERT (an explicit cast to
``varchar(n)[]`` would cut it silently).

Rows coming back (``RETURNING``) are matched to the rows sent by their ordinal (the ``_sentinel`` column
of :class:`inbox.models.BulkInserted` tables), never by the order PostgreSQL returns them in. Look-ups of
pairs (an account and an external id; a kind and a value) join the pairs' arrays, so the index on the two
columns is searched for each pair (not two independent lists: see inbox.lists).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    cast,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from inbox import pg_raw

SENTINEL = "_sentinel"
ORDINAL = "n"


def _array_of(column_type: TypeEngine[Any]) -> ARRAY[Any]:
    if isinstance(column_type, String | JSON):  # text[], whatever the length (see the module)
        return ARRAY(Text())
    return ARRAY(column_type)


def unnest(arrays: Sequence[tuple[str, TypeEngine[Any]]]) -> Any:
    """``unnest(:a, :b, …) AS anon(a, b, …)``: rows from arrays bound by name, each of its column type
    (JSON goes in as text: see :class:`_Columns`)."""
    params = [bindparam(name, type_=_array_of(type_)) for name, type_ in arrays]
    return func.unnest(*params).table_valued(*(name for name, _ in arrays)).render_derived()


class _Columns:
    """The arrays of some columns of `table`: the unnested rows, each column's expression, and each
    column's values converted for its array. JSON values are serialized here, by the column type's own
    processor, and cast back to JSON in SQL: an array of JSON would take a list value (a card's tags)
    for one more dimension of the array."""

    def __init__(
        self,
        table: Table,
        names: Sequence[str],
        extra: Sequence[tuple[str, TypeEngine[Any]]],
        uniform: frozenset[str] = frozenset(),
    ):
        self.types = {name: table.c[name].type for name in names}
        self.uniform = uniform
        self.rows = unnest([*((n, t) for n, t in self.types.items() if n not in uniform), *extra])
        self.json = [name for name, type_ in self.types.items() if isinstance(type_, JSON)]
        self._serializers: dict[str, Callable[[Any], Any]] | None = None

    def expression(self, name: str) -> Any:
        """The column's value in a row: from its array, or a column of `uniform` as one parameter."""
        if name in self.uniform:
            type_ = self.types[name]
            param = bindparam(name, type_=Text() if isinstance(type_, String | JSON) else type_)
            return cast(param, type_) if name in self.json else param
        column = self.rows.c[name]
        return cast(column, self.types[name]) if name in self.json else column

    def values(self, session: AsyncSession, name: str, values: list[Any]) -> list[Any]:
        if name not in self.json:
            return values
        if self._serializers is None:
            dialect = session.get_bind().dialect
            self._serializers = {}
            for json_name in self.json:
                processor = self.types[json_name].dialect_impl(dialect).bind_processor(dialect)
                self._serializers[json_name] = processor or (lambda value: value)
        serialize = self._serializers[name]
        return [serialize(value) for value in values]


def _defaults(table: Table, given: Sequence[str]) -> dict[str, Any]:
    """Column → Python-side default (a scalar, or a callable of no argument) for the columns not given."""
    found: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if column.name in given or column.name == SENTINEL or default is None:
            continue
        if getattr(default, "is_scalar", False):
            found[column.name] = default.arg  # type: ignore[attr-defined]
        elif getattr(default, "is_callable", False):
            found[column.name] = default.arg  # type: ignore[attr-defined]  # SQLAlchemy wraps it: f(ctx)
    return found


class BulkInsert:
    """``INSERT INTO table (columns) SELECT … FROM unnest(…)``, optionally returning `returning` per row.

    The columns of `uniform` hold one value in every row (a new card's empty tags, a status, a NULL): each
    goes in as one parameter, not as an array of the same value again and again (asyncpg encodes every
    element of an array, 0.2-0.7 us each). There is a statement for each such set, prepared once per
    connection like the others."""

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        returning: Sequence[str] = (),
        uniform: frozenset[str] = frozenset(),
    ) -> None:
        self.table = table
        self.defaults = _defaults(table, columns)
        self.columns = (*columns, *self.defaults)
        self.returning = tuple(returning)
        self.uniform = uniform
        extra = [(ORDINAL, Integer())] if self.returning else []
        self.arrays = _Columns(table, self.columns, extra, uniform)
        names = [*self.columns, *([SENTINEL] if self.returning else [])]
        expressions = [self.arrays.expression(name) for name in self.columns]
        if self.returning:
            expressions.append(self.arrays.rows.c[ORDINAL])
        statement = insert(table).from_select(names, select(*expressions), include_defaults=False)
        if self.returning:
            statement = statement.returning(*(table.c[name] for name in self.returning), table.c[SENTINEL])
        self.statement = statement

    def params(self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
        params: dict[str, list[Any]] = {}
        for name in self.columns:
            if name in self.defaults:
                default = self.defaults[name]
                values = [default(None) for _ in rows] if callable(default) else [default] * len(rows)
            elif name in self.uniform:
                params[name] = self.arrays.values(session, name, [rows[0][name]])[0]
                continue
            else:
                values = [row[name] for row in rows]
            params[name] = self.arrays.values(session, name, values)
        if self.returning:
            params[ORDINAL] = list(range(len(rows)))
        return params

    async def execute(
        self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Any, ...]]:
        """Insert `rows`; with `returning`, the returned values of each row, in the order of `rows`."""
        if not rows:
            return []
        result = await pg_raw.fetch(session, self.statement, self.params(session, rows))
        if not self.returning:
            return []
        back: list[tuple[Any, ...] | None] = [None] * len(rows)
        for *values, ordinal in result:
            back[ordinal] = tuple(values)
        if any(values is None for values in back):
            raise RuntimeError(f"INSERT INTO {self.table.name} returned {len(rows)} rows incompletely")
        return back  # type: ignore[return-value]  # every slot filled (checked above)


class BulkUpdate:
    """``UPDATE table SET columns FROM unnest(…) WHERE table.key = the row's key``: one statement for
    rows that each set the same columns to values of their own."""

    KEY = "key_"

    def __init__(self, table: Table, key: str, columns: Sequence[str]) -> None:
        self.key = key
        self.columns = tuple(columns)
        self.arrays = _Columns(table, self.columns, [(self.KEY, table.c[key].type)])
        self.statement = (
            update(table)
            .where(table.c[key] == self.arrays.rows.c[self.KEY])
            .values({name: self.arrays.expression(name) for name in columns})
            .execution_options(synchronize_session=False)
        )

    async def execute(
        self, session: AsyncSession, keys: Sequence[Any], rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Set row i's columns (`rows[i]`) on the row whose key is `keys[i]`."""
        if not keys:
            return
        params: dict[str, list[Any]] = {self.KEY: list(keys)}
        for name in self.columns:
            params[name] = self.arrays.values(session, name, [row[name] for row in rows])
        await pg_raw.fetch(session, self.statement, params)


def pair_params(wanted: Mapping[Any, Any]) -> dict[str, list[Any]]:
    """``firsts`` and ``seconds`` for :func:`per_pair` from first → its seconds."""
    firsts: list[Any] = []
    seconds: list[Any] = []
    for key, values in wanted.items():
        for value in values:
            firsts.append(key)
            seconds.append(value)
    return {"firsts": firsts, "seconds": seconds}


def ids_array(name: str) -> Any:
    """``= ANY(:name)`` for a list of bigint ids, one text for any length."""
    return bindparam(name, type_=ARRAY(BigInteger()))


_INSERTS: dict[tuple[str, tuple[str, ...], tuple[str, ...], frozenset[str]], BulkInsert] = {}
_UPDATES: dict[tuple[str, str, tuple[str, ...]], BulkUpdate] = {}
_VARIANTS: dict[tuple[str, tuple[str, ...], tuple[str, ...]], set[frozenset[str]]] = {}


def _columns(rows: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    keys = rows[0].keys()
    if any(row.keys() != keys for row in rows):
        raise ValueError("rows inserted together must name the same columns")
    return tuple(keys)


VARIANTS = 16  # statements of one kind (table, columns) at most, each for its own set of uniform columns


def variant(seen: set[frozenset[str]], uniform: frozenset[str]) -> frozenset[str]:
    """`uniform`, or none when a statement for it would be one more than VARIANTS of its kind (`seen`):
    small batches of varied content could otherwise make ever more texts, each prepared on every
    connection (asyncpg keeps 100 per connection)."""
    if uniform in seen:
        return uniform
    if len(seen) >= VARIANTS:
        return frozenset()  # every column an array: one more statement of the kind at most
    seen.add(uniform)
    return uniform


def uniform_columns(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], keep: bool) -> frozenset[str]:
    """The columns whose value is the same in every row; with `keep`, never all of them (the statement
    then needs one array to make its rows from)."""
    uniform = []
    for name in columns:
        values = [row[name] for row in rows]
        if values.count(values[0]) == len(values):
            uniform.append(name)
    if keep and len(uniform) == len(columns):
        uniform.pop(0)
    return frozenset(uniform)


async def insert_rows(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    fallback: Any,
    ids: bool = False,
) -> list[Any]:
    """Insert `rows` (dicts naming the same columns) into `table`; with `ids`, their new ids in row order.

    On PostgreSQL with a :class:`BulkInsert` (built once per table and set of columns); elsewhere with
    `fallback`, the Core INSERT (``returning(id, sort_by_parameter_order=True)`` when `ids`)."""
    if not rows:
        return []
    if session.get_bind().dialect.name != "postgresql":
        result = await session.execute(fallback, list(rows))
        return [row[0] for row in result.all()] if ids else []
    returning = ("id",) if ids else ()
    columns = _columns(rows)
    kind = (table.name, columns, returning)
    uniform = variant(_VARIANTS.setdefault(kind, set()), uniform_columns(rows, columns, keep=not returning))
    key = (*kind, uniform)
    bulk = _INSERTS.get(key)
    if bulk is None:
        bulk = _INSERTS[key] = BulkInsert(table, columns, returning, key[3])
    return [values[0] for values in await bulk.execute(session, rows)]


async def update_rows(
    session: AsyncSession,
    table: Table,
    key: str,
    columns: Sequence[str],
    keys: Sequence[Any],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """PostgreSQL: set `columns` of the rows whose `key` is `keys[i]` to the values of `rows[i]`, in one
    statement (see :class:`BulkUpdate`)."""
    cache_key = (table.name, key, tuple(columns))
    bulk = _UPDATES.get(cache_key)
    if bulk is None:
        bulk = _UPDATES[cache_key] = BulkUpdate(table, key, columns)
    await bulk.execute(session, keys, rows)


def per_pair(statement: Any, first: ColumnElement[Any], second: ColumnElement[Any]) -> Any:
    """`statement` joined with the (first, second) pairs of the arrays bound as ``firsts`` and
    ``seconds`` (see :func:`pair_params`): the rows of those pairs.

    A plain join, not a LATERAL subquery per pair: asyncpg keeps the statement prepared, and PostgreSQL's
    generic plan for it may be made while the table is young and has no statistics yet. A per-pair
    subquery's plan then searched the (account_id, created_at) index for each pair and read every message
    of the account — more each batch, for every pair — where a plain join at worst hashes the pairs and
    reads the table once per batch until the first ANALYZE (autovacuum's) replans it as an index search
    per pair."""
    pairs = unnest([("firsts", first.type), ("seconds", second.type)])
    return statement.join(pairs, (first == pairs.c.firsts) & (second == pairs.c.seconds))


def per_id(statement: Any, column: ColumnElement[Any], name: str) -> Any:
    """`statement` joined with the ids of the array bound as `name` (as :func:`per_pair`)."""
    ids = unnest([(name, column.type)])
    return statement.join(ids, column == ids.c[name])
