"""The supervisor: one connector per account, restarts with backoff, states, isolation of failures."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.base import AccountContext, Capabilities, ChannelAuthError, LinkHealth, Sink, register
from hub import db
from hub.cli import _reload_accounts
from hub.holds import HOLD_CLASS, Holds
from hub.runtime import Hub
from hub.settings import AccountSettings
from hub.supervisor import Supervisor
from inbox.ingest import IngestResult
from inbox.items import Delivery, InboundMessage, OutboundMessage
from inbox.models import ChannelAccount
from tests.waiting import event_set, eventually


@register("test-flaky")
class FlakyConnector:
    """Fails its first two runs, then runs until cancelled."""

    kind: ClassVar[str] = "test-flaky"
    capabilities: ClassVar[Capabilities] = Capabilities()
    runs: ClassVar[int] = 0
    closed: ClassVar[int] = 0

    def __init__(self, account: AccountContext) -> None:
        self.account = account
        self.ready = asyncio.Event()

    async def run(self, sink: Sink) -> None:
        FlakyConnector.runs += 1
        if FlakyConnector.runs <= 2:
            raise ConnectionError(f"network down (run {FlakyConnector.runs})")
        self.ready.set()
        await asyncio.Event().wait()

    async def send(self, out: OutboundMessage) -> Delivery:
        return Delivery(external_id="x")

    async def close(self) -> None:
        FlakyConnector.closed += 1


@register("test-badauth")
class BadAuthConnector(FlakyConnector):
    kind: ClassVar[str] = "test-badauth"

    async def run(self, sink: Sink) -> None:
        raise ChannelAuthError("token rejected")


async def no_sink(item: InboundMessage) -> IngestResult:
    raise AssertionError("not used")


async def accounts(session: AsyncSession, *kinds: str) -> list[AccountContext]:
    out = []
    for kind in kinds:
        row = ChannelAccount(name=f"acc-{kind}", kind=kind)
        session.add(row)
        await session.flush()
        out.append(AccountContext(id=row.id, name=row.name, kind=kind))
    await session.commit()
    return out


async def test_failed_connector_is_restarted_with_backoff_and_others_keep_running(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    FlakyConnector.runs = FlakyConnector.closed = 0
    flaky, bad, missing = await accounts(session, "test-flaky", "test-badauth", "fax")
    sup = Supervisor(sessionmaker, no_sink, base_delay=0.01, max_delay=0.05)
    for account in (flaky, bad, missing):
        await sup.add(account)
    try:
        await eventually(
            lambda: sup.states[flaky.id].state == "running" and FlakyConnector.runs == 3, "the third run"
        )
        assert sup.states[flaky.id].restarts == 2
        assert FlakyConnector.closed >= 2  # every failed instance was closed
        await eventually(lambda: sup.states[bad.id].state == "auth_failed", "auth_failed shown")
        assert sup.states[bad.id].detail == "token rejected"
        await eventually(lambda: sup.states[missing.id].state == "misconfigured", "misconfigured shown")
        assert "unknown channel 'fax'" in (sup.states[missing.id].detail or "")
        assert sup.sender_for(flaky.id) is not None
    finally:
        await sup.stop()
    row = await session.get_one(ChannelAccount, flaky.id, populate_existing=True)
    assert row.state == "stopped"


async def test_configuration_problem_is_shown_not_started(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    (acc,) = await accounts(session, "api")
    sup = Supervisor(sessionmaker, no_sink)
    await sup.add(acc, problem="environment variable SHOP_TOKEN (for token) is not set")
    await sup.stop()
    assert sup.states[acc.id].state == "misconfigured"
    row = await session.get_one(ChannelAccount, acc.id, populate_existing=True)
    assert row.state_detail == "environment variable SHOP_TOKEN (for token) is not set"


class ManualClock:
    """The supervisor's backoff clock in a test: records each wait, which ends when the test advances
    the clock (or the supervisor's wake event is set). Nothing waits for real time."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self._steps = asyncio.Semaphore(0)

    async def wait(self, seconds: float, wake: asyncio.Event) -> None:
        self.waits.append(seconds)
        step = asyncio.ensure_future(self._steps.acquire())
        woken = asyncio.ensure_future(wake.wait())
        _, pending = await asyncio.wait({step, woken}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()

    def advance(self) -> None:
        self._steps.release()


@register("test-credentials")
class CredentialsConnector(FlakyConnector):
    """Refuses to log in until its account's options carry the right token."""

    kind: ClassVar[str] = "test-credentials"

    async def run(self, sink: Sink) -> None:
        if self.account.options.get("token") != "right" and self.account.options.get("key") != "right":
            raise ChannelAuthError("token rejected")
        self.ready.set()
        await asyncio.Event().wait()


@register("test-link")
class LinkConnector(FlakyConnector):
    """Keeps running while its link comes and goes, and says so on its health."""

    kind: ClassVar[str] = "test-link"
    last: ClassVar[LinkConnector | None] = None

    def __init__(self, account: AccountContext) -> None:
        super().__init__(account)
        self.health = LinkHealth()
        LinkConnector.last = self

    async def run(self, sink: Sink) -> None:
        await asyncio.Event().wait()


async def test_refused_credentials_are_retried_after_30_s_doubling_to_15_min(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    (account,) = await accounts(session, "test-badauth")
    clock = ManualClock()
    sup = Supervisor(sessionmaker, no_sink, clock=clock)
    await sup.add(account)
    try:
        for attempt in range(1, 8):
            await eventually(lambda n=attempt: len(clock.waits) == n, f"refusal {attempt} waiting")
            assert sup.states[account.id].state == "auth_failed"
            clock.advance()
    finally:
        await sup.stop()
    assert clock.waits == [30, 60, 120, 240, 480, 900, 900]


async def test_a_configuration_change_tries_refused_credentials_at_once(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    (account,) = await accounts(session, "test-credentials")
    clock = ManualClock()  # never advanced: only the configuration change can end the wait
    sup = Supervisor(sessionmaker, no_sink, clock=clock)
    await sup.add(account)
    try:
        await eventually(lambda: sup.states[account.id].state == "auth_failed", "the token refused")
        await eventually(lambda: clock.waits == [30], "waiting 30 s to try again")
        sup.reconfigure(replace(account, options={"token": "right"}))
        await eventually(lambda: sup.states[account.id].state == "running", "running with the new token")
    finally:
        await sup.stop()
    assert clock.waits == [30]


async def test_state_changes_are_logged_with_their_reason(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    (account,) = await accounts(session, "test-credentials")
    caplog.set_level(logging.INFO, logger="hub.supervisor")
    sup = Supervisor(sessionmaker, no_sink, clock=ManualClock())
    await sup.add(account)
    try:
        await eventually(lambda: sup.states[account.id].state == "auth_failed", "the token refused")
        sup.reconfigure(replace(account, options={"token": "right"}))
        await eventually(lambda: sup.states[account.id].state == "running", "running with the new token")
    finally:
        await sup.stop()
    changes = [(r.levelname, r.getMessage()) for r in caplog.records if "→" in r.getMessage()]
    assert changes == [
        ("INFO", "account acc-test-credentials: stopped → running"),
        ("WARNING", "account acc-test-credentials: running → auth_failed: token rejected"),
        ("INFO", "account acc-test-credentials: auth_failed → running"),
        ("INFO", "account acc-test-credentials: running → stopped"),
    ]


async def test_a_connector_reconnecting_by_itself_shows_retrying_until_its_link_is_back(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    (account,) = await accounts(session, "test-link")
    sup = Supervisor(sessionmaker, no_sink, clock=ManualClock())
    await sup.add(account)
    try:
        await eventually(lambda: sup.states[account.id].state == "running", "running")
        connector = LinkConnector.last
        assert connector is not None
        connector.health.report("cannot connect to imap.example.com:993: ConnectionRefusedError")
        await eventually(lambda: sup.states[account.id].state == "retrying", "retrying shown")
        assert (
            sup.states[account.id].detail == "cannot connect to imap.example.com:993: ConnectionRefusedError"
        )
        connector.health.report(None)
        await eventually(lambda: sup.states[account.id].state == "running", "running again")
        assert sup.states[account.id].detail is None
    finally:
        await sup.stop()
    row = await session.get_one(ChannelAccount, account.id, populate_existing=True)
    assert row.state == "stopped"


async def test_a_reloaded_configuration_tries_an_auth_failed_account_at_once(hub_factory: Any) -> None:
    hub: Hub = await hub_factory(accounts={"bot": {"kind": "test-credentials", "key": "wrong"}})
    state = next(s for s in hub.supervisor.states.values() if s.name == "bot")
    await eventually(lambda: state.state == "auth_failed", "the key refused")
    same = hub.settings.model_copy(
        update={"accounts": {"bot": AccountSettings(kind="test-credentials", key="wrong")}}
    )
    assert hub.apply_account_changes(same) == []  # nothing changed: no retry out of turn
    fixed = hub.settings.model_copy(
        update={"accounts": {"bot": AccountSettings(kind="test-credentials", key="right")}}
    )
    assert hub.apply_account_changes(fixed) == ["bot"]
    await eventually(lambda: state.state == "running", "running with the new key, not 30 s later")


async def test_sighup_rereads_the_configuration_file_and_applies_account_changes(
    hub_factory: Any, tmp_path: Path
) -> None:
    hub: Hub = await hub_factory(accounts={"bot": {"kind": "test-credentials", "key": "wrong"}})
    state = next(s for s in hub.supervisor.states.values() if s.name == "bot")
    await eventually(lambda: state.state == "auth_failed", "the key refused")
    config = tmp_path / "okno.toml"
    config.write_text('[accounts.bot]\nkind = "test-credentials"\nkey = "right"\n')
    hub.settings.config_file = str(config)
    _reload_accounts(hub)  # what the SIGHUP handler of `okno serve` calls
    await eventually(lambda: state.state == "running", "running with the key from the file")


@register("test-pull")
class PullingConnector(FlakyConnector):
    """Pulls from its peer (single holder, the default): runs until cancelled; counts its runs and closes."""

    kind: ClassVar[str] = "test-pull"

    async def run(self, sink: Sink) -> None:
        PullingConnector.runs += 1
        self.ready.set()
        await asyncio.Event().wait()


async def test_an_account_held_by_another_process_stands_by_and_takes_over_when_the_holder_lets_go(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    if db.is_sqlite(database_url):
        pytest.skip(
            "holds are advisory locks on PostgreSQL; SQLite is one process per file (every account held)"
        )
    PullingConnector.runs = PullingConnector.closed = 0
    (account,) = await accounts(session, "test-pull")
    # The holder re-tries a lost connection only after a long while: a standby takes the account first.
    holds_a, holds_b = Holds(database_url, retry_seconds=30), Holds(database_url, retry_seconds=0.05)
    a = Supervisor(sessionmaker, no_sink, holds=holds_a)
    b = Supervisor(sessionmaker, no_sink, holds=holds_b)
    try:
        await holds_a.start()
        await a.add(account)
        await eventually(lambda: a.states[account.id].state == "running", "the first process runs it")
        await event_set(a.connectors[account.id].ready, "the first process's connector receives")
        await holds_b.start()
        await b.add(account)
        await eventually(lambda: b.states[account.id].state == "standby", "the second one stands by")
        assert account.id in b.elsewhere() and account.id not in a.elsewhere()
        assert account.id not in b.connectors and PullingConnector.runs == 1
        await session.refresh(row := await session.get_one(ChannelAccount, account.id))
        assert row.state == "running"  # standby is the second process's own view: the holder's row stands

        # The holder's database connection breaks: its connector stops, the standby takes the account.
        await terminate_holds_connection(database_url, account.id)
        await eventually(lambda: b.states[account.id].state == "running", "the second process runs it")
        await event_set(b.connectors[account.id].ready, "the second process's connector receives")
        assert a.states[account.id].state == "standby" and account.id not in a.connectors
        assert PullingConnector.runs == 2 and b.elsewhere() == frozenset() and account.id in a.elsewhere()
    finally:
        for sup, holds in ((a, holds_a), (b, holds_b)):
            await sup.stop()
            await holds.stop()


async def terminate_holds_connection(database_url: str, account_id: int) -> None:
    """Cut the connection holding `account_id`'s lock, as a network failure or a restarted server would."""
    import asyncpg  # type: ignore[import-untyped]

    url = make_url(database_url)
    args, params = url.get_dialect()().create_connect_args(url)
    admin = await asyncpg.connect(*args, **params)
    try:
        pid = await admin.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2",
            HOLD_CLASS,
            account_id,
        )
        await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
