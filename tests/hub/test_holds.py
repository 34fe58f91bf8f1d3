"""Holds: one process per pulling account on a shared PostgreSQL (advisory locks), every account on SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from hub import db
from hub.holds import HOLD_CLASS, Holds
from tests.waiting import eventually, resolved

FAST = 0.05  # seconds between a standby's tries (the default is 1 s)


def postgresql_only(database_url: str) -> None:
    if db.is_sqlite(database_url):
        pytest.skip(
            "holds are advisory locks on PostgreSQL; SQLite is one process per file (every account held)"
        )


async def raw(database_url: str) -> asyncpg.Connection:
    url = make_url(database_url)
    args, params = url.get_dialect()().create_connect_args(url)
    return await asyncpg.connect(*args, **params)


@pytest.fixture
async def two(database_url: str) -> AsyncIterator[tuple[Holds, Holds]]:
    """Two processes' holds on one database (each its own connection)."""
    postgresql_only(database_url)
    first, second = Holds(database_url, retry_seconds=FAST), Holds(database_url, retry_seconds=FAST)
    yield first, second
    await first.stop()
    await second.stop()


async def test_on_sqlite_one_process_holds_every_account_at_once(tmp_path: Path) -> None:
    holds = Holds(f"sqlite+aiosqlite:///{tmp_path / 'okno.db'}")
    await holds.start()
    assert holds.want(1).held and holds.want(2).held
    await holds.stop()


async def test_only_one_of_two_processes_holds_an_account_and_the_other_takes_it_when_the_first_goes(
    two: tuple[Holds, Holds],
) -> None:
    first, second = two
    await first.start()
    await resolved(first.want(7).gained(), "the first process holds account 7")
    await second.start()
    standby = second.want(7)
    # Account 8 is tried in the same pass as 7 (or after it): once 8 is held, 7 has been tried and refused.
    await resolved(second.want(8).gained(), "the second process holds account 8")
    assert not standby.held
    await first.stop()  # its connection closes: PostgreSQL lets its locks go
    await resolved(standby.gained(), "the second process takes account 7")
    assert not first.held(7)


async def test_a_broken_holds_connection_loses_every_hold_at_once_and_takes_them_again(
    two: tuple[Holds, Holds], database_url: str
) -> None:
    first, _ = two
    await first.start()
    seven, nine = first.want(7), first.want(9)
    await resolved(seven.gained(), "account 7 held")
    await resolved(nine.gained(), "account 9 held")
    losses = [asyncio.create_task(hold.lost()) for hold in (seven, nine)]  # waiting before the break
    admin = await raw(database_url)
    try:
        pid = await admin.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = 7",
            HOLD_CLASS,
        )
        await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await resolved(asyncio.gather(*losses), "accounts 7 and 9 let go with the connection")
    await resolved(seven.gained(), "account 7 held again on a fresh connection")
    await eventually(lambda: nine.held or None, "account 9 held again")
