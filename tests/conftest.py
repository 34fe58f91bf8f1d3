"""Shared fixtures: a migrated database on SQLite (default) or PostgreSQL (OKNO_TEST_DATABASE_URL).

The schema is migrated once per run with the real Alembic migrations; each test starts from empty tables.
`require_service` skips a test whose external service is missing, except under OKNO_REQUIRE_SERVICES=1
(set by .ci/run), where a missing service fails the test instead.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hub import db
from hub.runtime import Hub
from hub.settings import Settings, load
from inbox.models import Base, ChannelAccount

# hub/db.py refuses at once a task's second SQLite transaction while its first holds the write lock (it would
# wait for itself for busy_timeout); hubs the tests start as processes inherit it.
os.environ.setdefault("OKNO_DEBUG_SQLITE_NESTING", "1")

SHARED_FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures"


POSTGRESQL_ONLY_REASON = (
    "PostgreSQL only (its own scratch database on the server of OKNO_TEST_DATABASE_URL): runs in the "
    "PostgreSQL pass"
)


def postgresql_url() -> str | None:
    """OKNO_TEST_DATABASE_URL when it is PostgreSQL (the PostgreSQL pass), else None."""
    url = os.environ.get("OKNO_TEST_DATABASE_URL")
    return url if url and not db.is_sqlite(url) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a PostgreSQL run, leave out the tests that never touch the database under test (no `database_url`
    among their fixtures, no `database_backend` or `postgresql_only` mark): parsers, connectors against their
    peers, settings. They do not depend on the backend, the SQLite run has run them, and running them twice
    only doubled CI's time. ``OKNO_TEST_EVERYTHING=1`` runs them all the same.

    A `postgresql_only` test (one that makes its own scratch PostgreSQL database: `okno migrate-data`, the
    hubs behind nginx) runs once, in the PostgreSQL pass; the SQLite pass skips it, saying so."""
    if postgresql_url() is None:
        skip = pytest.mark.skip(reason=POSTGRESQL_ONLY_REASON)
        for item in items:
            if item.get_closest_marker("postgresql_only"):
                item.add_marker(skip)
        return
    if os.environ.get("OKNO_TEST_EVERYTHING") == "1":
        return
    kept, left = [], []
    for item in items:
        touches = "database_url" in getattr(item, "fixturenames", ())
        marked = item.get_closest_marker("database_backend") or item.get_closest_marker("postgresql_only")
        (kept if touches or marked else left).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


def require_service(name: str, available: bool, why: str = "") -> None:
    """Skip (on a laptop) or fail (in CI) when a service a test needs is missing."""
    if available:
        return
    message = f"service not available: {name}{' (' + why + ')' if why else ''}"
    if os.environ.get("OKNO_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def shared_fixture_dir(channel: str) -> Path:
    """../shared/fixtures/<channel>: real payloads from other projects (absent outside the workspace)."""
    path = SHARED_FIXTURES / channel
    require_service("shared fixtures", path.is_dir(), str(path))
    return path


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("OKNO_TEST_DATABASE_URL")
    if not url:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'okno.db'}"

    async def prepare() -> None:
        engine = db.create_engine(url)
        try:
            await db.migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(prepare())
    yield url


async def _empty_tables(engine: AsyncEngine) -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await conn.execute(table.delete())


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(database_url)
    await _empty_tables(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return db.sessionmaker(engine)


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture
async def api_account(session: AsyncSession) -> ChannelAccount:
    account = ChannelAccount(name="shop", kind="api")
    session.add(account)
    await session.commit()
    return account


def make_settings(database_url: str, **overrides: Any) -> Settings:
    if overrides.get("bus_url"):  # the rate limits on Redis: a budget of this test's own, not every run's
        overrides.setdefault("rate_limit_prefix", f"okno-test-{uuid.uuid4().hex[:12]}:rl")
    return load(database_url=database_url, **overrides)


@pytest.fixture
async def hub_factory(engine: AsyncEngine, database_url: str) -> AsyncIterator[Any]:
    """Build and start hubs on the test database (already migrated and emptied); all stopped after."""
    started: list[Hub] = []

    async def build(**overrides: Any) -> Hub:
        hub = Hub(make_settings(database_url, **overrides))
        await hub.start(migrate=False)
        started.append(hub)
        return hub

    yield build
    for hub in reversed(started):
        await hub.stop()


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """A command run in the test process (``hub.cli.main``) sets up the root logger (``hub.logs.configure``)
    on the stderr of that moment, which pytest's capture closes after the test: every later log line then
    failed with "I/O operation on closed file". After each test the stream handlers such a command added are
    taken off the root logger (pytest's own capture handlers, subclasses, are left to pytest) and the
    levels are put back."""
    root = logging.getLogger()
    handlers, level = set(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in list(logging.root.manager.loggerDict)}
    yield
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler and handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, was in levels.items():
        logging.getLogger(name).setLevel(was)


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """Collect each test's garbage at its end (an unclosed connection warns here, in the test that left it),
    then freeze what survived: the next collection scans only what later tests create. Without the freeze a
    collection walked every module and object the run had loaded so far — seconds per test by the end."""
    yield
    gc.collect()
    gc.freeze()


REDIS_URL = os.environ.get("OKNO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """The test Redis (database 15), or the run fails where services are required (else skips)."""
    probe = redis.Redis.from_url(REDIS_URL)
    try:
        await probe.ping()
        up = True
    except (redis.ConnectionError, OSError):
        up = False
    finally:
        await probe.aclose()
    require_service("redis", up, REDIS_URL)
    yield REDIS_URL
