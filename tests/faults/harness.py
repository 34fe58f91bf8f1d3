"""What the fault tests share: peers of our own that they stop and start (a throwaway PostgreSQL cluster, a
redis-server), a hub process (`okno run`) with its own configuration, and an HTTP client for it.

Every server runs on a free loopback port in a temporary directory and is stopped by its PID; nothing here
touches the machine's own PostgreSQL or Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.channels.email.servers import free_port
from tests.conftest import require_service
from tests.hub.test_demo import running
from tests.waiting import eventually_sync, port_open_sync

API_TOKEN = "fault-t0ken"


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


class ThrowawayPostgres:
    """A PostgreSQL cluster of our own (initdb as user postgres, fsync off) on a free port: restarted by the
    tests at will, never the machine's server."""

    def __init__(self) -> None:
        bin_dir = _pg_bin()
        require_service("postgresql binaries", bin_dir is not None and shutil.which("runuser") is not None)
        require_service("root (initdb runs as user postgres)", os.geteuid() == 0)
        assert bin_dir is not None
        self.bin = bin_dir
        self.directory = Path(tempfile.mkdtemp(prefix="okno-faults-pg-"))
        shutil.chown(self.directory, "postgres", "postgres")
        self.data = self.directory / "data"
        self.port = free_port()
        self._as_postgres(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "-N",
        )

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/okno"

    def _as_postgres(self, tool: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin / tool), *args],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            "pg_ctl",
            "-D",
            str(self.data),
            "-w",
            "-l",
            str(self.directory / "server.log"),
            "-o",
            options,
            "start",
        )

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-w", "-m", "fast", "stop")

    def create_database(self) -> None:
        self._as_postgres("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "okno")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class RedisServer:
    """A redis-server of our own on a free port (no persistence), stopped and started by the test."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        require_service("redis-server", binary is not None)
        assert binary is not None
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_open_sync(self.port, f"redis-server on {self.port}", alive=lambda: process.poll() is None)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.send_signal(signal.SIGKILL)  # an outage, not a shutdown
        process.wait()
        eventually_sync(lambda: not _accepts(self.port), f"redis-server on {self.port} gone")


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def api_account(**options: Any) -> str:
    """The TOML of one generic API account named `shop` (its token from OKNO_FAULTS_TOKEN)."""
    lines = ["[accounts.shop]", 'kind = "api"', 'token_env = "OKNO_FAULTS_TOKEN"']
    lines += [f"{key} = {_toml(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class HubProcess:
    """`okno run` serving on `url`; its log is `log()`."""

    proc: asyncio.subprocess.Process
    url: str
    directory: Path

    def log(self) -> str:
        return (self.directory / "stderr.log").read_text(errors="replace")


@asynccontextmanager
async def hub_process(
    directory: Path, database_url: str, config: str, env: Mapping[str, str] | None = None
) -> AsyncIterator[HubProcess]:
    """`okno run` on a free port with `config` (TOML) and the database at `database_url`; killed at the
    end."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "okno.toml"
    path.write_text(f'attachments_dir = "{directory / "blobs"}"\n\n{config}', encoding="utf-8")
    port = free_port()
    environment = {
        "OKNO_CONFIG": str(path),
        "OKNO_DATABASE_URL": database_url,
        "OKNO_FAULTS_TOKEN": API_TOKEN,
        **(env or {}),
    }
    async with running("run", "--port", str(port), cwd=directory, env=environment) as (proc, _):
        yield HubProcess(proc, f"http://127.0.0.1:{port}", directory)


def message(external_id: str, text: str = "Где мой заказ?") -> dict[str, Any]:
    return {"external_id": external_id, "sender": {"name": "Ольга", "email": "olga@example.ru"}, "text": text}


async def hand_in(http: aiohttp.ClientSession, hub: HubProcess, body: dict[str, Any]) -> tuple[int, Any]:
    """POST one message through the API channel; the status and the JSON body (or text)."""
    async with http.post(
        f"{hub.url}/api/v1/channels/shop/messages",
        json=body,
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    ) as response:
        try:
            answer: Any = await response.json()
        except (aiohttp.ContentTypeError, ValueError):
            answer = await response.text()
        return response.status, (answer, dict(response.headers))


async def agent_token(database_url: str, email: str = "admin@okno.example") -> str:
    """An admin agent in the hub's database, and an API token for it."""
    from hub import auth, db
    from inbox.agents import create_agent

    engine = db.create_engine(database_url)
    try:
        async with db.sessionmaker(engine)() as session:
            agent = await create_agent(
                session, email=email, name="Admin", password="fault-pass-1", role="admin"
            )
            token, _ = await auth.create_api_token(session, agent.id, "faults")
            await session.commit()
    finally:
        await engine.dispose()
    return token


async def stored_external_ids(database_url: str) -> dict[str, int]:
    """How many inbound messages are stored under each external id."""
    from sqlalchemy import func, select

    from hub import db
    from inbox.models import Message

    engine = db.create_engine(database_url)
    try:
        async with db.sessionmaker(engine)() as session:
            rows = await session.execute(
                select(Message.external_id, func.count())
                .where(Message.direction == "in")
                .group_by(Message.external_id)
            )
            return {str(external_id): int(count) for external_id, count in rows}
    finally:
        await engine.dispose()


@dataclass
class Traffic:
    """Messages handed in one after another until stopped; each one's status and answer, by external id."""

    answers: dict[str, tuple[int, Any]]

    def acknowledged(self) -> set[str]:
        return {key for key, (status, _) in self.answers.items() if status in (200, 201)}

    def refused(self) -> dict[str, tuple[int, Any]]:
        return {key: answer for key, answer in self.answers.items() if answer[0] not in (200, 201)}


@asynccontextmanager
async def traffic(hub: HubProcess, prefix: str, senders: int = 2) -> AsyncIterator[Traffic]:
    """`senders` clients handing in messages without pause (none retried) while the block runs."""
    record = Traffic({})
    stop = asyncio.Event()

    async def sender(number: int, http: aiohttp.ClientSession) -> None:
        sequence = 0
        while not stop.is_set():
            key = f"{prefix}-{number}-{sequence}"
            sequence += 1
            try:
                record.answers[key] = answer = await hand_in(http, hub, message(key))
            except aiohttp.ClientError as exc:  # the hub itself went away (a kill): no answer
                record.answers[key] = answer = (0, (repr(exc), {}))
            if answer[0] not in (200, 201):
                await asyncio.sleep(0.05)  # a client's pause before the next try, not a wait for an outcome

    async with aiohttp.ClientSession() as http:
        tasks = [asyncio.create_task(sender(n, http)) for n in range(senders)]
        try:
            yield record
        finally:
            stop.set()
            await asyncio.gather(*tasks)
