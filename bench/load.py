"""Load benchmark: one hub process against three on PostgreSQL + Redis, end to end, with channel feeds.

    python bench/load.py                    # 500 visitors, 50 agents, 1,000 idle widget sockets, 100 msg/s
    python bench/load.py --short --json     # what CI runs (a few seconds of traffic)
    python bench/load.py --rate 200 --seconds 30 --email-rate 20 --webhook-rate 100 --polling-rate 50

Everything runs on the loopback. In a scratch PostgreSQL database (okno_bench_<random>, made next to the one
in --postgresql-url and dropped at the end: the role needs CREATEDB) and with a Redis of its own
(`redis-server` on a free port, so no other hub's events cross ours: the bus channel is one name for every
hub on a Redis; --redis-url uses another), it starts `okno run` as a deployment does, each process with the
same configuration: a web-chat account, an e-mail account on a real Dovecot (mail handed to aiosmtpd over
SMTP, written into the Maildir, fetched over IMAP IDLE), a Telegram account polling the tests' fake Bot API
and a Telegram account in webhook mode fed by POSTs to `/hooks/<account>`.

Topologies, one after the other in one run:

* ``bare relay`` — bench/live.py's bare aiohttp WebSocket relay (acks and forwards each message at once):
  the floor, measured with the same client.
* ``hub x1`` — one process.
* ``hub x3`` — two more processes started beside the first (which keeps the pulling accounts it holds:
  e-mail and Telegram polling run in one process at a time; the webhook and the web chat in all three).
  The clients are spread round-robin over the three ports directly (no nginx in between: its cost is not
  the hub's, and least_conn would spread long-lived sockets the same way).

For each hub topology: K idle widget sockets are opened first (RSS of every process read with them open;
they stay open), then V visitor sockets (the widget's protocol) and A agent sockets (`/api/v1/ws`, an admin's
token), and two phases run: the live path alone, then the live path while the three feeds send. A live
message's latency runs from its scheduled send to the moment the LAST agent socket got its
``message.created``; a feed item's from its scheduled send (SMTP, POST, or push to the fake Bot API) to the
same moment for the item. Not delivered: not on every agent socket within --grace after the phase. The
ratios are to the bare relay's figures at the same rate in the same run. The client's own CPU share is
printed: near 100 % it is the client, not the servers, that limits.
"""

from __future__ import annotations

import os
import sys

# `python bench/load.py` puts bench/ first on sys.path, where a sibling script named like a standard
# library module (bench/email.py) would shadow that module: the repository root takes its place.
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == os.path.dirname(os.path.abspath(__file__)):
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import argparse
import asyncio
import contextlib
import itertools
import json
import shutil
import socket
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
from aiohttp import web
from sqlalchemy.engine import URL, make_url

from bench.ingest import _scratch_database  # one scratch-database helper for the benches
from bench.live import SITE, Visitors, child, percentile, rss_mb

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
POLL_TOKEN = "111111:bench-polling-token"
HOOK_TOKEN = "222222:bench-webhook-token"
HOOK_SECRET = "bench-webhook-secret"
MAIL_USER, MAIL_PASSWORD = "support", "bench-mail-password"
START_SECONDS = 180.0  # the longest a process may take to serve (imports, migrations check, accounts)


# ------------------------------------------------------------------------------------------ the servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _port_open(port: int, what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} never listened on {port}") from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return


@contextlib.asynccontextmanager
async def redis_server(url: str | None) -> AsyncIterator[str]:
    """The given Redis, or a redis-server of our own on a free port (stopped by its pid at the end)."""
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("bench: no redis-server on PATH: install it or pass --redis-url")
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *(binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        await _port_open(port, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        await proc.wait()


@contextlib.asynccontextmanager
async def mail_servers() -> AsyncIterator[tuple[Any, Any]]:
    """Dovecot (IMAP) and aiosmtpd delivering into its Maildir: the e-mail tests' own servers."""
    from tests.channels.email.servers import Dovecot, MailServer, available

    if not available():
        raise SystemExit("bench: no dovecot on PATH (apt-get install dovecot-imapd)")
    dovecot = Dovecot({MAIL_USER: MAIL_PASSWORD})
    await asyncio.to_thread(dovecot.start)
    smtp = MailServer(dovecot)
    smtp.start()
    try:
        yield dovecot, smtp
    finally:
        smtp.stop()
        await asyncio.to_thread(dovecot.remove)


@contextlib.asynccontextmanager
async def fake_bot(token: str) -> AsyncIterator[Any]:
    """The tests' fake Telegram Bot API in this process, with `.url` set."""
    from tests.channels.telegram.fake_bot_api import FakeBotApi

    bot = FakeBotApi(token)
    runner = web.AppRunner(bot.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.base_events.Server)
    bot.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield bot
    finally:
        await runner.cleanup()


def hub_config(
    tmp: Path, name: str, database_url: str, redis_url: str, imap: int, smtp: int, poll: str, hook: str
) -> Path:
    site = "\n".join(f"{key} = {json.dumps(value)}" for key, value in SITE.items())
    path = tmp / f"{name}.toml"
    path.write_text(
        f"""
database_url = "{database_url}"
bus_url = "{redis_url}"
host = "127.0.0.1"
port = 0
log_level = "WARNING"
attachments_dir = "{tmp / name / "files"}"

[knowledge]
load_defaults = false

[metrics]
requests_per_minute = 100000  # the bench asks /readyz until every account runs

[accounts.site]
{site}

[accounts.mail]
kind = "email"
host = "127.0.0.1"
port = {imap}
security = "plain"
login = "{MAIL_USER}"
password = "{MAIL_PASSWORD}"
smtp_host = "127.0.0.1"
smtp_port = {smtp}
smtp_security = "plain"
from_address = "support@bench.example"

[accounts.tgpoll]
kind = "telegram"
token = "{POLL_TOKEN}"
api_base = "{poll}"

[accounts.tghook]
kind = "telegram"
mode = "webhook"
token = "{HOOK_TOKEN}"
secret = "{HOOK_SECRET}"
api_base = "{hook}"
""",
        encoding="utf-8",
    )
    return path


@dataclass
class HubProcess:
    name: str
    url: str
    proc: asyncio.subprocess.Process
    log: Path


async def start_hubs(
    tmp: Path, configs: dict[str, Path], stack: contextlib.AsyncExitStack
) -> list[HubProcess]:
    """`okno run --config FILE` per config, started at once; stopped (SIGTERM) when `stack` closes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    started: list[tuple[str, asyncio.subprocess.Process, Path]] = []
    for name, config in configs.items():
        log = tmp / f"{name}.log"
        with log.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "hub", "--config", str(config), "run"),
                cwd=tmp,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
            )
        stack.push_async_callback(_stop, proc)
        started.append((name, proc, log))

    async def serving(name: str, proc: asyncio.subprocess.Process, log: Path) -> HubProcess:
        assert proc.stdout is not None
        banner = await asyncio.wait_for(proc.stdout.readline(), START_SECONDS)
        if not banner.startswith(b"Okno is running at "):
            tail = (await asyncio.to_thread(log.read_text, errors="replace"))[-3000:]
            raise RuntimeError(f"hub {name} did not start: {tail}")
        return HubProcess(name, banner.split()[4].decode().rstrip("/"), proc, log)

    hubs = list(await asyncio.gather(*(serving(*s) for s in started)))
    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(_ready(http, hub) for hub in hubs))
    return hubs


async def _ready(http: aiohttp.ClientSession, hub: HubProcess) -> None:
    """Until /readyz says 200: every account this process runs is running (a webhook hook answers 503
    while its account is starting; a standby process is ready too)."""
    deadline = time.monotonic() + START_SECONDS
    while True:
        async with http.get(f"{hub.url}/readyz") as answer:
            if answer.status == 200:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"hub {hub.name} never ready: {await answer.text()}")
        await asyncio.sleep(0.1)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def prepare_database(database_url: str) -> str:
    """Migrated, with an admin and an API token for the agent sockets (the token returned)."""
    from hub import auth, db
    from inbox.agents import create_agent

    engine = db.create_engine(database_url)
    try:
        await db.migrate(engine)
        async with db.sessionmaker(engine)() as session:
            agent = await create_agent(
                session,
                email="bench@okno.example.com",
                name="Bench",
                password="bench-password-1",
                role="admin",
            )
            token, _ = await auth.create_api_token(session, agent.id, "load bench")
            await session.commit()
        return token
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------------------------ the client


class Spread(Visitors):
    """bench.live's visitors and agents, spread round-robin over several servers; the agent sockets also
    note when each feed item (told apart by its text, which the event's preview carries) reached them."""

    def __init__(self, http: aiohttp.ClientSession, bases: list[str], token: str) -> None:
        super().__init__(http, bases[0], token)
        self._bases = itertools.cycle(bases)
        self.feed_seen: dict[str, list[float]] = {}

    def server(self) -> str:
        return next(self._bases)

    def created(self, data: dict[str, Any], now: float) -> None:
        super().created(data, now)
        preview = data.get("preview") or ""
        if preview.startswith("feed "):
            self.feed_seen.setdefault(preview.split("\n", 1)[0].strip(), []).append(now)

    def feed_delivered_at(self, key: str) -> float | None:
        times = self.feed_seen.get(key, [])
        return max(times) if len(times) >= len(self.agents) else None


class Feeds:
    """The three channel feeds: SMTP into Dovecot, POSTs to the Telegram webhook of every process in
    turn, updates pushed to the fake Bot API the holder polls."""

    def __init__(self, smtp_port: int, poll_bot: Any, http: aiohttp.ClientSession) -> None:
        self.smtp_port = smtp_port
        self.poll_bot = poll_bot
        self.http = http
        self.hook_bases: list[str] = []
        self.sent_at: dict[str, dict[str, float]] = {"email": {}, "webhook": {}, "polling": {}}
        self.webhook_retries: Counter[str] = Counter()  # why a POST was sent again: its status or error
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)  # a repeated (chat, message_id) is a duplicate: dropped
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, rates: dict[str, float], seconds: float, prefix: str) -> None:
        async with asyncio.TaskGroup() as group:
            if rates["email"] > 0:
                group.create_task(self._email(rates["email"], seconds, prefix))
            if rates["webhook"] > 0:
                group.create_task(self._paced("webhook", rates["webhook"], seconds, prefix, self._post))
            if rates["polling"] > 0:
                group.create_task(self._paced("polling", rates["polling"], seconds, prefix, self._push))
        if self._tasks:
            await asyncio.gather(*self._tasks)

    async def _paced(
        self,
        feed: str,
        rate: float,
        seconds: float,
        prefix: str,
        send: Callable[[int, str], Coroutine[Any, Any, None]],
    ) -> None:
        start = time.perf_counter() + 0.05
        for i in range(int(rate * seconds)):
            due = start + i / rate
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            key = f"feed {feed} {prefix} {i}"
            self.sent_at[feed][key] = due
            task = asyncio.create_task(send(i, key))  # a POST waits for its commit: they overlap
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _update(self, i: int, key: str) -> dict[str, Any]:
        user = {"id": 300_000 + i % 200, "is_bot": False, "first_name": f"Клиент {i % 200}"}
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        message_id = next(self._message_ids)
        return {"message_id": message_id, "from": user, "chat": chat, "date": int(time.time()), "text": key}

    async def _post(self, i: int, key: str) -> None:
        base = self.hook_bases[i % len(self.hook_bases)]
        body = {"update_id": next(self._update_ids), "message": self._update(i, key)}
        headers = {"X-Telegram-Bot-Api-Secret-Token": HOOK_SECRET}
        for _ in range(100):  # as Telegram does: a hook that did not answer 200 gets the update again
            try:
                async with self.http.post(f"{base}/hooks/tghook", json=body, headers=headers) as answer:
                    if answer.status == 200:
                        return
                    self.webhook_retries[str(answer.status)] += 1
            except aiohttp.ClientError as exc:
                self.webhook_retries[type(exc).__name__] += 1
            await asyncio.sleep(0.2)

    async def _push(self, i: int, key: str) -> None:
        self.poll_bot.push({"message": self._update(i, key)})

    async def _email(self, rate: float, seconds: float, prefix: str) -> None:
        """One SMTP connection, one mail per tick (a late tick keeps its scheduled time)."""
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=self.smtp_port, start_tls=False) as smtp:
            await smtp.login(MAIL_USER, MAIL_PASSWORD)
            start = time.perf_counter() + 0.05
            for i in range(int(rate * seconds)):
                due = start + i / rate
                if (delay := due - time.perf_counter()) > 0:
                    await asyncio.sleep(delay)
                key = f"feed email {prefix} {i}"
                self.sent_at["email"][key] = due
                mail = EmailMessage()
                mail["From"] = f"Client {i % 200} <client{i % 200}@example.com>"
                mail["To"] = "support@bench.example"
                mail["Subject"] = f"Order question {i}"
                mail["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
                mail.set_content(key + "\n")
                await smtp.send_message(mail)


# ------------------------------------------------------------------------------------------ the phases


@dataclass(slots=True)
class FeedFigures:
    feed: str
    rate: float
    sent: int = 0
    delivered: int = 0
    not_delivered: int = 0
    items_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0


@dataclass(slots=True)
class LoadPhase:
    server: str
    processes: int
    feeds: bool
    rate: int
    seconds: float
    visitors: int
    agents: int
    sent: int = 0
    acked: int = 0
    delivered: int = 0
    not_delivered: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    throughput: float = 0.0
    rss_max_mb: list[float] = field(default_factory=list)  # per process
    client_cpu: float = 0.0  # the client's CPU seconds per wall second over the phase
    webhook_retries: dict[str, int] = field(default_factory=dict)
    feed_figures: list[FeedFigures] = field(default_factory=list)
    ratio_p50: float | None = None
    ratio_p99: float | None = None
    ratio_throughput: float | None = None


@dataclass(slots=True)
class Topology:
    server: str
    processes: int
    idle_sockets: int = 0
    rss_before_sockets_mb: list[float] = field(default_factory=list)
    rss_idle_mb: list[float] = field(default_factory=list)
    warmup_seconds: float = 0.0
    warmup_not_delivered: int = 0


async def _sample_rss(pids: list[int], into: list[list[float]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for samples, pid in zip(into, pids, strict=True):
            samples.append(rss_mb(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)


def _latencies(sent_at: dict[str, float], arrived: Callable[[str], float | None]) -> tuple[list[float], int]:
    latencies, missing = [], 0
    for key, sent in sent_at.items():
        at = arrived(key)
        if at is None:
            missing += 1
        else:
            latencies.append((at - sent) * 1000)
    return latencies, missing


async def run_phase(
    live: Spread, pids: list[int], server: str, args: argparse.Namespace, feeds: Feeds | None
) -> LoadPhase:
    phase = LoadPhase(
        server, len(pids), feeds is not None, args.rate, args.seconds, len(live.visitors), len(live.agents)
    )
    prefix = f"{server.replace(' ', '')}-{'f' if feeds else 'l'}-{uuid.uuid4().hex[:6]}"
    samples: list[list[float]] = [[] for _ in pids]
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sample_rss(pids, samples, stop))
    began, cpu_began = time.perf_counter(), time.process_time()
    retries = Counter(feeds.webhook_retries) if feeds else Counter()
    rates = {"email": args.email_rate, "webhook": args.webhook_rate, "polling": args.polling_rate}
    async with asyncio.TaskGroup() as group:
        group.create_task(live.drive(args.rate, args.seconds, prefix))
        if feeds is not None:
            group.create_task(feeds.run(rates, args.seconds, prefix))
    cids = [cid for cid in live.sent_at if cid.startswith(prefix)]
    feed_keys = {
        name: {k: v for k, v in sent.items() if f" {prefix} " in k}
        for name, sent in (feeds.sent_at if feeds else {}).items()
    }

    def missing() -> bool:
        return any(live.delivered_at(c) is None for c in cids) or any(
            live.feed_delivered_at(k) is None for keys in feed_keys.values() for k in keys
        )

    deadline = time.perf_counter() + args.grace
    # A bounded look every 50 ms at what is still missing (a measurement's end, not a test's outcome).
    while time.perf_counter() < deadline and missing():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    stop.set()
    await sampler
    wall = time.perf_counter() - began
    phase.client_cpu = round((time.process_time() - cpu_began) / wall, 2)
    phase.webhook_retries = dict(feeds.webhook_retries - retries) if feeds else {}
    sent_at = {cid: live.sent_at[cid] for cid in cids}
    latencies, phase.not_delivered = _latencies(sent_at, live.delivered_at)
    phase.sent, phase.delivered = len(cids), len(latencies)
    phase.acked = sum(1 for cid in cids if cid in live.acked)
    phase.p50_ms, phase.p99_ms = percentile(latencies, 0.5), percentile(latencies, 0.99)
    phase.max_ms = max(latencies, default=0.0)
    phase.throughput = _rate(sent_at, live.delivered_at)
    phase.rss_max_mb = [round(max(s, default=0.0), 1) for s in samples]
    for name, keys in feed_keys.items():
        lat, lost = _latencies(keys, live.feed_delivered_at)
        figures = FeedFigures(name, rates[name], len(keys), len(lat), lost)
        figures.items_per_s = round(_rate(keys, live.feed_delivered_at), 1)
        figures.p50_ms, figures.p99_ms = round(percentile(lat, 0.5), 1), round(percentile(lat, 0.99), 1)
        phase.feed_figures.append(figures)
    for name in ("p50_ms", "p99_ms", "max_ms", "throughput"):
        setattr(phase, name, round(getattr(phase, name), 1))
    return phase


def _rate(sent_at: dict[str, float], arrived: Callable[[str], float | None]) -> float:
    """Items delivered per second, from the first scheduled send to the last arrival."""
    times = [at for key in sent_at if (at := arrived(key)) is not None]
    if not times:
        return 0.0
    return len(times) / max(max(times) - min(sent_at.values()), 1e-9)


async def _settled_rss(pids: list[int], seconds: float) -> list[float]:
    """Each process's RSS once it stopped growing (a process just ready still loads what its connectors
    import: read at once, the socket's cost would include it), at most `seconds` on."""
    deadline = time.monotonic() + seconds
    last = [rss_mb(pid) for pid in pids]
    while time.monotonic() < deadline:
        await asyncio.sleep(1)
        now = [rss_mb(pid) for pid in pids]
        if all(abs(a - b) < 1.0 for a, b in zip(now, last, strict=True)):
            break
        last = now
    return [round(mb, 1) for mb in last]


async def warm_up(live: Spread, topology: Topology, args: argparse.Namespace) -> None:
    """Each visitor's first message (a new card and conversation, routed), at the phases' rate, not
    measured: the phases are visitors in a conversation, as most of a live hub's traffic is."""
    prefix = f"warm-{uuid.uuid4().hex[:6]}"
    began = time.perf_counter()
    await live.drive(args.rate, len(live.visitors) / args.rate, prefix)
    cids = [cid for cid in live.sent_at if cid.startswith(prefix)]
    deadline = time.perf_counter() + max(args.grace, 30.0)
    # A bounded look every 50 ms at what is still missing (a measurement's end, not a test's outcome).
    while time.perf_counter() < deadline and any(live.delivered_at(c) is None for c in cids):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    topology.warmup_seconds = round(time.perf_counter() - began, 2)
    topology.warmup_not_delivered = sum(1 for c in cids if live.delivered_at(c) is None)


async def measure(
    http: aiohttp.ClientSession,
    topology: Topology,
    bases: list[str],
    pids: list[int],
    token: str,
    args: argparse.Namespace,
    feeds: Feeds | None,
) -> list[LoadPhase]:
    """Idle sockets (hubs only), then the visitors and agents, then the phases: live, and live + feeds."""
    live, idle = Spread(http, bases, token), Spread(http, bases, token)
    phases = []
    try:
        if feeds is not None and args.idle_sockets:
            topology.rss_before_sockets_mb = await _settled_rss(pids, args.settle)
            await idle.open_idle(args.idle_sockets)
            await asyncio.sleep(1)  # the RSS once the last hellos are answered and their buffers freed
            topology.idle_sockets = len(idle.visitors)
            topology.rss_idle_mb = [round(rss_mb(pid), 1) for pid in pids]
        await live.open(args.visitors, args.agents)
        await warm_up(live, topology, args)
        phases.append(await run_phase(live, pids, topology.server, args, None))
        if feeds is not None:
            feeds.hook_bases = bases
            phases.append(await run_phase(live, pids, topology.server, args, feeds))
    finally:
        await live.close()
        await idle.close()
    return phases


@dataclass(slots=True)
class Run:
    database: str
    redis: str
    topologies: list[Topology] = field(default_factory=list)
    phases: list[LoadPhase] = field(default_factory=list)
    cpus: int = 0


async def bench(args: argparse.Namespace, database_url: str, tmp: Path) -> Run:
    token = await prepare_database(database_url)
    connector = aiohttp.TCPConnector(limit=0)  # the default 100 connections would queue the 101st socket
    async with contextlib.AsyncExitStack() as stack:
        redis_url = await stack.enter_async_context(redis_server(args.redis_url))
        dovecot, smtp = await stack.enter_async_context(mail_servers())
        poll_bot = await stack.enter_async_context(fake_bot(POLL_TOKEN))
        hook_bot = await stack.enter_async_context(fake_bot(HOOK_TOKEN))
        http = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))
        run = Run(make_url(database_url).get_backend_name(), redis_url, cpus=os.cpu_count() or 0)
        feeds = Feeds(smtp.port, poll_bot, http)

        bare = Topology("bare relay", 1)
        async with child("--visitors", "0", "--serve", "bare") as (proc, info):
            base = f"http://127.0.0.1:{info['port']}"
            run.phases += await measure(http, bare, [base], [proc.pid], "bare", args, None)
        run.topologies.append(bare)

        def config(name: str) -> Path:
            return hub_config(
                tmp, name, database_url, redis_url, dovecot.port, smtp.port, poll_bot.url, hook_bot.url
            )

        hubs = await start_hubs(tmp, {"a": config("a")}, stack)
        for count in args.processes:
            if count > len(hubs):
                more = {name: config(name) for name in "bcdefghij"[len(hubs) - 1 : count - 1]}
                hubs += await start_hubs(tmp, more, stack)
            serving = hubs[:count]
            topology = Topology(f"hub x{count}", count)
            bases, pids = [h.url for h in serving], [h.proc.pid for h in serving]
            run.phases += await measure(http, topology, bases, pids, token, args, feeds)
            run.topologies.append(topology)
    floor = {p.rate: p for p in run.phases if p.server == "bare relay"}
    for phase in run.phases:
        bare_phase = floor.get(phase.rate)
        if phase.server != "bare relay" and bare_phase is not None:
            if bare_phase.p50_ms > 0:
                phase.ratio_p50 = round(phase.p50_ms / bare_phase.p50_ms, 2)
            if bare_phase.p99_ms > 0:
                phase.ratio_p99 = round(phase.p99_ms / bare_phase.p99_ms, 2)
            if bare_phase.throughput > 0:
                phase.ratio_throughput = round(phase.throughput / bare_phase.throughput, 2)
    return run


def table(run: Run, args: argparse.Namespace) -> str:
    lines = [
        f"{args.visitors} visitors, {args.agents} agent sockets, {args.rate} messages/s "
        f"for {args.seconds:g} s; "
        f"feeds: e-mail {args.email_rate:g}/s, Telegram webhook {args.webhook_rate:g}/s, Telegram polling "
        f"{args.polling_rate:g}/s; {run.database} + Redis, {run.cpus} CPUs, clients on the ports directly",
        f"{'server':<11} {'feeds':<5} {'sent':>5} {'not dlv':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'msg/s':>7} {'p50 /bare':>9} {'p99 /bare':>9} {'msg/s /bare':>11} {'client CPU':>10}  RSS MB max",
    ]

    def ratio(value: float | None) -> str:
        return f"{value:.2f}x" if value is not None else ""

    for p in run.phases:
        lines.append(
            f"{p.server:<11} {'on' if p.feeds else 'off':<5} {p.sent:>5} {p.not_delivered:>7} "
            f"{p.p50_ms:>8.1f} {p.p99_ms:>8.1f} {p.max_ms:>8.1f} {p.throughput:>7.1f} "
            f"{ratio(p.ratio_p50):>9} {ratio(p.ratio_p99):>9} {ratio(p.ratio_throughput):>11} "
            f"{p.client_cpu:>9.0%}  " + " / ".join(f"{mb:.0f}" for mb in p.rss_max_mb)
        )
    lines.append("")
    lines.append(
        f"{'server':<11} {'feed':<8} {'rate/s':>6} {'sent':>5} {'ingested':>8} {'not dlv':>7} {'items/s':>8} "
        f"{'p50 ms':>8} {'p99 ms':>8}"
    )
    for p in run.phases:
        for f in p.feed_figures:
            lines.append(
                f"{p.server:<11} {f.feed:<8} {f.rate:>6g} {f.sent:>5} {f.delivered:>8} {f.not_delivered:>7} "
                f"{f.items_per_s:>8.1f} {f.p50_ms:>8.1f} {f.p99_ms:>8.1f}"
            )
        if p.feeds and p.webhook_retries:
            lines.append(f"{p.server:<11} webhook POSTs sent again (answer: count): {p.webhook_retries}")
    lines.append("")
    for t in run.topologies:
        lines.append(
            f"{t.server}: warm-up (each visitor's first message: new card and conversation) "
            f"{t.warmup_seconds:.1f} s, not delivered {t.warmup_not_delivered}"
        )
        if t.idle_sockets:
            lines.append(
                f"{t.server}: RSS MB per process before {t.idle_sockets} idle widget sockets "
                f"{' / '.join(f'{mb:.0f}' for mb in t.rss_before_sockets_mb)}, with them "
                f"{' / '.join(f'{mb:.0f}' for mb in t.rss_idle_mb)} (they stay open for the phases)"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--postgresql-url", default=DEFAULT_PG, help=f"the server for the scratch database ({DEFAULT_PG})"
    )
    parser.add_argument(
        "--redis-url", help="a Redis to use (default: a redis-server of our own on a free port)"
    )
    parser.add_argument("--visitors", type=int, default=500, help="visitor sockets that send (default 500)")
    parser.add_argument("--agents", type=int, default=50, help="agent sockets (default 50)")
    parser.add_argument("--idle-sockets", type=int, default=1000, help="idle widget sockets (default 1000)")
    parser.add_argument("--rate", type=int, default=100, help="visitors' messages per second (default 100)")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per phase (default 15)")
    parser.add_argument("--grace", type=float, default=5.0, help="wait after a phase (default 5)")
    parser.add_argument("--email-rate", type=float, default=10.0, help="mails per second (default 10)")
    parser.add_argument(
        "--webhook-rate", type=float, default=50.0, help="Telegram webhook POSTs/s (default 50)"
    )
    parser.add_argument(
        "--polling-rate", type=float, default=20.0, help="Telegram polled updates/s (default 20)"
    )
    parser.add_argument(
        "--processes", type=int, nargs="+", default=[1, 3], help="hub topologies (default 1 3)"
    )
    parser.add_argument(
        "--settle", type=float, default=15.0, help="most seconds to wait for a steady RSS before the sockets"
    )
    parser.add_argument(
        "--short", action="store_true", help="CI: 20 visitors, 3 agents, 1 s at 20/s, 30 idle"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--logs", help="copy the hub processes' logs (stderr) into this directory")
    args = parser.parse_args(argv)
    if args.short:
        args.visitors, args.agents, args.idle_sockets, args.rate, args.seconds = 20, 3, 30, 20, 1.0
        args.email_rate, args.webhook_rate, args.polling_rate, args.settle = 3.0, 5.0, 5.0, 0.0
    if sorted(args.processes) != args.processes or not 1 <= args.processes[0] <= args.processes[-1] <= 9:
        parser.error("--processes: increasing counts from 1 to 9")
    pg: URL = make_url(args.postgresql_url)
    if pg.get_backend_name() != "postgresql":
        parser.error("--postgresql-url must be a PostgreSQL URL (several processes share PostgreSQL only)")
    pg = pg.set(drivername="postgresql+asyncpg")
    scratch = f"okno_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_scratch_database(pg, True, scratch))
    try:
        with tempfile.TemporaryDirectory(prefix="okno-load-bench-") as name:
            url = pg.set(database=scratch).render_as_string(hide_password=False)
            try:
                run = asyncio.run(bench(args, url, Path(name)))
            finally:
                if args.logs:
                    Path(args.logs).mkdir(parents=True, exist_ok=True)
                    for log in Path(name).glob("*.log"):
                        shutil.copy(log, Path(args.logs) / log.name)
    finally:
        asyncio.run(_scratch_database(pg, False, scratch))
    if args.json:
        print(json.dumps(asdict(run)))
    else:
        print(table(run, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
