"""hub.db on PostgreSQL: a pooled connection is pinged before use only when it has been idle for a while.

A busy pool's connections go out unpinged (no BEGIN, ";", ROLLBACK before each batch); a connection that was
idle long enough and died meanwhile (a PostgreSQL restart) is found by its ping and the pool renewed before
anyone's statement fails; one that died without being idle long enough fails its first statement, and the
pool is renewed for the next.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub import db

NEVER = 3600.0  # seconds: no connection of a test is idle this long


def postgresql_only(database_url: str) -> None:
    if db.is_sqlite(database_url):
        pytest.skip("the pool of pinged connections is PostgreSQL's; SQLite has no server to lose")


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def terminate(database_url: str, pid: int) -> None:
    url = make_url(database_url)
    args, params = url.get_dialect()().create_connect_args(url)
    admin = await asyncpg.connect(*args, **params)
    try:
        await admin.fetchval("SELECT pg_terminate_backend($1, 10000)", pid)  # returns once it is gone
    finally:
        await admin.close()


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[dict[str, AsyncEngine]]:
    postgresql_only(database_url)
    made = {
        "always": db.create_engine(database_url, idle_ping=0.0),
        "never": db.create_engine(database_url, idle_ping=NEVER),
    }
    try:
        yield made
    finally:
        for engine in made.values():
            await engine.dispose()


async def test_an_idle_connection_killed_meanwhile_is_replaced_before_the_statement_runs(
    engines: dict[str, AsyncEngine], database_url: str
) -> None:
    engine = engines["always"]
    first = await backend_pid(engine)
    await terminate(database_url, first)
    assert await backend_pid(engine) != first  # the ping found it dead: a new connection served


async def test_a_recently_used_connection_goes_out_unpinged_and_the_pool_recovers_after_its_failure(
    engines: dict[str, AsyncEngine], database_url: str
) -> None:
    engine = engines["never"]
    first = await backend_pid(engine)
    assert await backend_pid(engine) == first  # the same connection again, with no ping in between
    await terminate(database_url, first)
    with pytest.raises(DBAPIError) as failed:
        await backend_pid(engine)
    assert failed.value.connection_invalidated
    assert await backend_pid(engine) != first  # the pool renewed after the failure
