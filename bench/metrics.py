"""What the metrics cost: the hub's ingest queue (``hub.metrics.MeasuredIngestQueue``: every hand-in counted,
timed and given an item id) against the plain ``inbox.ingest.IngestQueue``, in the same run, in alternating
rounds on copies of one migrated SQLite database; and one ``/metrics`` scrape's reads and text
(``read_state`` + ``exposition``) against a bare ``SELECT 1`` round trip on the same engine.

    python bench/metrics.py                       # 3 rounds x 3,000 messages per queue
    python bench/metrics.py -n 300 --rounds 1 --json

Prints messages/s of each queue and the ratio measured / plain (1.0: free), and the scrape's milliseconds
with its ratio to the bare round trip.
"""

from __future__ import annotations

import os
import sys

# `python bench/metrics.py` puts bench/ first on sys.path, where a sibling script named like a standard
# library module (bench/email.py) would shadow that module: take the entry out before importing more.
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import argparse
import asyncio
import gc
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import text

from hub import db, metrics
from inbox.ingest import IngestQueue
from inbox.items import IdentityRef, InboundMessage, Sender
from inbox.models import ChannelAccount
from inbox.policy import InboxPolicy

SENDERS = 500  # distinct senders the messages come from (most messages are from returning ones)


@dataclass(frozen=True, slots=True)
class Result:
    messages_per_round: int
    rounds: int
    concurrency: int
    plain_per_s: float
    measured_per_s: float
    ratio: float
    scrape_ms: float
    bare_select_ms: float
    scrape_ratio: float
    cpus: int


def messages(n: int, account_id: int, round_no: int) -> Iterator[InboundMessage]:
    for i in range(n):
        sender = i % SENDERS
        yield InboundMessage(
            account_id=account_id,
            external_id=f"r{round_no}-{i}",
            sender=Sender((IdentityRef("email", f"client{sender}@example.com"),), name=f"Client {sender}"),
            text=f"Здравствуйте! Где мой заказ № {i}?",
        )


async def prepare(path: Path) -> int:
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await db.migrate(engine)
        async with db.sessionmaker(engine)() as session:
            account = ChannelAccount(name="bench-api", kind="api")
            session.add(account)
            await session.commit()
            return account.id
    finally:
        await engine.dispose()


async def one_round(
    path: Path, queue_class: type[IngestQueue], n: int, concurrency: int, account_id: int, round_no: int
) -> float:
    """Messages per second through `queue_class` on the database at `path`."""
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        queue = queue_class(db.sessionmaker(engine), policy=InboxPolicy(), max_batch=500)
        await queue.start()
        gc.collect()
        gc.freeze()  # as `okno run` does once the hub has started
        cursor = messages(n, account_id, round_no)

        async def sender() -> None:
            for item in cursor:  # one shared iterator: each message is taken by exactly one sender
                await queue.submit(item)

        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(sender())
        seconds = time.perf_counter() - started
        await queue.stop()
    finally:
        await engine.dispose()
        gc.unfreeze()
    return n / seconds


async def scrape_cost(path: Path, times: int) -> tuple[float, float]:
    """Seconds per scrape (reads and text) and per bare SELECT 1, alternated on one engine."""
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    sessionmaker = db.sessionmaker(engine)
    accounts = [metrics.Account(1, "bench-api", "api", "running", 0)]
    scrape = bare = 0.0
    try:
        for _ in range(times):
            started = time.perf_counter()
            async with sessionmaker() as session:
                state = await metrics.read_state(session, accounts, 3, 40)
            metrics.exposition(state)
            scrape += time.perf_counter() - started
            started = time.perf_counter()
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            bare += time.perf_counter() - started
    finally:
        await engine.dispose()
    return scrape / times, bare / times


def bench(args: argparse.Namespace) -> Result:
    plain: list[float] = []
    measured: list[float] = []
    with tempfile.TemporaryDirectory(prefix="okno-bench-metrics-") as tmp:
        template = Path(tmp) / "template.db"
        account_id = asyncio.run(prepare(template))
        last = template
        for round_no in range(args.rounds):
            # Alternate which queue goes first: a machine that slows down during the run hurts both alike.
            order = [IngestQueue, metrics.MeasuredIngestQueue]
            if round_no % 2:
                order.reverse()
            for queue_class in order:
                path = Path(tmp) / f"round-{round_no}-{queue_class.__name__}.db"
                shutil.copy(template, path)
                rate = asyncio.run(
                    one_round(path, queue_class, args.n, args.concurrency, account_id, round_no)
                )
                (measured if queue_class is metrics.MeasuredIngestQueue else plain).append(rate)
                last = path
        scrape, select_one = asyncio.run(scrape_cost(last, args.scrapes))
    plain_rate = sum(plain) / len(plain)
    measured_rate = sum(measured) / len(measured)
    return Result(
        messages_per_round=args.n,
        rounds=args.rounds,
        concurrency=args.concurrency,
        plain_per_s=round(plain_rate, 1),
        measured_per_s=round(measured_rate, 1),
        ratio=round(measured_rate / plain_rate, 3),
        scrape_ms=round(scrape * 1000, 3),
        bare_select_ms=round(select_one * 1000, 3),
        scrape_ratio=round(scrape / select_one, 2) if select_one else 0.0,
        cpus=os.cpu_count() or 0,
    )


def table(r: Result) -> str:
    rows = [
        ("runs", f"{r.rounds} rounds x {r.messages_per_round:,} messages per queue, {r.concurrency} senders"),
        ("plain IngestQueue", f"{r.plain_per_s:,.0f} messages/s"),
        ("MeasuredIngestQueue", f"{r.measured_per_s:,.0f} messages/s"),
        ("ratio measured / plain", f"{r.ratio:.3f}"),
        ("one /metrics scrape", f"{r.scrape_ms:.2f} ms (reads + text)"),
        ("bare SELECT 1", f"{r.bare_select_ms:.2f} ms"),
        ("ratio scrape / SELECT 1", f"{r.scrape_ratio:.1f}x"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = ["Okno metrics cost", "-" * 17]
    lines += [f"{k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=3000, help="messages per round and queue (default 3000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per queue (default 3)")
    parser.add_argument("-c", "--concurrency", type=int, default=100, help="concurrent senders (default 100)")
    parser.add_argument("--scrapes", type=int, default=50, help="scrapes timed (default 50)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = bench(args)
    print(json.dumps(asdict(result)) if args.json else table(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
