"""The supervisor: one connector per configured channel account, restarted with backoff when it fails.

Each account's state (running, retrying, auth_failed, misconfigured, stopped) is kept here for the API
and written to its ChannelAccount row, so every hub process (and the UI) can show it; every change is
logged with its reason (INFO back to running or stopped, WARNING into trouble). One connector failing
never touches the others: each runs in its own task, and every task is kept referenced.

* A failure restarts the connector after ``base_delay`` doubling up to ``max_delay``.
* Refused credentials (``auth_failed``) are retried after 30 s doubling up to 15 min — they may be
  fixed on the platform's side — and at once when the account's configuration changes
  (:meth:`Supervisor.reconfigure`).
* A connector that reconnects by itself (IMAP) reports its outages on its ``health``
  (:class:`channels.base.LinkHealth`): the account shows ``retrying`` with the reason until it
  receives again.

* With several processes on one database (:mod:`hub.holds`), an account whose connector pulls from its
  peer (``single_holder``, see channels.base) runs only in the process holding it; the others show it as
  ``standby`` — their own view, never written to the account's row, which the holder keeps — and start it
  when they get the hold. Losing the hold (the holds' database connection broke) stops the connector at
  once: another process may have it already.

Waiting goes through a :class:`BackoffClock`, so tests drive the backoff without real waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.base import (
    AccountContext,
    ChannelAuthError,
    ChannelNotAvailable,
    Connector,
    LinkHealth,
    Sink,
    connector_class,
    single_holder,
)
from hub.holds import Hold, Holds
from inbox.items import MessageSender
from inbox.models import ChannelAccount, utcnow

log = logging.getLogger(__name__)

AUTH_FAILED_FIRST_DELAY = 30.0
AUTH_FAILED_MAX_DELAY = 15 * 60.0
TROUBLE = frozenset({"retrying", "auth_failed", "misconfigured"})  # logged at WARNING
STANDBY = "standby"  # held by another process: this process's view only (see the module docstring)
STANDBY_DETAIL = "held by another hub process"


class HoldLost(Exception):
    """The process lost its hold on the account while its connector ran."""


def auth_failed_delay(failures: int) -> float:
    """Seconds before trying refused credentials again, after `failures` refusals in a row (from 1)."""
    return min(AUTH_FAILED_MAX_DELAY, AUTH_FAILED_FIRST_DELAY * 2.0 ** max(0, failures - 1))


class BackoffClock(Protocol):
    """How the supervisor waits between attempts: `seconds`, or less if `wake` is set first."""

    async def wait(self, seconds: float, wake: asyncio.Event) -> None: ...


class LoopClock:
    """The real clock: the event loop's timers."""

    async def wait(self, seconds: float, wake: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), seconds)


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
        clock: BackoffClock | None = None,
        holds: Holds | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._sink = sink
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._clock = clock or LoopClock()
        self._accounts: dict[int, AccountContext] = {}
        self._wake: dict[int, asyncio.Event] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self.connectors: dict[int, Connector] = {}
        self.states: dict[int, AccountState] = {}
        self._writes: set[asyncio.Task[None]] = set()
        self._holds = holds
        # Accounts whose replies this process must not claim: held by another process, or not started yet.
        self._elsewhere: set[int] = set()

    def elsewhere(self) -> frozenset[int]:
        """Accounts supervised here whose connector runs in another process (or has not started yet): the
        outbox leaves their replies to the process that can send them."""
        return frozenset(self._elsewhere)

    def sender_for(self, account_id: int) -> MessageSender | None:
        return self.connectors.get(account_id)

    async def add(self, account: AccountContext, problem: str | None = None) -> None:
        """Start supervising `account`; `problem` (a configuration error) keeps it from starting."""
        state = AccountState(account.id, account.name, account.kind)
        self.states[account.id] = state
        self._accounts[account.id] = account
        self._wake[account.id] = asyncio.Event()
        if problem:
            await self._set(state, "misconfigured", problem)
            return
        self._elsewhere.add(account.id)  # until its task knows whether it runs here
        self._tasks[account.id] = asyncio.create_task(
            self._keep_running(account.id), name=f"okno-{account.name}"
        )

    def reconfigure(self, account: AccountContext) -> None:
        """The account's configuration changed: the next start uses `account`, and an account waiting
        to retry (refused credentials above all) is tried again at once, its backoff started over."""
        if account.id not in self._wake:
            raise KeyError(f"account {account.id} is not supervised")
        self._accounts[account.id] = account
        self._wake[account.id].set()
        log.info("account %s: configuration changed; trying it at once", account.name)

    async def _set(self, state: AccountState, value: str, detail: str | None = None) -> None:
        if (value, detail) != (state.state, state.detail):
            level = logging.WARNING if value in TROUBLE else logging.INFO
            reason = f": {detail}" if detail else ""
            log.log(level, "account %s: %s → %s%s", state.name, state.state, value, reason)
        state.state, state.detail, state.since = value, detail, utcnow()
        if value == STANDBY:
            return  # the row is the holder's to write
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

    async def _keep_running(self, account_id: int) -> None:
        state = self.states[account_id]
        wake = self._wake[account_id]
        failures = 0
        refusals = 0
        while True:
            account = self._accounts[account_id]
            wake.clear()
            try:
                factory = connector_class(account.kind)
            except ChannelNotAvailable as exc:
                self._elsewhere.discard(account_id)
                await self._set(state, "misconfigured", str(exc))
                return
            connector = factory(account)
            hold = None
            if self._holds is not None and single_holder(connector):
                hold = self._holds.want(account_id)
                await hold.tried()  # free or held elsewhere: known within one pass of the holds
                if not hold.held:
                    self._elsewhere.add(account_id)
                    self.connectors.pop(account_id, None)
                    await self._set(state, STANDBY, STANDBY_DETAIL)
                    await self._prepare(connector, account.name)
                    with contextlib.suppress(Exception):
                        await connector.close()
                    await hold.gained()
                    failures = refusals = 0
                    continue  # a fresh connector, with the configuration as it is now
            self.connectors[account_id] = connector
            self._elsewhere.discard(account_id)
            delay = self._base_delay
            watch = asyncio.create_task(self._watch(connector, state), name=f"okno-{account.name}-health")
            try:
                await self._set(state, "running")
                await self._run(connector, hold)
                failures = refusals = 0
                detail = "the receive loop ended; restarting"
                await self._set(state, "retrying", detail)
            except asyncio.CancelledError:
                raise
            except HoldLost:
                log.warning("account %s: this process lost its hold; its connector is stopped", account.name)
                delay = 0.0
            except ChannelAuthError as exc:
                refusals += 1
                delay = auth_failed_delay(refusals)
                await self._set(state, "auth_failed", str(exc) or "credentials refused")
                log.warning("account %s: credentials refused; trying again in %.0f s", account.name, delay)
            except Exception as exc:
                failures += 1
                refusals = 0
                delay = min(self._max_delay, self._base_delay * 2 ** (failures - 1))
                log.warning("account %s failed (%s); restarting in %.0f s", account.name, exc, delay)
                await self._set(state, "retrying", f"{exc.__class__.__name__}: {exc}")
            finally:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watch
                with contextlib.suppress(Exception):
                    await connector.close()
            state.restarts += 1
            if hold is not None and not hold.held:
                continue  # straight back to standby: the next start waits for the hold
            await self._wait_backoff(delay, wake, hold)
            if wake.is_set():  # the configuration changed: a fresh start, with no backoff carried over
                failures = refusals = 0

    async def _prepare(self, connector: Connector, name: str) -> None:
        """What a standby can do ahead of taking over (see channels.base: ``prepare``)."""
        prepare = getattr(connector, "prepare", None)
        if prepare is None:
            return
        try:
            await prepare()
        except Exception as exc:  # the start after the takeover meets it again, and says it then
            log.info("account %s: preparing a standby failed (%s)", name, exc)

    async def _run(self, connector: Connector, hold: Hold | None) -> None:
        """The connector's receive loop; stopped (HoldLost) as soon as `hold` is lost."""
        if hold is None:
            await connector.run(self._sink)
            return
        running = asyncio.create_task(connector.run(self._sink))
        lost = asyncio.create_task(hold.lost())
        try:
            await asyncio.wait({running, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            running.cancel()  # nothing if it ended by itself
            await asyncio.gather(running, lost, return_exceptions=True)
        if running.cancelled():  # by us: the hold is gone
            raise HoldLost
        running.result()  # its end or its failure, as without holds

    async def _wait_backoff(self, delay: float, wake: asyncio.Event, hold: Hold | None) -> None:
        """The backoff before a restart; cut short if the hold is lost meanwhile (standby at once)."""
        if hold is None:
            await self._clock.wait(delay, wake)
            return
        backoff = asyncio.create_task(self._clock.wait(delay, wake))
        lost = asyncio.create_task(hold.lost())
        try:
            await asyncio.wait({backoff, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            backoff.cancel()
            lost.cancel()
            await asyncio.gather(backoff, lost, return_exceptions=True)

    async def _watch(self, connector: Connector, state: AccountState) -> None:
        """Show what a running connector says about its link (see channels.base.LinkHealth)."""
        health = getattr(connector, "health", None)
        if not isinstance(health, LinkHealth):
            return
        while True:
            problem = await health.changed()
            if state.state in ("running", "retrying"):
                await self._set(state, "retrying" if problem else "running", problem)

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
