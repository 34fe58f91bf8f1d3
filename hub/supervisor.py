"""The supervisor: one connector per configured channel account, restarted with backoff when it fails.

Each account's state (running, retrying, auth_failed, misconfigured, stopped) is kept here for the API
and written to its ChannelAccount row, so every hub process (and the UI) can show it. One connector
failing never touches the others: each runs in its own task, and every task is kept referenced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.base import (
    AccountContext,
    ChannelAuthError,
    ChannelNotAvailable,
    Connector,
    Sink,
    connector_class,
)
from inbox.items import MessageSender
from inbox.models import ChannelAccount, utcnow

log = logging.getLogger(__name__)

AUTH_FAILED_DELAY = 300.0


@dataclass(slots=True)
class AccountState:
    account_id: int
    name: str
    kind: str
    state: str = "stopped"
    detail: str | None = None
    restarts: int = 0
    since: datetime = field(default_factory=utcnow)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.account_id,
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "detail": self.detail,
            "restarts": self.restarts,
            "since": self.since.isoformat(),
        }


class Supervisor:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        sink: Sink,
        *,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._sink = sink
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self.connectors: dict[int, Connector] = {}
        self.states: dict[int, AccountState] = {}
        self._writes: set[asyncio.Task[None]] = set()

    def sender_for(self, account_id: int) -> MessageSender | None:
        return self.connectors.get(account_id)

    async def add(self, account: AccountContext, problem: str | None = None) -> None:
        """Start supervising `account`; `problem` (a configuration error) keeps it from starting."""
        state = AccountState(account.id, account.name, account.kind)
        self.states[account.id] = state
        if problem:
            await self._set(state, "misconfigured", problem)
            return
        self._tasks[account.id] = asyncio.create_task(
            self._keep_running(account), name=f"okno-{account.name}"
        )

    async def _set(self, state: AccountState, value: str, detail: str | None = None) -> None:
        state.state, state.detail, state.since = value, detail, utcnow()
        # Shielded like every write a cancellation could cut short (see DbCursor.save); `stop` waits for it.
        write = asyncio.create_task(self._record(state))
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)
        await asyncio.shield(write)

    async def _record(self, state: AccountState) -> None:
        value, detail = state.state, state.detail
        try:
            async with self._sessionmaker() as session:
                await session.execute(
                    update(ChannelAccount)
                    .where(ChannelAccount.id == state.account_id)
                    .values(state=value, state_detail=detail, state_changed_at=state.since)
                )
                await session.commit()
        except Exception:  # the state shown may lag; the connector itself must not stop for that
            log.exception("could not record state of account %s", state.name)

    async def _keep_running(self, account: AccountContext) -> None:
        state = self.states[account.id]
        failures = 0
        while True:
            try:
                factory = connector_class(account.kind)
            except ChannelNotAvailable as exc:
                await self._set(state, "misconfigured", str(exc))
                return
            connector = factory(account)
            self.connectors[account.id] = connector
            delay = self._base_delay
            try:
                await self._set(state, "running")
                await connector.run(self._sink)
                failures = 0
                detail = "the receive loop ended; restarting"
                await self._set(state, "retrying", detail)
            except asyncio.CancelledError:
                raise
            except ChannelAuthError as exc:
                await self._set(state, "auth_failed", str(exc) or "credentials refused")
                delay = AUTH_FAILED_DELAY
            except Exception as exc:
                failures += 1
                delay = min(self._max_delay, self._base_delay * 2 ** (failures - 1))
                log.warning("account %s failed (%s); restarting in %.0f s", account.name, exc, delay)
                await self._set(state, "retrying", f"{exc.__class__.__name__}: {exc}")
            finally:
                with contextlib.suppress(Exception):
                    await connector.close()
            state.restarts += 1
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await asyncio.gather(*self._writes, return_exceptions=True)
        for connector in list(self.connectors.values()):
            with contextlib.suppress(Exception):
                await connector.close()
        self.connectors.clear()
        for state in self.states.values():
            if state.state == "running":
                await self._set(state, "stopped")
