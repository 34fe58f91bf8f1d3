"""Which channel accounts this process holds: one holder per pulling account when several processes share
one PostgreSQL database.

On PostgreSQL a hold is a session-level advisory lock, ``pg_try_advisory_lock(HOLD_CLASS, account_id)``,
taken on ONE connection of its own, kept outside the engine's pool (a pooled connection would carry the
locks back into the pool, and any other checkout could release them). Every ``retry_seconds`` the same loop
checks that connection with a heartbeat and tries the locks this process wants and does not have yet: a
standby takes over within about that long after the holder's connection closes (a process killed with
``kill -9`` loses its locks as soon as PostgreSQL sees its socket close). If the connection breaks or a
heartbeat goes unanswered for ``timeout_seconds``, every hold is lost at once — another process may already
have the accounts — and the holds are tried again on a fresh connection.

On SQLite one process owns the database file (hub.cli's lock), so every account is held from the start and
no lock is taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy.engine import make_url

from hub import db

log = logging.getLogger(__name__)

HOLD_CLASS = db.LOCK_CLASS  # the first key of every hold; the second is the account's id


class Hold:
    """This process's hold on one account: whether it has it now, and waits for it to come or to go."""

    def __init__(self, account_id: int, *, held: bool = False) -> None:
        self.account_id = account_id
        self._gained = asyncio.Event()
        self._lost = asyncio.Event()
        self._tried = asyncio.Event()  # the lock was tried once (or could not be: no connection)
        if held:
            self._tried.set()
            self._gained.set()
        else:
            self._lost.set()

    @property
    def held(self) -> bool:
        return self._gained.is_set()

    async def gained(self) -> None:
        """Return once this process holds the account (at once if it does)."""
        await self._gained.wait()

    async def lost(self) -> None:
        """Return once this process no longer holds the account (at once if it does not)."""
        await self._lost.wait()

    async def tried(self) -> None:
        """Return once the lock was tried at least once: whether another process holds it is known."""
        await self._tried.wait()

    def _gain(self) -> None:
        self._lost.clear()
        self._gained.set()

    def _lose(self) -> None:
        self._gained.clear()
        self._lost.set()


class Holds:
    """The holds of one process on one database (see the module docstring)."""

    def __init__(
        self, database_url: str, *, retry_seconds: float = 1.0, timeout_seconds: float = 5.0
    ) -> None:
        self.shared = not db.is_sqlite(database_url)  # False: this process is the only one, it holds all
        self._url = database_url
        self.retry_seconds = retry_seconds
        self.timeout_seconds = timeout_seconds
        self._holds: dict[int, Hold] = {}
        self._conn: Any = None  # an asyncpg connection (asyncpg is imported only where PostgreSQL is used)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._down = False  # the last pass failed
        if self.shared and make_url(database_url).get_driver_name() != "asyncpg":
            scheme = database_url.split(":")[0]
            raise ValueError(f"database_url: use the asyncpg driver (postgresql+asyncpg://), not {scheme}")

    def want(self, account_id: int) -> Hold:
        """This process wants to hold `account_id`: its Hold, held at once on SQLite, else once the lock
        is free (tried at once, then every ``retry_seconds``)."""
        hold = self._holds.get(account_id)
        if hold is None:
            hold = self._holds[account_id] = Hold(account_id, held=not self.shared)
            self._wake.set()
        return hold

    def held(self, account_id: int) -> bool:
        hold = self._holds.get(account_id)
        return hold is not None and hold.held

    async def start(self) -> None:
        if self.shared and self._task is None:
            self._task = asyncio.create_task(self._keep(), name="okno-holds")

    async def stop(self) -> None:
        """Let every hold go (closing the connection releases its locks)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop_connection()
        for hold in self._holds.values():
            if self.shared:
                hold._lose()

    async def _keep(self) -> None:
        while True:
            self._wake.clear()  # a want() during the pass below wakes the next one at once
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    await self._pass()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection broke or did not answer: nothing is held any more
                held = [h.account_id for h in self._holds.values() if h.held]
                # Said once per outage (and whenever holds are let go), not once per retry.
                level = logging.WARNING if held or not self._down else logging.DEBUG
                log.log(
                    level,
                    "holds: no database connection for the holds (%s: %s); accounts let go: %s",
                    exc.__class__.__name__,
                    exc,
                    held or "none",
                )
                self._down = True
                for hold in self._holds.values():
                    hold._lose()
                    hold._tried.set()
                await self._drop_connection()
            else:
                if self._down:
                    log.info("holds: the database connection for the holds is back")
                self._down = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.retry_seconds):
                    await self._wake.wait()

    async def _pass(self) -> None:
        """One heartbeat, then one try of each lock wanted and not held."""
        if self._conn is None:
            self._conn = await self._connect()
            # A connection the server closed is noticed at once, not at the next heartbeat.
            self._conn.add_termination_listener(self._on_closed)
        conn = self._conn
        await conn.fetchval("SELECT 1")
        waiting = [hold for hold in self._holds.values() if not hold.held]
        if waiting:  # every lock wanted, tried in one round trip
            taken = set(
                await conn.fetchval(
                    "SELECT coalesce(array_agg(a), '{}') FROM unnest($2::int4[]) AS a"
                    " WHERE pg_try_advisory_lock($1, a)",
                    HOLD_CLASS,
                    [hold.account_id for hold in waiting],
                )
            )
            for hold in waiting:
                if hold.account_id in taken:
                    log.info("holds: this process now holds account %s", hold.account_id)
                    hold._gain()
                hold._tried.set()

    def _on_closed(self, _conn: Any) -> None:
        self._wake.set()

    async def _connect(self) -> Any:
        import asyncpg  # type: ignore[import-untyped]  # no stubs; PostgreSQL only

        engine_url = make_url(self._url)
        dialect = engine_url.get_dialect()()
        args, params = dialect.create_connect_args(engine_url)
        return await asyncpg.connect(*args, **params)

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        conn.remove_termination_listener(self._on_closed)  # our own close wakes nothing
        try:
            async with asyncio.timeout(self.timeout_seconds):
                await conn.close()
        except Exception:  # a dead socket: drop it without a goodbye
            conn.terminate()
