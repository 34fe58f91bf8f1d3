"""IN lists bound as one parameter, so that a statement keeps one shape whatever the list's length.

`in_list(column, name, dialect)` is ``column IN (:name)`` with an expanding parameter: a statement built
with it can be built once and reused, and SQLAlchemy then finds its compiled form by a memoized cache key
instead of building and hashing an expression tree with every value in it. `Statements` keeps such
statements per dialect.

Not ``column = ANY(:array)`` on PostgreSQL, though it would let asyncpg keep one prepared statement per
query (an ``IN ($1, $2, …)`` list is a new one for every length): measured with bench/ingest.py, the
batch's queries then cost PostgreSQL three times the CPU per message (0.63 against 0.2 ms), the prepared
statements' generic plans reading far more than the lists' own rows. `ids_in` is the exception, for a
list of ids each looked up by a one-column index (the inbox page's hundred conversations: their SLA waits,
their places in line): the generic plan there is the custom one, and rendering a hundred parameters on
every execution cost more than the query (0.26 ms of an /inbox request's 0.8 for the SLA waits).

On SQLite the list is one JSON array read by ``json_each`` (``column IN (SELECT value FROM json_each(?))``):
the statement's text is then the same at every execution too, where an expanding parameter is rendered
again each time, one parameter per value. SQLite still searches the column's index once per value.

Pairs (an account's external ids, an identity's kind and value) are two lists on SQLite — every pair
of the two is looked up in the two-column index, those nobody asked for are dropped in Python — but on
PostgreSQL `pairs_in` writes them as they are (``(a = 1 AND b IN (…)) OR …``): there the planner took
two lists as an index condition on the first column alone and filtered every row of it.

The ingest path on PostgreSQL uses neither: its look-ups join the pairs as two arrays unnested side by
side (pairs, not two independent lists), and its writes bind each column's values as one array, so every
statement keeps one text and stays prepared (see inbox.pg_bulk).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import JSON, BigInteger, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement


def in_list(column: ColumnElement[Any], name: str, dialect: str) -> ColumnElement[bool]:
    """`column` is one of the values bound to `name` (a list, given at execution)."""
    if dialect == "sqlite":
        # One parameter, a JSON array, read by json_each: an expanding list is rendered again at every
        # execution (a parameter per value, each named and processed: 1-2 ms of CPU for a batch's list).
        values = func.json_each(bindparam(name, type_=JSON())).table_valued("value")
        return column.in_(select(values.c.value))
    return column.in_(bindparam(name, expanding=True))


def ids_in(column: ColumnElement[Any], name: str, dialect: str) -> ColumnElement[bool]:
    """`column` is one of the integers bound to `name` (a list, given at execution), as one parameter on
    either backend: :func:`in_list` on SQLite, ``column = ANY(:name)`` (a bigint array) on PostgreSQL."""
    if dialect == "postgresql":
        return column == func.any(bindparam(name, type_=ARRAY(BigInteger())))
    return in_list(column, name, dialect)


def pairs_in(first: Any, second: Any, wanted: Mapping[Any, Iterable[Any]]) -> ColumnElement[bool]:
    """`first` = one key of `wanted` and `second` one of its values, literally (PostgreSQL; see above)."""
    return or_(*((first == key) & second.in_(sorted(values)) for key, values in sorted(wanted.items())))


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


class Statements:
    """Statements built once per dialect by `build(dialect)` and reused."""

    def __init__(self, build: Callable[[str], Any]) -> None:
        self._build = build
        self._built: dict[str, Any] = {}

    def __call__(self, session: AsyncSession) -> Any:
        dialect = dialect_of(session)
        statement = self._built.get(dialect)
        if statement is None:
            statement = self._built[dialect] = self._build(dialect)
        return statement
