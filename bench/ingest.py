"""Ingest benchmark: N synthetic messages through the real pipeline, against a bare-commit baseline.

    python bench/ingest.py                      # SQLite in a temp dir, 20,000 messages
    python bench/ingest.py -n 2000 --json       # machine-readable
    python bench/ingest.py --database-url postgresql+asyncpg://postgres@127.0.0.1/postgres

The messages (new and returning senders, API / e-mail / Telegram / VK shaped identities) are handed to
`inbox.ingest.IngestQueue` (group commit) by C concurrent senders, on an engine made by
`hub.db.create_engine` (SQLite: WAL, synchronous=FULL, BEGIN IMMEDIATE) and migrated by `hub.db.migrate`.
Latency is measured per message from the hand-over (`submit`) to its return, which happens only after the
commit that holds the message. The process's CPU time over the same span (every thread: the event loop and
the database driver's) is printed per message: on a shared machine it moves less than the rates do.
In the same run, with the same journal mode and synchronous setting, it measures the rate of bare
single-row commits (one INSERT, then COMMIT) into a one-table database with the plain driver (sqlite3,
or asyncpg on PostgreSQL), and prints the ratio hub / bare.

On PostgreSQL it creates a scratch database (okno_bench_<random>) next to the one in the URL and drops it
at the end: the role needs CREATEDB. With --processes N it also splits the messages over N hub processes,
and measures the ceiling in the same run: the same rows from bare asyncpg in N processes, in batches of -c
(bench/ingest_bare.py), printing the hub's ratio to it. PostgreSQL's CPU is that of the backends connected
to the bench's own database.
"""

from __future__ import annotations

import os
import sys

# `python bench/ingest.py` puts bench/ first on sys.path, where a sibling script named like a standard
# library module (bench/email.py) would shadow that module: take the entry out before importing more.
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == os.path.dirname(os.path.abspath(__file__)):
    # ... and the repository root in its place: this script imports a sibling (bench.ingest_bare).
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import argparse
import asyncio
import gc
import itertools
import json
import random
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # ships no type information
from sqlalchemy import func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import ingest_bare
from hub import db
from inbox.ingest import IngestQueue
from inbox.items import IdentityKind, IdentityRef, InboundMessage, Sender
from inbox.models import ChannelAccount, Contact, Message
from inbox.policy import InboxPolicy

CHANNELS: tuple[str, ...] = ("api", "email", "telegram", "vk")
TEXTS = (
    "Здравствуйте! Когда будет доставлен мой заказ № {n}?",
    "Hello, could you send me the invoice for order #{n}, please?",
    "Добрый день. Хочу изменить адрес доставки: ул. Ленина, д. {n}.",
    "Hi! Is the discount still valid for item {n}? Thanks.",
    "Подскажите, пожалуйста, сколько стоит тариф на {n} операторов?",
)
BARE_PAYLOAD = "x" * 200
SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]


@dataclass(frozen=True, slots=True)
class Bare:
    driver: str
    commits: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.commits / self.seconds if self.seconds else 0.0


@dataclass(frozen=True, slots=True)
class Result:
    backend: str
    durability: str
    messages: int
    new_sender_share: float
    channels: tuple[str, ...]
    concurrency: int
    max_batch: int
    gc_freeze: bool
    seconds: float
    messages_per_s: float
    cpu_ms_per_message: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    transactions: int
    contacts: int
    stored_messages: int
    bare_driver: str
    bare_commits: int
    bare_seconds: float
    bare_commits_per_s: float
    ratio: float
    cpus: int
    postgres_cpu_ms_per_message: float | None = None  # the backends of its database (see postgres_cpu)
    processes: int = 1  # with more (--processes N, PostgreSQL): the same N messages split over N processes
    processes_messages_per_s: float | None = None
    processes_seconds: float | None = None
    processes_cpu_ms_per_message: float | None = None  # the processes' CPU summed
    processes_postgres_cpu_ms_per_message: float | None = None
    processes_p50_ms: float | None = None
    processes_p99_ms: float | None = None
    processes_transactions: int | None = None
    processes_contacts: int | None = None
    processes_ratio_to_one: float | None = None
    processes_ratio_to_bare: float | None = None
    # The ceiling (bench/ingest_bare.py): the same rows from bare asyncpg in as many processes, same run.
    ceiling_messages_per_s: float | None = None
    ceiling_seconds: float | None = None
    ceiling_cpu_ms_per_message: float | None = None
    ceiling_postgres_cpu_ms_per_message: float | None = None
    ceiling_transactions: int | None = None
    ceiling_contacts: int | None = None  # as many cards as the hub's processes made: the same senders
    processes_ratio_to_ceiling: float | None = None


def _identities(channel: str, sender_no: int) -> tuple[IdentityRef, ...]:
    kind: IdentityKind
    if channel == "api":
        refs = [IdentityRef("external", f"bench-api:cust-{sender_no}")]
        if sender_no % 3 == 0:
            refs.append(IdentityRef("email", f"cust{sender_no}@example.com"))
        return tuple(refs)
    if channel == "email":
        return (IdentityRef("email", f"user{sender_no}@example.com"),)
    kind = "telegram" if channel == "telegram" else "vk"
    return (IdentityRef(kind, str((100_000_000 if kind == "telegram" else 200_000_000) + sender_no)),)


def synthesize(
    n: int, accounts: dict[str, int], *, new_share: float, seed: int, part: int = 0
) -> Iterator[InboundMessage]:
    """`n` messages; about `new_share` of them from senders not seen before, the rest from returning ones.

    Made one at a time as the senders ask, the way a hub receives them: holding all of them up front would
    make the garbage collector walk tens of thousands of waiting items, a cost no real hub pays. Each
    `part` (one process of several) has senders and external ids of its own.
    """
    rng = random.Random(seed + part)
    seen: dict[str, list[int]] = {channel: [] for channel in CHANNELS}
    next_sender = itertools.count(1 + part * 10_000_000)
    for i in range(n):
        channel = rng.choice(CHANNELS)
        pool = seen[channel]
        if not pool or rng.random() < new_share:
            sender_no = next(next_sender)
            pool.append(sender_no)
        else:
            sender_no = rng.choice(pool)
        yield InboundMessage(
            account_id=accounts[channel],
            external_id=f"bench-{i}" if not part else f"bench-{part}-{i}",
            sender=Sender(_identities(channel, sender_no), name=f"Sender {sender_no}"),
            text=rng.choice(TEXTS).format(n=rng.randint(1, 99_999)),
            subject="Order question" if channel == "email" else None,
        )


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def _accounts(engine: AsyncEngine) -> dict[str, int]:
    async with db.sessionmaker(engine)() as session:
        rows = {channel: ChannelAccount(name=f"bench-{channel}", kind=channel) for channel in CHANNELS}
        session.add_all(rows.values())
        await session.commit()
        return {channel: row.id for channel, row in rows.items()}


async def _durability(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
            sync = (await conn.execute(text("PRAGMA synchronous"))).scalar()
            names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
            return f"journal_mode={str(mode).upper()}, synchronous={names.get(int(sync or 0), sync)}"
        commit = (await conn.execute(text("SHOW synchronous_commit"))).scalar()
        fsync = (await conn.execute(text("SHOW fsync"))).scalar()
        return f"synchronous_commit={commit}, fsync={fsync}"


def postgres_cpu(database: str | None = None) -> float:
    """CPU seconds used so far by the processes named postgres on this machine; with `database`, only the
    backends connected to it (other helpers' databases on a shared server then do not count, nor do the
    server's own writers); 0 where /proc cannot tell. A backend must still be connected when this is read
    at the end: a closed connection's CPU is gone with its process."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            if database is not None:
                # "postgres: [<cluster>: ]<user> <database> <host(port)> <state>"
                args = (stat.parent / "cmdline").read_bytes().split(b"\0")[0].split()
                if database.encode() not in args[1:5]:
                    continue
        except OSError:
            continue
        name, _, rest = text.partition(" (")[2].partition(") ")
        if name == "postgres":
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / tick


async def _feed(
    queue: IngestQueue, cursor: Iterator[InboundMessage], concurrency: int
) -> tuple[float, list[float], float]:
    """`concurrency` senders hand the messages over until none is left: (start, latencies, CPU seconds)."""
    latencies: list[float] = []

    async def sender() -> None:
        for item in cursor:  # one shared iterator: each message is taken by exactly one sender
            start = time.perf_counter()
            await queue.submit(item)
            latencies.append(time.perf_counter() - start)

    started, cpu_started = time.perf_counter(), time.process_time()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(sender())
    return started, latencies, time.process_time() - cpu_started


async def run_pipeline(
    url: str, n: int, concurrency: int, new_share: float, max_batch: int, seed: int, gc_freeze: bool
) -> dict[str, Any]:
    engine = db.create_engine(url)
    try:
        await db.migrate(engine)
        accounts = await _accounts(engine)
        durability = await _durability(engine)
        queue = IngestQueue(db.sessionmaker(engine), policy=InboxPolicy(), max_batch=max_batch)
        await queue.start()
        if gc_freeze:  # as `okno run` does once the hub has started (see hub/cli.py: serve)
            gc.collect()
            gc.freeze()
        cursor = synthesize(n, accounts, new_share=new_share, seed=seed)
        database = make_url(url).database
        pg_started = postgres_cpu(database)
        started, latencies, cpu = await _feed(queue, cursor, concurrency)
        seconds = time.perf_counter() - started
        pg_cpu = postgres_cpu(database) - pg_started
        await queue.stop()
        async with db.sessionmaker(engine)() as session:
            stored = int(await session.scalar(select(func.count()).select_from(Message)) or 0)
            contacts = int(await session.scalar(select(func.count()).select_from(Contact)) or 0)
    finally:
        await engine.dispose()
        gc.unfreeze()
    if stored != n:
        raise SystemExit(f"bench: {stored} messages stored, expected {n}")
    latencies.sort()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "max": latencies[-1] if latencies else 0.0,
        "transactions": queue.batches,
        "stored": stored,
        "contacts": contacts,
        "durability": durability,
        "pg_cpu": pg_cpu,
    }


async def run_worker(args: argparse.Namespace) -> None:
    """One of several processes (--worker PART): ready, then `go` on stdin, then its share of the messages
    through its own IngestQueue; one JSON line with its times and latencies."""
    engine = db.create_engine(args.database_url)
    try:
        queue = IngestQueue(db.sessionmaker(engine), policy=InboxPolicy(), max_batch=args.max_batch)
        await queue.start()
        async with engine.connect() as conn:  # the pool's first connection, before the clock starts
            await conn.execute(text("SELECT 1"))
        if not args.no_gc_freeze:
            gc.collect()
            gc.freeze()
        accounts = {k: int(v) for k, v in json.loads(args.accounts).items()}
        cursor = synthesize(args.n, accounts, new_share=args.new_share, seed=args.seed, part=args.worker)
        print(json.dumps({"ready": True}), flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # every process starts at once
        started, latencies, cpu = await _feed(queue, cursor, args.concurrency)
        ended = time.perf_counter()  # CLOCK_MONOTONIC: one clock for every process of the machine
        await queue.stop()
        out = {
            "started": started,
            "ended": ended,
            "cpu": cpu,
            "batches": queue.batches,
            "latencies": latencies,
        }
        print(json.dumps(out), flush=True)
        # Connected until the parent has read PostgreSQL's CPU: a closed connection's backend is gone.
        await asyncio.to_thread(sys.stdin.readline)
    finally:
        await engine.dispose()


async def run_bare_worker(args: argparse.Namespace) -> None:
    """One process of the ceiling (--bare-worker PART): its share of the messages as bare asyncpg batches
    of -c messages (the hub's batch when its -c senders wait on one commit); JSON lines as run_worker."""
    accounts = {k: int(v) for k, v in json.loads(args.accounts).items()}
    cursor = synthesize(args.n, accounts, new_share=args.new_share, seed=args.seed, part=args.bare_worker)
    conn = await asyncpg.connect(_asyncpg_dsn(make_url(args.database_url)))
    try:
        print(json.dumps({"ready": True}), flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        started, ended, cpu, batches = await ingest_bare.run(conn, cursor, args.concurrency)
        print(json.dumps({"started": started, "ended": ended, "cpu": cpu, "batches": batches}), flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # connected until the parent has read PostgreSQL's CPU
    finally:
        await conn.close()


async def run_processes(url: str, args: argparse.Namespace, *, bare: bool = False) -> dict[str, Any]:
    """`args.processes` worker processes on one migrated database, each ingesting its share of -n
    (`bare`: the ceiling's workers, bench/ingest_bare.py)."""
    engine = db.create_engine(url)
    try:
        await db.migrate(engine)
        accounts = await _accounts(engine)
    finally:
        await engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    count = args.processes
    shares = [args.n // count + (1 if k < args.n % count else 0) for k in range(count)]
    procs = []
    for part, share in enumerate(shares, start=1):
        argv = ["--bare-worker" if bare else "--worker", str(part), "--accounts", json.dumps(accounts)]
        argv += ["--database-url", url]
        argv += ["-n", str(share), "-c", str(args.concurrency), "--new-share", str(args.new_share)]
        argv += ["--max-batch", str(args.max_batch), "--seed", str(args.seed)]
        argv += ["--no-gc-freeze"] if args.no_gc_freeze else []
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                str(SCRIPT),
                *argv,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=1 << 26,  # the result is one line with every latency
            )
        )
    try:
        for proc in procs:
            assert proc.stdout is not None
            if not await asyncio.wait_for(proc.stdout.readline(), 120):
                raise SystemExit("bench: a worker process ended before it was ready")
        database = make_url(url).database
        pg_started = postgres_cpu(database)
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        outs = []
        for proc in procs:
            assert proc.stdout is not None
            outs.append(json.loads(await proc.stdout.readline()))
        pg_cpu = postgres_cpu(database) - pg_started
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"bye\n")
            await proc.stdin.drain()
            await proc.wait()
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    engine = db.create_engine(url)
    try:
        async with db.sessionmaker(engine)() as session:
            stored = int(await session.scalar(select(func.count()).select_from(Message)) or 0)
            contacts = int(await session.scalar(select(func.count()).select_from(Contact)) or 0)
    finally:
        await engine.dispose()
    if stored != args.n:
        raise SystemExit(f"bench: {stored} messages stored by {count} processes, expected {args.n}")
    latencies = sorted(ms for out in outs for ms in out.get("latencies", ()))
    return {
        "seconds": max(o["ended"] for o in outs) - min(o["started"] for o in outs),
        "cpu": sum(o["cpu"] for o in outs),
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "transactions": sum(o["batches"] for o in outs),
        "contacts": contacts,
        "pg_cpu": pg_cpu,
    }


def bare_sqlite(path: Path, seconds: float) -> Bare:
    """Single-row commits with the stdlib driver, the hub's pragmas (WAL, synchronous=FULL)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE bare (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        commits = 0
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO bare (body) VALUES (?)", (BARE_PAYLOAD,))
            conn.execute("COMMIT")
            commits += 1
        elapsed = time.perf_counter() - start
    finally:
        conn.close()
    return Bare("sqlite3", commits, elapsed)


def _asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def bare_postgres(url: URL, seconds: float) -> Bare:
    """Single-row INSERTs with asyncpg, each its own transaction (autocommit: INSERT then COMMIT)."""
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await conn.execute("CREATE TABLE bare (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)")
        commits = 0
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            await conn.execute("INSERT INTO bare (body) VALUES ($1)", BARE_PAYLOAD)
            commits += 1
        elapsed = time.perf_counter() - start
    finally:
        await conn.close()
    return Bare("asyncpg", commits, elapsed)


async def _scratch_database(url: URL, create: bool, name: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def bench(args: argparse.Namespace) -> Result:
    params = (args.n, args.concurrency, args.new_share, args.max_batch, args.seed, not args.no_gc_freeze)
    several: dict[str, Any] | None = None
    ceiling: dict[str, Any] | None = None
    if args.database_url:
        url = make_url(args.database_url)
        if url.get_backend_name() != "postgresql" or url.get_driver_name() != "asyncpg":
            raise SystemExit("bench: --database-url must be postgresql+asyncpg://...")
        scratch = f"okno_bench_{uuid.uuid4().hex[:10]}"
        asyncio.run(_scratch_database(url, True, scratch))
        try:
            scratch_url = url.set(database=scratch)
            bare = asyncio.run(bare_postgres(scratch_url, args.bare_seconds))
            hub = asyncio.run(run_pipeline(scratch_url.render_as_string(hide_password=False), *params))
            if args.processes > 1:  # a database of its own, empty as the one process's was
                asyncio.run(_scratch_database(url, True, f"{scratch}_p"))
                several_url = url.set(database=f"{scratch}_p").render_as_string(hide_password=False)
                several = asyncio.run(run_processes(several_url, args))
                asyncio.run(_scratch_database(url, True, f"{scratch}_b"))
                bare_url = url.set(database=f"{scratch}_b").render_as_string(hide_password=False)
                ceiling = asyncio.run(run_processes(bare_url, args, bare=True))
        finally:
            asyncio.run(_scratch_database(url, False, scratch))
            if args.processes > 1:
                asyncio.run(_scratch_database(url, False, f"{scratch}_p"))
                asyncio.run(_scratch_database(url, False, f"{scratch}_b"))
        backend = "postgresql"
    else:
        with tempfile.TemporaryDirectory(prefix="okno-bench-") as tmp:
            bare = bare_sqlite(Path(tmp) / "bare.db", args.bare_seconds)
            hub = asyncio.run(run_pipeline(f"sqlite+aiosqlite:///{Path(tmp) / 'hub.db'}", *params))
        backend = "sqlite"
    rate = args.n / hub["seconds"]
    several_rate = args.n / several["seconds"] if several else 0.0
    ceiling_rate = args.n / ceiling["seconds"] if ceiling else 0.0
    return Result(
        backend=backend,
        durability=hub["durability"],
        messages=args.n,
        new_sender_share=args.new_share,
        channels=CHANNELS,
        concurrency=args.concurrency,
        max_batch=args.max_batch,
        gc_freeze=not args.no_gc_freeze,
        seconds=round(hub["seconds"], 3),
        messages_per_s=round(rate, 1),
        cpu_ms_per_message=round(hub["cpu"] * 1000 / args.n, 3),
        p50_ms=round(hub["p50"] * 1000, 2),
        p99_ms=round(hub["p99"] * 1000, 2),
        max_ms=round(hub["max"] * 1000, 2),
        transactions=hub["transactions"],
        contacts=hub["contacts"],
        stored_messages=hub["stored"],
        bare_driver=bare.driver,
        bare_commits=bare.commits,
        bare_seconds=round(bare.seconds, 3),
        bare_commits_per_s=round(bare.rate, 1),
        ratio=round(rate / bare.rate, 3) if bare.rate else 0.0,
        cpus=os.cpu_count() or 0,
        postgres_cpu_ms_per_message=round(hub["pg_cpu"] * 1000 / args.n, 3)
        if backend == "postgresql"
        else None,
        processes=args.processes,
        processes_postgres_cpu_ms_per_message=round(several["pg_cpu"] * 1000 / args.n, 3)
        if several
        else None,
        processes_messages_per_s=round(several_rate, 1) if several else None,
        processes_seconds=round(several["seconds"], 3) if several else None,
        processes_cpu_ms_per_message=round(several["cpu"] * 1000 / args.n, 3) if several else None,
        processes_p50_ms=round(several["p50"] * 1000, 2) if several else None,
        processes_p99_ms=round(several["p99"] * 1000, 2) if several else None,
        processes_transactions=several["transactions"] if several else None,
        processes_contacts=several["contacts"] if several else None,
        processes_ratio_to_one=round(several_rate / rate, 3) if several else None,
        processes_ratio_to_bare=round(several_rate / bare.rate, 3) if several and bare.rate else None,
        ceiling_messages_per_s=round(ceiling_rate, 1) if ceiling else None,
        ceiling_seconds=round(ceiling["seconds"], 3) if ceiling else None,
        ceiling_cpu_ms_per_message=round(ceiling["cpu"] * 1000 / args.n, 3) if ceiling else None,
        ceiling_postgres_cpu_ms_per_message=round(ceiling["pg_cpu"] * 1000 / args.n, 3) if ceiling else None,
        ceiling_transactions=ceiling["transactions"] if ceiling else None,
        ceiling_contacts=ceiling["contacts"] if ceiling else None,
        processes_ratio_to_ceiling=round(several_rate / ceiling_rate, 3) if ceiling_rate else None,
    )


def table(r: Result) -> str:
    per_tx = r.messages / r.transactions if r.transactions else 0.0
    rows = [
        ("backend", f"{r.backend} ({r.durability}), {r.cpus} CPUs"),
        (
            "messages",
            f"{r.messages:,} — {r.contacts:,} new cards ({r.contacts / r.messages:.0%}), "
            f"channels {'/'.join(r.channels)}, {r.concurrency} concurrent senders",
        ),
        ("hub ingest", f"{r.messages_per_s:,.0f} messages/s ({r.seconds:.2f} s, all committed)"),
        ("process CPU", f"{r.cpu_ms_per_message:.3f} ms per message (all threads)"),
        ("latency submit→commit", f"p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms, max {r.max_ms:.1f} ms"),
        *(
            [
                (
                    "PostgreSQL CPU",
                    f"{r.postgres_cpu_ms_per_message:.3f} ms per message (the backends of its database)",
                )
            ]
            if r.postgres_cpu_ms_per_message is not None
            else []
        ),
        ("transactions", f"{r.transactions:,} (avg {per_tx:.0f} messages each, max_batch {r.max_batch})"),
        ("gc.freeze() after start", "yes, as okno run" if r.gc_freeze else "no (--no-gc-freeze)"),
        (
            "bare single-row commits",
            f"{r.bare_commits_per_s:,.0f} commits/s "
            f"({r.bare_driver}, {r.bare_commits:,} in {r.bare_seconds:.1f} s)",
        ),
        ("ratio hub / bare", f"{r.ratio:.2f}x"),
    ]
    if r.processes_messages_per_s is not None:
        rows += [
            (
                f"hub ingest, {r.processes} processes",
                f"{r.processes_messages_per_s:,.0f} messages/s ({r.processes_seconds:.2f} s, all committed; "
                f"{r.concurrency} senders in each)",
            ),
            ("  process CPU", f"{r.processes_cpu_ms_per_message:.3f} ms per message (all processes)"),
            ("  PostgreSQL CPU", f"{r.processes_postgres_cpu_ms_per_message:.3f} ms per message"),
            ("  latency submit→commit", f"p50 {r.processes_p50_ms:.1f} ms, p99 {r.processes_p99_ms:.1f} ms"),
            ("  transactions", f"{r.processes_transactions:,}"),
            ("  ratio to one process", f"{r.processes_ratio_to_one:.2f}x"),
            ("  ratio to bare", f"{r.processes_ratio_to_bare:.2f}x"),
        ]
    if r.ceiling_messages_per_s is not None:
        rows += [
            (
                f"ceiling, {r.processes} processes",
                f"{r.ceiling_messages_per_s:,.0f} messages/s ({r.ceiling_seconds:.2f} s; the same rows from "
                f"bare asyncpg, batches of {r.concurrency}: bench/ingest_bare.py)",
            ),
            ("  process CPU", f"{r.ceiling_cpu_ms_per_message:.3f} ms per message (all processes)"),
            ("  PostgreSQL CPU", f"{r.ceiling_postgres_cpu_ms_per_message:.3f} ms per message"),
            ("  transactions", f"{r.ceiling_transactions:,}"),
            (f"hub, {r.processes} processes / ceiling", f"{r.processes_ratio_to_ceiling:.2f}x"),
        ]
    width = max(len(k) for k, _ in rows)
    lines = ["Okno ingest benchmark", "-" * 21]
    lines += [f"{k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=20_000, help="messages to ingest (default 20000)")
    parser.add_argument("-c", "--concurrency", type=int, default=200, help="concurrent senders (default 200)")
    parser.add_argument(
        "--new-share", type=float, default=0.3, help="share of messages from new senders (default 0.3)"
    )
    parser.add_argument("--max-batch", type=int, default=500, help="IngestQueue max_batch (default 500)")
    parser.add_argument(
        "--bare-seconds", type=float, default=2.0, help="how long to measure bare commits (default 2)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="do not gc.freeze() the objects alive after start-up (okno run does; this shows the difference)",
    )
    parser.add_argument("--database-url", help="postgresql+asyncpg://... (default: SQLite in a temp dir)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="PostgreSQL: also split the -n messages over this many processes, each with its own queue",
    )
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bare-worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--accounts", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        asyncio.run(run_worker(args))
        return 0
    if args.bare_worker:
        asyncio.run(run_bare_worker(args))
        return 0
    if args.processes < 1 or (args.processes > 1 and not args.database_url):
        parser.error("--processes: 1, or more with --database-url (several processes share PostgreSQL only)")
    if args.n < 1 or args.concurrency < 1 or not 0 <= args.new_share <= 1 or args.bare_seconds <= 0:
        parser.error("-n and -c must be positive, --new-share within 0..1, --bare-seconds positive")
    result = bench(args)
    if args.json:
        print(json.dumps(asdict(result), ensure_ascii=False))
    else:
        print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
