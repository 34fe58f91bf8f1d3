"""Live-path benchmark: visitors' web-chat messages to the agents' sockets, against bare aiohttp relays.

    python bench/live.py                          # SQLite in a temp dir: 50, 200, 500 messages/s, 20 s each
    python bench/live.py --short --json           # what CI runs: a few visitors, two short rates
    python bench/live.py --postgresql-url postgresql+asyncpg://postgres@127.0.0.1/postgres

The hub runs in a child process as `okno run` serves it (`hub.cli.serve`: the app starts the hub, the garbage
collector frozen after start-up and after each full collection: hub.collector), with one web-chat account and
an admin's API token. This process opens N visitor sockets (`/webchat/site/ws`, the widget's protocol: hello,
then ``message`` frames, each answered by an ``ack`` after the commit) and M agent sockets (`/api/v1/ws`,
Bearer token), and sends messages round-robin over the visitors at a fixed rate for a fixed time. A message's
latency runs from its scheduled send time (a sender running late does not hide the delay) to the moment the
LAST agent socket received its ``message.created`` frame; a message not on every agent socket within the grace
period after the phase counts as not delivered. Before the rates, K idle visitor sockets (1,000 by default)
are opened and the hub's RSS read; they stay open while the visitors send, and the RSS is sampled throughout
(max printed). Each server child times its garbage collections (gc.callbacks): per phase, how many of each
generation and their total time, the longest full collection, and the objects frozen (gc.freeze) at its end.

In the same run, with the same client, two bare aiohttp relays (child processes too) take the same
frames: one acks and forwards each message to the agent sockets at once, the other first INSERTs it into a
SQLite table and COMMITs (WAL, synchronous=FULL, as the hub's SQLite) — the floor the hub is measured
against. The ratios printed are hub p99 / bare-with-commit p99 at each rate.

On PostgreSQL it creates a scratch database (okno_bench_<random>) next to the one in the URL and drops it
at the end: the role needs CREATEDB.
"""

from __future__ import annotations

import os
import sys

# `python bench/live.py` puts bench/ first on sys.path, where a sibling script named like a standard
# library module (bench/email.py) would shadow that module: take the entry out before importing more.
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == os.path.dirname(os.path.abspath(__file__)):
    # ... and the repository root in its place: this script imports a sibling (bench.*).
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
import sqlite3
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web
from sqlalchemy.engine import make_url

from bench.ingest import _scratch_database  # one scratch-database helper for the benches

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
GRACE_SECONDS = 5.0  # after a phase: a message not on every agent socket by then is "not delivered"
LATE_SECONDS = 1.0  # a message later than this is "late" (the goal at 500/s: none)
SITE: dict[str, Any] = {
    "kind": "webchat",
    "hours": "always",
    "require_agent_online": False,
    "messages_per_minute": 600,  # the most an account may allow: 10 a second per visitor
    "new_visitors_per_minute": 100_000,
}
TEXT = "Здравствуйте! Когда будет доставлен мой заказ № {n}?"


# ------------------------------------------------------------------------------------------ the servers


async def _hub_server(database_url: str, work_dir: Path, ready: Callable[[dict[str, Any]], None]) -> None:
    """The hub as `okno run` serves it, after an admin with an API token is created; its files (the
    attachments) in `work_dir`, the client's temporary folder, which the client removes (the child is
    killed, so it could not remove one of its own)."""
    from hub import auth
    from hub import db as hub_db
    from hub.cli import Listener, serve
    from hub.runtime import Hub
    from hub.settings import load
    from inbox.agents import create_agent

    settings = load(
        database_url=database_url,
        attachments_dir=str(work_dir / f"attachments-{uuid.uuid4().hex[:6]}"),
        log_level="WARNING",
        accounts={"site": SITE},
    )
    hub = Hub(settings)
    await hub_db.migrate(hub.engine)
    async with hub.sessionmaker() as session:
        agent = await create_agent(
            session, email="bench@okno.example.com", name="Bench", password="bench-password-1", role="admin"
        )
        token, _ = await auth.create_api_token(session, agent.id, "bench")
        await session.commit()
    with Listener("127.0.0.1", 0) as listener:
        port = listener.port
        await serve(hub, listener, lambda _url: ready({"port": port, "token": token}))


def _bare_app(commit_to: Path | None) -> web.Application:
    """A visitor socket that acks each message (after an INSERT + COMMIT into SQLite, if `commit_to`) and
    forwards it to every agent socket: the least any relay does."""
    agents: set[web.WebSocketResponse] = set()
    conn: sqlite3.Connection | None = None
    if commit_to is not None:
        conn = sqlite3.connect(commit_to, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE message (id INTEGER PRIMARY KEY, cid TEXT NOT NULL, body TEXT NOT NULL)")
    serial = itertools.count(1)

    async def visitor(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            if frame.get("type") == "hello":
                await ws.send_str(json.dumps({"type": "hello", "token": "t", "messages": [], "agent": None}))
                continue
            if conn is not None:
                conn.execute("BEGIN IMMEDIATE")
                cursor = conn.execute(
                    "INSERT INTO message (cid, body) VALUES (?, ?)", (frame["id"], frame["text"])
                )
                conn.execute("COMMIT")
                message_id = cursor.lastrowid
            else:
                message_id = next(serial)
            await ws.send_str(json.dumps({"type": "ack", "id": frame["id"], "message": {"id": message_id}}))
            out = json.dumps({"type": "message.created", "data": {"message_id": message_id}})
            for agent in list(agents):
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await agent.send_str(out)
        return ws

    async def agent(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"type": "hello", "conversation_id": None, "data": {}}))
        agents.add(ws)
        try:
            async for _ in ws:
                pass
        finally:
            agents.discard(ws)
        return ws

    app = web.Application()
    app.router.add_get("/webchat/site/ws", visitor)
    app.router.add_get("/api/v1/ws", agent)
    return app


async def _bare_server(commit_to: Path | None, ready: Callable[[dict[str, Any]], None]) -> None:
    runner = web.AppRunner(_bare_app(commit_to), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.base_events.Server)
    ready({"port": server.sockets[0].getsockname()[1], "token": "bare"})
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


class GcTimes:
    """The garbage collector's passes in this process: by generation, how many and their total time, and
    the time of each full (generation 2) pass, on the clock and in the CPU time of its thread (steadier on a
    shared machine, where a pass may wait for a core) (gc.callbacks); written as one JSON object to `path`,
    with the objects frozen, when the client asks by SIGUSR1 (:func:`read_gc_times`, before and after a
    phase: outside what is measured). A thread writing it every 0.2 s and walking the frozen objects every
    2 s took the GIL from the serving loop often enough to triple the hub's p99 at 200/s (7 -> 22-25 ms)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.full: list[float] = []
        self.full_cpu: list[float] = []
        self.written = 0
        self._began = 0.0
        self._cpu_began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began, self._cpu_began = time.perf_counter(), time.thread_time()
            return
        took, generation = time.perf_counter() - self._began, info["generation"]
        self.count[generation] += 1
        self.seconds[generation] += took
        if generation == 2:
            self.full.append(took)
            self.full_cpu.append(time.thread_time() - self._cpu_began)

    def start(self) -> None:
        import gc
        import signal

        gc.callbacks.append(self)
        signal.signal(signal.SIGUSR1, lambda *_: self._write())

    def _write(self) -> None:
        import gc

        self.written += 1
        snapshot = {
            "written": self.written,
            "count": list(self.count),
            "seconds": list(self.seconds),
            "full": list(self.full),
            "full_cpu": list(self.full_cpu),
            "frozen": gc.get_freeze_count(),  # a walk of them all
        }
        self.path.with_suffix(".tmp").write_text(json.dumps(snapshot))
        self.path.with_suffix(".tmp").replace(self.path)


def _read_gc_file(path: Path) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found


async def read_gc_times(pid: int, path: Path | None) -> dict[str, Any] | None:
    """The server child's collector figures now: asked by SIGUSR1, read once it wrote them anew (None if it
    did not within 5 s: the figures are left out, the phase still counts)."""
    if path is None:
        return None
    before = _read_gc_file(path)
    written = before["written"] if before else 0
    os.kill(pid, signal.SIGUSR1)
    deadline = time.perf_counter() + 5.0
    while time.perf_counter() < deadline:  # a measurement's bookkeeping, not a test's outcome
        found = _read_gc_file(path)
        if found is not None and found["written"] > written:
            return found
        await asyncio.sleep(0.01)
    return None


def serve_main(args: argparse.Namespace) -> int:
    """The child process: print one JSON line (port, token) when serving, then serve until killed."""
    import gc

    def ready(info: dict[str, Any]) -> None:
        print(json.dumps(info), flush=True)

    if args.gc_log:
        GcTimes(Path(args.gc_log)).start()
    if args.serve == "hub":
        asyncio.run(_hub_server(args.database_url, Path(args.work_dir), ready))
    else:
        gc.freeze()
        commit_to = Path(args.commit_to) if args.commit_to else None
        asyncio.run(_bare_server(commit_to, ready))
    return 0


# ------------------------------------------------------------------------------------------ the client


@dataclass(slots=True)
class Phase:
    server: str
    rate: int
    seconds: float
    visitors: int
    agents: int
    sent: int = 0
    acked: int = 0
    delivered: int = 0
    not_delivered: int = 0
    late: int = 0
    echoes: int = 0  # `message` frames a visitor got back for its own messages (besides the acks)
    foreign_events: int = 0  # frames on the agent sockets that are no message.created of ours
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    ack_p99_ms: float = 0.0
    throughput: float = 0.0
    rss_max_mb: float = 0.0
    seconds_taken: float = 0.0
    ratio_p99: float | None = None
    # The server's garbage collections during the phase: by generation, how many and their total ms; and
    # the longest full (generation 2) one.
    gc_count: list[int] = field(default_factory=list)
    gc_ms: list[float] = field(default_factory=list)
    gc_full_max_ms: float = 0.0
    gc_full_max_cpu_ms: float = 0.0  # its thread's CPU time
    gc_frozen: int = 0  # objects in the permanent generation at the phase's end (gc.freeze)


@dataclass(slots=True)
class Run:
    backend: str
    phases: list[Phase] = field(default_factory=list)
    idle_sockets: int = 0
    rss_idle_mb: float = 0.0
    rss_before_sockets_mb: float = 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@contextlib.asynccontextmanager
async def child(*argv: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, dict[str, Any]]]:
    """A server child process, with what it printed when ready; killed at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), *argv, env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        if not line:
            raise RuntimeError(f"the server {argv} ended before it was ready")
        yield proc, json.loads(line)
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


class Visitors:
    """N widget sockets and M agent sockets on one server, and what each message went through."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http = http
        self.base = base
        self.token = token
        self.visitors: list[aiohttp.ClientWebSocketResponse] = []
        self.agents: list[aiohttp.ClientWebSocketResponse] = []
        self.readers: list[asyncio.Task[None]] = []
        self.sent_at: dict[str, float] = {}  # cid → scheduled send time
        self.acked: dict[str, tuple[int, float]] = {}  # cid → (message id, ack time)
        self.seen: dict[int, list[float]] = {}  # message id → when each agent socket got it
        self.echoes = 0
        self.foreign = 0

    def server(self) -> str:
        """The base URL the next socket connects to: the one hub here (bench.load spreads them)."""
        return self.base

    async def open_visitor(self) -> aiohttp.ClientWebSocketResponse:
        ws = await self.http.ws_connect(f"{self.server()}/webchat/site/ws", max_msg_size=0)
        await ws.send_str(json.dumps({"type": "hello", "token": None}))
        while True:
            frame = await ws.receive_json(timeout=60)
            if frame.get("type") == "hello":
                return ws

    async def open_idle(self, count: int) -> None:
        """`count` visitor sockets that send nothing but, as the widget's, read what comes and so answer
        the hub's pings. Unread, they left the hub's pings (25 s after the last frame) unanswered, and the
        hub closed all 1,000 at once 12.5 s later, mid-phase: the RSS of the later rates was without them,
        and the closing stalled the hub ~100 ms (a tail in every phase's p99 at that time)."""
        for _ in range(count):
            ws = await self.open_visitor()
            self.visitors.append(ws)
            self.readers.append(asyncio.create_task(_drain(ws)))

    async def open(self, visitors: int, agents: int) -> None:
        for _ in range(agents):
            ws = await self.http.ws_connect(
                f"{self.server()}/api/v1/ws",
                headers={"Authorization": f"Bearer {self.token}"},
                max_msg_size=0,
            )
            hello = await ws.receive_json(timeout=60)
            assert hello["type"] == "hello", hello
            self.agents.append(ws)
            self.readers.append(asyncio.create_task(self._read_agent(ws)))
        for _ in range(visitors):
            ws = await self.open_visitor()
            self.visitors.append(ws)
            self.readers.append(asyncio.create_task(self._read_visitor(ws)))

    async def _read_agent(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                break
            now = time.perf_counter()
            if '"message.created"' not in message.data:  # conversation.* and the like: not parsed
                self.foreign += 1
                continue
            self.created(json.loads(message.data).get("data") or {}, now)

    def created(self, data: dict[str, Any], now: float) -> None:
        """A ``message.created`` frame's data, received by an agent socket at `now`."""
        if "message_id" in data:
            self.seen.setdefault(data["message_id"], []).append(now)
        else:
            self.foreign += 1

    async def _read_visitor(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                break
            now = time.perf_counter()
            frame = json.loads(message.data)
            if frame.get("type") == "ack" and frame.get("message"):
                self.acked[frame["id"]] = (frame["message"]["id"], now)
            elif frame.get("type") == "message":
                self.echoes += 1

    async def drive(self, rate: int, seconds: float, prefix: str) -> None:
        """Send `rate` messages a second for `seconds`, round-robin over the visitors."""
        total = int(rate * seconds)
        start = time.perf_counter() + 0.05
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            cid = f"{prefix}-{i}"
            self.sent_at[cid] = due
            ws = self.visitors[i % len(self.visitors)]
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(json.dumps({"type": "message", "id": cid, "text": TEXT.format(n=i)}))

    def delivered_at(self, cid: str) -> float | None:
        acked = self.acked.get(cid)
        if acked is None:
            return None
        times = self.seen.get(acked[0], [])
        return max(times) if len(times) >= len(self.agents) else None

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        for ws in [*self.visitors, *self.agents]:
            with contextlib.suppress(Exception):
                await ws.close()
        for task in self.readers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Read and drop a socket's frames (aiohttp answers pings while a socket is read)."""
    async for message in ws:
        if message.type != WSMsgType.TEXT:
            break


async def _sample_rss(pid: int, into: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        into.append(rss_mb(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)


async def run_phase(
    live: Visitors, pid: int, server: str, rate: int, seconds: float, grace: float, gc_log: Path | None = None
) -> Phase:
    phase = Phase(server, rate, seconds, len(live.visitors), len(live.agents))
    gc_before = await read_gc_times(pid, gc_log)
    prefix = f"{server}-{rate}-{uuid.uuid4().hex[:6]}"
    echoes, foreign = live.echoes, live.foreign
    samples: list[float] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sample_rss(pid, samples, stop))
    began = time.perf_counter()
    await live.drive(rate, seconds, prefix)
    cids = [cid for cid in live.sent_at if cid.startswith(prefix)]
    deadline = time.perf_counter() + grace
    # A bounded look every 50 ms at what is still missing (a measurement's end, not a test's outcome).
    while time.perf_counter() < deadline and any(live.delivered_at(c) is None for c in cids):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    stop.set()
    await sampler
    phase.seconds_taken = round(time.perf_counter() - began, 2)
    latencies, acks = [], []
    for cid in cids:
        sent = live.sent_at[cid]
        if cid in live.acked:
            acks.append((live.acked[cid][1] - sent) * 1000)
        at = live.delivered_at(cid)
        if at is None:
            phase.not_delivered += 1
        else:
            latencies.append((at - sent) * 1000)
    phase.sent = len(cids)
    phase.acked = len(acks)
    phase.delivered = len(latencies)
    phase.late = sum(1 for ms in latencies if ms > LATE_SECONDS * 1000) + phase.not_delivered
    phase.echoes = live.echoes - echoes
    phase.foreign_events = live.foreign - foreign
    phase.p50_ms, phase.p90_ms = percentile(latencies, 0.5), percentile(latencies, 0.9)
    phase.p99_ms, phase.max_ms = percentile(latencies, 0.99), max(latencies, default=0.0)
    phase.ack_p99_ms = percentile(acks, 0.99)
    if latencies:
        last = max(live.sent_at[c] + ms / 1000 for c, ms in zip(cids, latencies, strict=False))
        phase.throughput = len(latencies) / max(last - min(live.sent_at[c] for c in cids), 1e-9)
    phase.rss_max_mb = max(samples, default=0.0)
    gc_after = await read_gc_times(pid, gc_log)
    if gc_before is not None and gc_after is not None:
        phase.gc_count = [a - b for a, b in zip(gc_after["count"], gc_before["count"], strict=True)]
        phase.gc_ms = [
            round((a - b) * 1000, 1) for a, b in zip(gc_after["seconds"], gc_before["seconds"], strict=True)
        ]
        phase.gc_full_max_ms = round(max(gc_after["full"][len(gc_before["full"]) :], default=0.0) * 1000, 1)
        phase.gc_full_max_cpu_ms = round(
            max(gc_after["full_cpu"][len(gc_before["full"]) :], default=0.0) * 1000, 1
        )
        phase.gc_frozen = gc_after["frozen"]
    for name in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "ack_p99_ms", "throughput", "rss_max_mb"):
        setattr(phase, name, round(getattr(phase, name), 1))
    return phase


async def measure(
    argv: list[str], server: str, args: argparse.Namespace, run: Run | None, tmp: Path
) -> list[Phase]:
    phases = []
    connector = aiohttp.TCPConnector(limit=0)  # the default 100 connections would queue the 101st socket
    gc_log = tmp / f"gc-{uuid.uuid4().hex[:6]}.json"
    async with (
        child(*argv, "--gc-log", str(gc_log)) as (proc, info),
        aiohttp.ClientSession(connector=connector) as http,
    ):
        if args.pid_file:  # for a profiler to attach to
            await asyncio.to_thread(Path(args.pid_file).write_text, f"{proc.pid}\n")
        live = Visitors(http, f"http://127.0.0.1:{info['port']}", info["token"])
        idle = Visitors(http, live.base, live.token)
        try:
            if run is not None and args.idle_sockets:
                # First (a hub still busy with a burst would take its time over 1,000 hellos), and left
                # open while the visitors send: the RSS of the rates is with them.
                await asyncio.sleep(1)
                run.rss_before_sockets_mb = round(rss_mb(proc.pid), 1)
                await idle.open_idle(args.idle_sockets)
                await asyncio.sleep(1)
                run.idle_sockets = len(idle.visitors)
                run.rss_idle_mb = round(rss_mb(proc.pid), 1)
            await live.open(args.visitors, args.agents)
            for rate in args.rates:
                phase = await run_phase(live, proc.pid, server, rate, args.seconds, args.grace, gc_log)
                phases.append(phase)
        finally:
            await live.close()
            await idle.close()
    return phases


async def bench(args: argparse.Namespace, backend: str, database_url: str, tmp: Path) -> Run:
    run = Run(backend)
    me = ["--visitors", "0"]  # a child ignores the client's options
    bare: list[Phase] = []
    commit: list[Phase] = []
    if not args.hub_only:
        bare = await measure([*me, "--serve", "bare"], "bare relay", args, None, tmp)
        commit = await measure(
            [*me, "--serve", "bare", "--commit-to", str(tmp / f"bare-{uuid.uuid4().hex[:6]}.db")],
            "bare relay + SQLite commit",
            args,
            None,
            tmp,
        )
    serve_hub = [*me, "--serve", "hub", "--database-url", database_url, "--work-dir", str(tmp)]
    hub = await measure(serve_hub, "hub", args, run, tmp)
    for phase, floor in zip(hub, commit, strict=False):
        if floor.p99_ms > 0:
            phase.ratio_p99 = round(phase.p99_ms / floor.p99_ms, 2)
    run.phases = [*bare, *commit, *hub]
    return run


def table(run: Run) -> str:
    lines = [
        f"backend {run.backend} (SQLite, the hub's and the bare commit's: journal_mode=WAL synchronous=FULL)",
        f"{'server':<28} {'rate/s':>6} {'sent':>6} {'not dlv':>7} {'late':>5} {'p50 ms':>8} {'p90 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'ack p99':>8} {'msg/s':>7} {'RSS MB':>7} {'echoes':>6} "
        f"{'foreign':>7} {'p99 / bare+commit':>17}",
    ]
    for p in run.phases:
        ratio = f"{p.ratio_p99:.2f}x" if p.ratio_p99 is not None else ""
        lines.append(
            f"{p.server:<28} {p.rate:>6} {p.sent:>6} {p.not_delivered:>7} {p.late:>5} {p.p50_ms:>8.1f} "
            f"{p.p90_ms:>8.1f} {p.p99_ms:>8.1f} {p.max_ms:>8.1f} {p.ack_p99_ms:>8.1f} {p.throughput:>7.1f} "
            f"{p.rss_max_mb:>7.1f} {p.echoes:>6} {p.foreign_events:>7} {ratio:>17}"
        )
    for p in run.phases:
        if p.gc_count:
            passes = ", ".join(
                f"gen{g} {n} ({ms:.0f} ms)" for g, (n, ms) in enumerate(zip(p.gc_count, p.gc_ms, strict=True))
            )
            lines.append(
                f"gc of {p.server} at {p.rate}/s: {passes}; longest full collection "
                f"{p.gc_full_max_ms:.1f} ms ({p.gc_full_max_cpu_ms:.1f} ms CPU); {p.gc_frozen} objects frozen"
            )
    lines.append(
        f"hub RSS with {run.idle_sockets} idle visitor sockets open: {run.rss_idle_mb:.1f} MB "
        f"(before opening them: {run.rss_before_sockets_mb:.1f} MB; they stay open for the rates)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--visitors", type=int, default=100, help="visitor sockets that send (default 100)")
    parser.add_argument("--agents", type=int, default=1, help="agent sockets (default 1)")
    parser.add_argument("--rates", type=int, nargs="+", default=[50, 200, 500], help="messages per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per rate (default 20)")
    parser.add_argument("--grace", type=float, default=GRACE_SECONDS, help="wait after a phase (default 5)")
    parser.add_argument("--idle-sockets", type=int, default=1000, help="idle visitor sockets for the RSS")
    parser.add_argument("--short", action="store_true", help="CI: 10 visitors, 20 and 50/s for 1 s, 20 idle")
    parser.add_argument("--sqlite", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--postgresql-url", help="also run on PostgreSQL (a scratch database is made)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--hub-only", action="store_true", help="no bare relays (e.g. under a profiler)")
    parser.add_argument("--pid-file", help="write each server's process id here")
    parser.add_argument("--serve", choices=["hub", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--work-dir", help=argparse.SUPPRESS)
    parser.add_argument("--commit-to", help=argparse.SUPPRESS)
    parser.add_argument("--gc-log", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve_main(args)
    if args.short:
        args.visitors, args.rates, args.seconds, args.idle_sockets = 10, [20, 50], 1.0, 20
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="okno-live-bench-") as name:
        tmp = Path(name)
        if args.sqlite:
            url = f"sqlite+aiosqlite:///{tmp / 'hub.db'}"
            runs.append(asyncio.run(bench(args, "sqlite", url, tmp)))
        if args.postgresql_url:
            pg = make_url(args.postgresql_url)
            scratch = f"okno_bench_{uuid.uuid4().hex[:10]}"
            asyncio.run(_scratch_database(pg, True, scratch))
            try:
                scratch_url = pg.set(database=scratch).render_as_string(hide_password=False)
                runs.append(asyncio.run(bench(args, "postgresql", scratch_url, tmp)))
            finally:
                asyncio.run(_scratch_database(pg, False, scratch))
    if args.json:
        print(json.dumps({"backends": {r.backend: asdict(r) for r in runs}, "cpus": os.cpu_count()}))
    else:
        print("\n\n".join(table(r) for r in runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
