"""A scratch PostgreSQL database of a test's own, on the server of the PostgreSQL pass.

`okno migrate-data` needs an empty target and the hubs behind nginx a database of their own: neither can
share the suite's database (emptied before each test, migrated once). The server is the one
OKNO_TEST_DATABASE_URL names; the role needs CREATEDB (the suite's does: CI and the README create theirs).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterator

import asyncpg
from sqlalchemy.engine import make_url

from tests.conftest import postgresql_url, require_service


async def _admin(url: str, statement: str) -> None:
    parsed = make_url(url)
    conn = await asyncpg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database="postgres",
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A new, empty database named `prefix` + a random suffix; its asyncpg URL; dropped afterwards."""
    base = postgresql_url()
    require_service("postgresql", base is not None, "OKNO_TEST_DATABASE_URL names no PostgreSQL server")
    assert base is not None
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        require_service("postgresql", False, f"cannot create a scratch database: {exc}")
    try:
        yield (
            make_url(base)
            .set(drivername="postgresql+asyncpg", database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
