"""The supervisor: one connector per account, restarts with backoff, states, isolation of failures."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.base import AccountContext, Capabilities, ChannelAuthError, Sink, register
from hub.supervisor import Supervisor
from inbox.ingest import IngestResult
from inbox.items import Delivery, InboundMessage, OutboundMessage
from inbox.models import ChannelAccount
from tests.waiting import eventually


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
