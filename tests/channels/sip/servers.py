"""Real protocol peers for the SIP tests: Kamailio with acc, sipp callers and callees, and an AMI server
that replays transcripts over TCP. Each runs on a free loopback port in a temp dir and is stopped by
its own PID."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import socket
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.waiting import WAIT_CEILING, eventually

SIPP_DIR = Path(__file__).resolve().parent / "sipp"
KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
SQLITE_SCHEMA = Path("/usr/share/kamailio/db_sqlite/acc-create.sql")
EXTRA_COLUMNS = ("src_user", "dst_user", "src_ip", "did", "invite_ts")
FLATSTORE_COLUMNS = (
    "method",
    "from_tag",
    "to_tag",
    "callid",
    "sip_code",
    "sip_reason",
    "time",
    "time_sec",
    "time_usec",
    *EXTRA_COLUMNS,
)


def have(*programs: str) -> bool:
    return all(shutil.which(p) for p in programs)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def udp_port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


async def stop(process: asyncio.subprocess.Process, *, group: bool = False) -> None:
    """Stop a process we started, by its PID (`group`: its process group too, for forking servers)."""

    def signal_it(sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)

    if process.returncode is None or group:
        signal_it(signal.SIGTERM)
        try:
            async with asyncio.timeout(5):  # a grace period before SIGKILL, not a wait for an outcome
                await process.wait()
        except TimeoutError:
            signal_it(signal.SIGKILL)
            await process.wait()
        if group:  # children that outlived their parent
            signal_it(signal.SIGKILL)


KAMAILIO_CFG = """#!KAMAILIO
debug=1
log_stderror=yes
fork=yes
children={children}
auto_aliases=no
listen=udp:127.0.0.1:{port}
mpath="{modules}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "{db_module}"
loadmodule "acc.so"
{modparams}
modparam("acc", "db_flag", 1)
modparam("acc", "db_missed_flag", 2)
modparam("acc", "failed_transaction_flag", 3)
modparam("acc", "db_url", "{db_url}")
modparam("acc", "time_mode", 1)
modparam("acc", "time_attr", "time_sec")
modparam("acc", "time_exten", "time_usec")
modparam("acc", "db_extra", "src_user=$fU;dst_user=$rU;src_ip=$si;did=$avp(did);invite_ts=$avp(invts)")

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("OPTIONS")) {{ sl_send_reply("200", "OK"); exit; }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) t_relay(); exit; }}
    if (has_totag()) {{
        loose_route();
        if (is_method("BYE")) setflag(1);
        t_relay();
        exit;
    }}
    if (is_method("INVITE")) {{
        $avp(invts) = $TV(Sn);
{dids}
        record_route();
        setflag(1); setflag(2); setflag(3);
    }}
{routes}
    sl_send_reply("404", "No such extension");
}}
"""


@dataclass
class Kamailio:
    port: int
    directory: Path
    backend: str
    process: asyncio.subprocess.Process

    @property
    def acc_path(self) -> Path:
        return self.directory / ("acc.sqlite" if self.backend == "sqlite" else "acc")


def _sqlite_database(path: Path) -> None:
    schema = SQLITE_SCHEMA.read_text()
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")  # so that Okno reading never locks Kamailio's inserts out
        db.execute("CREATE TABLE version (table_name VARCHAR(32) NOT NULL, table_version INTEGER DEFAULT 0)")
        db.executescript(schema)
        for table in ("acc", "missed_calls"):
            db.execute(f"ALTER TABLE {table} ADD COLUMN time_sec INTEGER DEFAULT 0 NOT NULL")
            db.execute(f"ALTER TABLE {table} ADD COLUMN time_usec INTEGER DEFAULT 0 NOT NULL")
            for column in EXTRA_COLUMNS:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} VARCHAR(64)")  # NULL when unset
        db.commit()


@contextlib.asynccontextmanager
async def kamailio(
    directory: Path, routes: dict[str, int], dids: dict[str, str], backend: str = "flatstore"
) -> AsyncIterator[Kamailio]:
    """Kamailio on a free port: extension → callee port; DID → the extension it rings."""
    port = free_udp_port()
    if backend == "sqlite":
        db_module, db_url = "db_sqlite.so", f"sqlite://{directory / 'acc.sqlite'}"
        extra_modparams = f'modparam("db_sqlite", "db_set_journal_mode", "{directory / "acc.sqlite"}=WAL;")'
        _sqlite_database(directory / "acc.sqlite")
    else:
        (directory / "acc").mkdir()
        db_module, db_url = "db_flatstore.so", f"flatstore:{directory / 'acc'}"
        extra_modparams = ""
    did_lines = "\n".join(
        f'        if ($rU == "{did}") {{ $avp(did) = $rU; $rU = "{extension}"; }}'
        for did, extension in dids.items()
    )
    route_lines = "\n".join(
        f'    if ($rU == "{extension}") {{ $du = "sip:127.0.0.1:{callee}"; t_relay(); exit; }}'
        for extension, callee in routes.items()
    )
    config = directory / "kamailio.cfg"
    config.write_text(
        KAMAILIO_CFG.format(
            port=port,
            modules=KAMAILIO_MODULES,
            db_module=db_module,
            db_url=db_url,
            modparams=extra_modparams,
            # db_sqlite sets no busy timeout: two Kamailio processes inserting at once lose a record
            children=1 if backend == "sqlite" else 2,
            dids=did_lines,
            routes=route_lines,
        )
    )
    (directory / "run").mkdir()
    log = (directory / "kamailio.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        "kamailio", "-f", str(config), "-DD", "-E", "-Y", str(directory / "run"),
        stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    try:
        await _until_answers_options(port, process, directory / "kamailio.log")
        yield Kamailio(port, directory, backend, process)
    finally:
        await stop(process, group=True)  # Kamailio forks workers: the group is its own (pgid = its PID)
        log.close()


async def _until_answers_options(port: int, process: asyncio.subprocess.Process, log: Path) -> None:
    """Ready when it answers a SIP OPTIONS (a protocol-level check, not a sleep)."""
    loop = asyncio.get_running_loop()
    attempts = itertools.count()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        local = sock.getsockname()[1]

        async def answers() -> bool:
            if process.returncode is not None:
                raise RuntimeError(f"kamailio exited: {log.read_text()[-2000:]}")
            attempt = next(attempts)
            request = (
                f"OPTIONS sip:ping@127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-okno-ready-{attempt}\r\n"
                f"From: <sip:okno@127.0.0.1:{local}>;tag=ready{attempt}\r\n"
                f"To: <sip:ping@127.0.0.1:{port}>\r\n"
                f"Call-ID: ready-{attempt}@okno\r\nCSeq: 1 OPTIONS\r\n"
                "Max-Forwards: 5\r\nContent-Length: 0\r\n\r\n"
            )
            sock.sendto(request.encode(), ("127.0.0.1", port))
            try:  # UDP: a request may be lost before Kamailio listens; ask again after a short while
                async with asyncio.timeout(0.5):
                    reply = await loop.sock_recv(sock, 4096)
            except (TimeoutError, ConnectionRefusedError):
                return False
            return reply.startswith(b"SIP/2.0 200")

        await eventually(answers, f"kamailio answering OPTIONS on {port} (log: {log})")


@dataclass
class Sipp:
    """sipp processes of one test; each is awaited or stopped by its PID."""

    directory: Path
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def _spawn(self, name: str, args: Sequence[str]) -> asyncio.subprocess.Process:
        log = (self.directory / f"sipp-{name}.log").open("wb")
        try:
            process = await asyncio.create_subprocess_exec(
                "sipp", *args, "-nostdin", "-m", "1", "-timeout", f"{WAIT_CEILING:.0f}s", "-timeout_error",
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, cwd=str(self.directory),
            )  # fmt: skip
        finally:
            log.close()
        self.processes.append(process)
        return process

    async def callee(self, name: str, scenario: str | None) -> int:
        """A phone that answers (sipp's built-in uas) or follows one of our scenarios; returns its port."""
        port = free_udp_port()
        which = ["-sn", "uas"] if scenario is None else ["-sf", str(SIPP_DIR / scenario)]
        process = await self._spawn(name, [*which, "-i", "127.0.0.1", "-p", str(port)])
        await eventually(  # listening once the port is bound
            lambda: udp_port_taken(port) or process.returncode is not None, f"sipp {name} listening"
        )
        return port

    async def call(
        self, name: str, scenario: str, caller: str, dialled: str, proxy_port: int, pause_ms: int = 0
    ) -> asyncio.subprocess.Process:
        args = ["-sf", str(SIPP_DIR / scenario), "-key", "caller", caller, "-s", dialled]
        args += [
            "-i",
            "127.0.0.1",
            "-p",
            str(free_udp_port()),
            "-d",
            str(pause_ms),
            f"127.0.0.1:{proxy_port}",
        ]
        return await self._spawn(name, args)

    def log(self, name: str) -> str:
        return (self.directory / f"sipp-{name}.log").read_text(errors="replace")[-3000:]

    async def close(self) -> None:
        for process in self.processes:
            await stop(process)


# --------------------------------------------------------------------------------------- AMI replay


class AmiReplay:
    """A TCP server speaking AMI: greets, checks the login, then sends a transcript's messages in CRLF.

    ``drop_after`` closes the first connection after that many messages (the link dropping mid-call);
    each later connection replays the whole transcript again, as a PBX would re-send nothing but the
    test wants repeated events.
    """

    def __init__(
        self,
        messages: Sequence[str],
        *,
        secret: str,
        drop_after: int | None = None,
        gate: asyncio.Event | None = None,
        answer_pings: bool = True,
    ) -> None:
        self.messages = list(messages)
        self.secret = secret
        self.drop_after = drop_after
        self.gate = gate  # messages wait until it is set (so a test can subscribe to the bus first)
        self.answer_pings = answer_pings
        self.pings = 0
        self.logins: list[tuple[str, str]] = []
        self.sessions = 0
        self.completed = asyncio.Event()  # set when a session sent every message
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await self._session(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if task is not None:
                self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        session = self.sessions
        writer.write(b"Asterisk Call Manager/5.0.1\r\n")
        await writer.drain()
        login = await _read_block(reader)
        self.logins.append((login.get("Username", ""), login.get("Secret", "")))
        action_id = login.get("ActionID", "")
        if login.get("Secret") != self.secret:
            writer.write(
                f"Response: Error\r\nActionID: {action_id}\r\nMessage: Authentication failed\r\n\r\n".encode()
            )
            await writer.drain()
            return
        writer.write(
            f"Response: Success\r\nActionID: {action_id}\r\nMessage: Authentication accepted\r\n\r\n".encode()
        )
        if self.gate is not None:
            await self.gate.wait()
        for index, message in enumerate(self.messages):
            if session == 1 and self.drop_after is not None and index == self.drop_after:
                await writer.drain()
                return  # the link drops
            writer.write(message.encode())
            await writer.drain()
        self.completed.set()
        while True:  # stay up; answer Pings
            block = await _read_block(reader)
            if block.get("Action", "").lower() == "ping":
                self.pings += 1
                if not self.answer_pings:
                    continue
                pong = f"Response: Success\r\nActionID: {block.get('ActionID', '')}\r\nPing: Pong\r\n\r\n"
                writer.write(pong.encode())
                await writer.drain()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            for task in list(self._handlers):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._server.wait_closed()


async def _read_block(reader: asyncio.StreamReader) -> dict[str, str]:
    fields: dict[str, str] = {}
    while True:
        line = await reader.readuntil(b"\n")
        text = line.decode().strip()
        if not text:
            if fields:
                return fields
            continue
        name, _, value = text.partition(":")
        fields[name.strip()] = value.strip()


def transcript_messages(text: str) -> list[str]:
    """A transcript (LF or CRLF) as wire messages: CRLF lines, a blank line after each."""
    blocks: list[str] = []
    current: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append("\r\n".join(current) + "\r\n\r\n")
            current = []
    if current:
        blocks.append("\r\n".join(current) + "\r\n\r\n")
    return blocks
