"""IN lists bound as one parameter, so that a statement keeps one shape whatever the list's length.

`in_list(column, name, dialect)` is ``column = ANY(:name)`` (one array parameter) on PostgreSQL and
``column IN (:name)`` (an expanding parameter) elsewhere. A statement built with it can be built once and
reused: SQLAlchemy then finds its compiled form by a memoized cache key instead of building and hashing
an expression tree with every value in it, and on PostgreSQL asyncpg keeps one prepared statement for it
(a literal ``IN ($1, $2, …)`` list is a new statement for every length). `Statements` keeps such
statements per dialect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement


def in_list(column: ColumnElement[Any], name: str, dialect: str) -> ColumnElement[bool]:
    """`column` is one of the values bound to `name` (a list or a set, given at execution)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


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
