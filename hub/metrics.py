"""Prometheus metrics of one hub process, served at ``/metrics`` (:mod:`hub.web.health`).

Two kinds:

* Counted as things happen, process-wide (prometheus-client's own counters and histograms):
  ``okno_ingest_items_total{kind, outcome}`` and ``okno_ingest_seconds{kind}`` (hand-in to commit, for
  every item through the ingest queue: messages from any channel, and refusals going to the quarantine),
  ``okno_outbox_sends_total{result}`` and ``okno_outbox_send_seconds`` (one connector ``send``).
  :class:`MeasuredIngestQueue` and :func:`traced` are the only places that count them; the hub builds
  its ingest queue as the first and wraps every sender it hands the outbox in the second.
* Read when scraped (:func:`read_state`, then :func:`exposition`): the outbox's depth and the age of its
  oldest row waiting, each channel account's connector state and restarts, the quarantine's items per
  account, the live agent and visitor sockets of this process.

Several hub processes are several scrape targets: counters and socket counts are per process; the
database figures (outbox, quarantine) are the same from every process.

The same two places set the log's ``item_id`` (:mod:`hub.logs`): ``in-…`` while an item is handed in,
``out-<outbox id>`` while a connector sends a row.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.logs import ITEM_ID, bound, new_id
from inbox import quarantine
from inbox.ingest import IngestQueue, IngestResult
from inbox.items import Delivery, InboundMessage, MessageSender, OutboundMessage, Refused
from inbox.models import Outbox, utcnow
from inbox.quarantine import RefusedResult

log = logging.getLogger(__name__)
T = TypeVar("T")

# Every state an account can show (hub.supervisor); each is a series, 1 for the current one.
ACCOUNT_STATES = ("running", "retrying", "auth_failed", "misconfigured", "stopped", "retired", "standby")
WAITING = ("pending", "sending")  # outbox rows not yet sent nor dead
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

INGEST_ITEMS = Counter(
    "okno_ingest_items",
    "Items handed to the ingest queue, by item kind and outcome (stored, duplicate, quarantined, error)",
    ["kind", "outcome"],
    registry=None,
)
INGEST_SECONDS = Histogram(
    "okno_ingest_seconds",
    "Seconds from an item's hand-in to its commit (or its failure)",
    ["kind"],
    buckets=LATENCY_BUCKETS,
    registry=None,
)
SENDS = Counter(
    "okno_outbox_sends", "Connector sends of outbox rows, by result (sent, failed)", ["result"], registry=None
)
SEND_SECONDS = Histogram(
    "okno_outbox_send_seconds", "Seconds one connector send took", buckets=LATENCY_BUCKETS, registry=None
)
# The process's resident memory, CPU seconds, open files (process_*; Linux, from /proc).
PROCESS = ProcessCollector(registry=None)
COUNTED: tuple[Collector, ...] = (INGEST_ITEMS, INGEST_SECONDS, SENDS, SEND_SECONDS, PROCESS)


KINDS = ("message", "refused")
OUTCOMES = ("stored", "duplicate", "quarantined", "error")
# The children bound once (a labels() lookup per item costs more than the count itself), and so every
# series exists from the start at 0.
_COUNTS = {(kind, outcome): INGEST_ITEMS.labels(kind, outcome) for kind in KINDS for outcome in OUTCOMES}
_TIMES = {kind: INGEST_SECONDS.labels(kind) for kind in KINDS}
_SENT, _FAILED = SENDS.labels("sent"), SENDS.labels("failed")
# Item ids: this process's random prefix and a sequence (no system call per item).
_PREFIX = f"in-{new_id()[:6]}-"
_SEQUENCE = itertools.count(1)


def _outcome(result: object) -> str:
    if getattr(result, "duplicate", False):
        return "duplicate"
    return "quarantined" if isinstance(result, RefusedResult) else "stored"


async def _measured(kind: str, submit: Callable[[Any], Awaitable[T]], item: Any) -> T:
    """`submit(item)` timed and counted under its own ``item_id``; an exception counts as "error"."""
    token = ITEM_ID.set(ITEM_ID.get() or f"{_PREFIX}{next(_SEQUENCE)}")
    started = time.perf_counter()
    try:
        result = await submit(item)
    except BaseException as exc:
        _COUNTS[kind, "error"].inc()
        log.debug("ingest of a %s failed: %s", kind, exc.__class__.__name__)
        raise
    finally:
        _TIMES[kind].observe(time.perf_counter() - started)
        ITEM_ID.reset(token)
    _COUNTS[kind, _outcome(result)].inc()
    return result


class MeasuredIngestQueue(IngestQueue):
    """The ingest queue, counting and timing every item handed in, each under its own ``item_id``."""

    async def submit(self, item: InboundMessage) -> IngestResult:
        return await _measured("message", super().submit, item)

    async def submit_refused(self, item: Refused) -> RefusedResult:
        return await _measured("refused", super().submit_refused, item)


class TracedSender:
    """A connector's sender, counted and timed, its send under ``item_id`` ``out-<outbox id>``."""

    def __init__(self, sender: MessageSender) -> None:
        self.sender = sender

    async def send(self, out: OutboundMessage) -> Delivery:
        with bound(ITEM_ID, f"out-{out.outbox_id}"):
            started = time.perf_counter()
            try:
                delivery = await self.sender.send(out)
            except BaseException:
                _FAILED.inc()
                raise
            finally:
                SEND_SECONDS.observe(time.perf_counter() - started)
            _SENT.inc()
            return delivery


def traced(sender: MessageSender | None) -> MessageSender | None:
    return None if sender is None else TracedSender(sender)


# ----------------------------------------------------------------------------------------- scraped


@dataclass(frozen=True, slots=True)
class AccountFigures:
    name: str
    kind: str
    state: str | None  # None: no connector supervised in this process
    restarts: int
    quarantined: int


@dataclass(frozen=True, slots=True)
class State:
    """What a scrape reads at its time (the counters above are read as they are)."""

    outbox_depth: dict[str, int]
    outbox_oldest_seconds: float
    accounts: list[AccountFigures]
    agent_sockets: int
    visitor_sockets: int
    taken_at: datetime = field(default_factory=utcnow)


async def outbox_figures(session: AsyncSession) -> tuple[dict[str, int], float]:
    """Rows waiting by status, and the age in seconds of the oldest of them (0 with none)."""
    rows = await session.execute(
        select(Outbox.status, func.count(), func.min(Outbox.created_at))
        .where(Outbox.status.in_(WAITING))
        .group_by(Outbox.status)
    )
    depth = dict.fromkeys(WAITING, 0)
    oldest: datetime | None = None
    for status, count, created in rows:
        depth[str(status)] = int(count)
        if created is not None and (oldest is None or created < oldest):
            oldest = created
    if oldest is None:
        return depth, 0.0
    if oldest.tzinfo is None:  # SQLite gives naive UTC back
        oldest = oldest.replace(tzinfo=utcnow().tzinfo)
    return depth, max(0.0, (utcnow() - oldest).total_seconds())


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    kind: str
    state: str | None
    restarts: int


async def read_state(
    session: AsyncSession, accounts: Iterable[Account], agent_sockets: int, visitor_sockets: int
) -> State:
    """The scraped figures: two short reads (one session, no lock held for long)."""
    depth, oldest = await outbox_figures(session)
    held = await quarantine.counts_by_account(session)
    figures = [
        AccountFigures(a.name, a.kind, a.state, a.restarts, held.get(a.id, 0))
        for a in sorted(accounts, key=lambda a: a.name)
    ]
    return State(depth, oldest, figures, agent_sockets, visitor_sockets)


class _StateCollector(Collector):
    def __init__(self, state: State) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        state = self.state
        depth = GaugeMetricFamily(
            "okno_outbox_depth", "Outbox rows not yet sent nor dead, by status", labels=["status"]
        )
        for status, count in state.outbox_depth.items():
            depth.add_metric([status], count)
        yield depth
        yield GaugeMetricFamily(
            "okno_outbox_oldest_age_seconds",
            "Age of the oldest outbox row not yet sent nor dead (0: none waits)",
            value=state.outbox_oldest_seconds,
        )
        states = GaugeMetricFamily(
            "okno_connector_state",
            "Each channel account's connector state in this process: 1 for the current one",
            labels=["account", "kind", "state"],
        )
        restarts = CounterMetricFamily(
            "okno_connector_restarts",
            "Connector restarts of each account in this process",
            labels=["account"],
        )
        held = GaugeMetricFamily(
            "okno_quarantine_items", "Items waiting in the quarantine, by account", labels=["account"]
        )
        for account in state.accounts:
            if account.state is not None:
                names = (
                    ACCOUNT_STATES if account.state in ACCOUNT_STATES else (*ACCOUNT_STATES, account.state)
                )
                for name in names:
                    states.add_metric([account.name, account.kind, name], 1 if name == account.state else 0)
                restarts.add_metric([account.name], account.restarts)
            held.add_metric([account.name], account.quarantined)
        yield states
        yield restarts
        yield held
        sockets = GaugeMetricFamily(
            "okno_sockets", "Open WebSockets of this process, by who holds them", labels=["side"]
        )
        sockets.add_metric(["agent"], state.agent_sockets)
        sockets.add_metric(["visitor"], state.visitor_sockets)
        yield sockets


def exposition(state: State) -> bytes:
    """The text format of the counters and of `state` (the CPU work here is small: a few dozen series)."""
    registry = CollectorRegistry()
    for collector in COUNTED:
        registry.register(collector)
    registry.register(_StateCollector(state))
    return generate_latest(registry)
