"""Two `okno run` processes on one PostgreSQL database and one Redis: events cross between them, a pulling
account (Telegram polling) runs in exactly one, and when that one is killed (kill -9) the other takes the
account, ingests what comes next and sends the reply the dead one was sending (once more, at most).

PostgreSQL and Redis only: SQLite is one process per database file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hub import db
from hub.auth import create_api_token
from inbox.agents import create_agent
from inbox.models import ChannelAccount, Conversation, Message
from tests.channels.telegram.fake_bot_api import FakeBotApi
from tests.channels.telegram.updates import msg
from tests.waiting import WAIT_CEILING, eventually, resolved, within

ROOT = Path(__file__).resolve().parents[2]
START_CEILING = max(WAIT_CEILING, 120.0)  # a whole process start (imports, migrations check)
BOT_TOKEN = "123456:TEST-token_abc"
SITE_TOKEN = "site-token-for-the-cluster-test"
STATE = re.compile(
    r'^okno_connector_state\{account="(?P<account>[^"]+)",kind="[^"]+",state="(?P<state>[^"]+)"\} 1'
)


_URL = os.environ.get("OKNO_TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(
    not _URL or db.is_sqlite(_URL),
    reason="several hub processes share PostgreSQL only (SQLite is one process per database file): "
    "runs in the PostgreSQL pass (OKNO_TEST_DATABASE_URL)",
)


class StallingBotApi(FakeBotApi):
    """The fake Bot API whose first sendMessage never answers (its sender gets killed meanwhile)."""

    def __init__(self) -> None:
        super().__init__(BOT_TOKEN)
        self.first_send = asyncio.Event()
        self.release = asyncio.Event()
        self.sends = 0

    async def _sendMessage(self, params: dict[str, Any], files: Any) -> Any:
        self.sends += 1
        if self.sends == 1:
            self.first_send.set()
            await self.release.wait()
        return await super()._sendMessage(params, files)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # the port we were given
    return runner, f"http://127.0.0.1:{port}"


@dataclass
class Process:
    """One `okno run` child: its base URL, its process, its log."""

    name: str
    url: str
    proc: asyncio.subprocess.Process
    log: Path

    async def state_of(self, http: aiohttp.ClientSession, account: str) -> str | None:
        """The account's connector state in this process, from its /metrics."""
        async with http.get(f"{self.url}/metrics") as response:
            text = await response.text()
        for line in text.splitlines():
            found = STATE.match(line)
            if found and found["account"] == account:
                return found["state"]
        return None


def config(tmp: Path, name: str, port: int, database_url: str, redis_url: str, bot: str, peer: str) -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(
        f"""
database_url = "{database_url}"
bus_url = "{redis_url}"
host = "127.0.0.1"
port = {port}
attachments_dir = "{tmp / name / "files"}"

[outbox]
poll_seconds = 0.2
base_delay_seconds = 0.2
lease_seconds = 2

[cluster]
hold_retry_seconds = 0.2

[knowledge]
load_defaults = false

[accounts.tg]
kind = "telegram"
token = "{BOT_TOKEN}"
api_base = "{bot}"

[accounts.site]
kind = "api"
token = "{SITE_TOKEN}"
callback_url = "{peer}/replies"
""",
        encoding="utf-8",
    )
    return path


@contextlib.asynccontextmanager
async def okno_run(tmp: Path, configs: dict[str, Path]) -> AsyncIterator[list[Process]]:
    """`okno run --config FILE` per named config, all started at once (one start-up's wait, not one per
    process) and serving when this yields; every one still alive stopped (SIGTERM) after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    procs: dict[str, asyncio.subprocess.Process] = {}
    try:
        for name, path in configs.items():
            with (tmp / f"{name}.log").open("wb") as err:
                procs[name] = await asyncio.create_subprocess_exec(
                    *(sys.executable, "-m", "hub", "--config", str(path), "run"),
                    cwd=tmp,
                    env=env,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=err,
                )

        async def serving(name: str) -> Process:
            proc, log = procs[name], tmp / f"{name}.log"
            assert proc.stdout is not None
            banner = await proc.stdout.readline()
            assert banner.startswith(b"Okno is running at "), log.read_text(encoding="utf-8")[-3000:]
            return Process(name, banner.split()[4].decode().rstrip("/"), proc, log)

        yield await resolved(
            asyncio.gather(*map(serving, configs)), "the processes serving", ceiling=START_CEILING
        )
    finally:
        for proc in procs.values():
            if proc.returncode is None:
                proc.terminate()
        for name, proc in procs.items():
            try:
                await resolved(proc.wait(), f"process {name} stopped", ceiling=START_CEILING)
            except AssertionError:
                proc.kill()
                await proc.wait()


async def holder_and_standby(
    http: aiohttp.ClientSession, processes: list[Process]
) -> tuple[Process, Process]:
    """The process running the Telegram account and the one standing by, once each says so."""

    async def roles() -> tuple[Process, Process] | None:
        states = [await p.state_of(http, "tg") for p in processes]
        if sorted(states, key=str) == ["running", "standby"]:
            return (processes[0], processes[1]) if states[0] == "running" else (processes[1], processes[0])
        return None

    return await eventually(roles, "one process runs the Telegram account, the other stands by")


async def test_two_processes_share_one_database_and_the_survivor_takes_over_a_killed_holder(
    database_url: str,
    redis_url: str,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    async with sessionmaker() as session:
        admin = await create_agent(
            session, email="admin@okno.example.com", name="Админ", password="long-password-1", role="admin"
        )
        token, _ = await create_api_token(session, admin.id, "cluster test")
        await session.commit()
    bot = StallingBotApi()
    bot_runner, bot.url = await serve(bot.app())
    peer = web.Application()
    peer.router.add_post("/replies", answer)
    peer_runner, peer_url = await serve(peer)
    auth = {"Authorization": f"Bearer {token}"}
    configs = {n: config(tmp_path, n, free_port(), database_url, redis_url, bot.url, peer_url) for n in "ab"}
    try:
        async with aiohttp.ClientSession() as http, okno_run(tmp_path, configs) as processes:
            # Exactly one process polls: the other stands by, its view only (the row keeps "running").
            a, b = await holder_and_standby(http, processes)
            assert await eventually(lambda: in_state(b, http, "site", "running"), "b runs the API account")
            async with sessionmaker() as session:
                row = await session.scalar(select(ChannelAccount).where(ChannelAccount.name == "tg"))
                assert row is not None and row.state == "running"
            async with http.get(f"{b.url}/readyz") as ready:
                assert ready.status == 200, await ready.text()  # standing by is ready
            async with http.get(f"{b.url}/api/v1/channels", headers=auth) as listed:
                shown = {item["name"]: item["state"] for item in (await listed.json())["items"]}
                assert shown == {"tg": "running", "site": "running"}  # tg: as its holder wrote it

            # (a) an agent's socket on a sees a message ingested through b.
            async with http.ws_connect(f"{a.url}/api/v1/ws", headers=auth) as ws:
                hello = await resolved(ws.receive_json(), "hello on a's socket")
                assert hello["type"] == "hello"
                text = f"Вопрос с сайта {uuid.uuid4().hex[:8]}"
                body = {
                    "external_id": "q-1",
                    "sender": {"name": "Иван", "email": "ivan@example.ru"},
                    "text": text,
                }
                site_auth = {"Authorization": f"Bearer {SITE_TOKEN}"}
                async with http.post(
                    f"{b.url}/api/v1/channels/site/messages", json=body, headers=site_auth
                ) as posted:
                    assert posted.status == 201, await posted.text()
                async with within("the message ingested on b reaching a's socket"):
                    while True:
                        frame = await ws.receive_json()
                        data = frame.get("data") or {}
                        if frame["type"] == "message.created" and data.get("preview") == text:
                            break

            # (b) a reply queued through b goes out through a (the holder), which is killed mid-send.
            bot.push({"message": msg("Здравствуйте, бот!", message_id=10)})

            async def tg_conversation() -> int | None:
                async with sessionmaker() as session:
                    return await session.scalar(
                        select(Conversation.id)
                        .join(ChannelAccount, ChannelAccount.id == Conversation.account_id)
                        .where(ChannelAccount.name == "tg")
                    )

            conv_id = await eventually(tg_conversation, "a ingests the Telegram message")
            async with http.post(
                f"{b.url}/api/v1/conversations/{conv_id}/replies", json={"text": "Ответ"}, headers=auth
            ) as replied:
                assert replied.status == 201, await replied.text()
                reply_id = (await replied.json())["id"]
            await resolved(bot.first_send.wait(), "a sending the reply")
            a.proc.kill()  # kill -9: no goodbye, its holds go when PostgreSQL sees the socket close
            await a.proc.wait()

            await eventually(lambda: in_state(b, http, "tg", "running"), "b takes the Telegram account")
            bot.push({"message": msg("Вы тут?", message_id=11)})

            async def ingested() -> bool:
                async with sessionmaker() as session:
                    return bool(
                        await session.scalar(select(Message.id).where(Message.body_text == "Вы тут?"))
                    )

            await eventually(ingested, "b ingests the next update")

            async def delivered() -> str | None:
                async with sessionmaker() as session:
                    status = (await session.get_one(Message, reply_id)).delivery_status
                    return status if status == "sent" else None

            await eventually(delivered, "b sends the reply a was sending, once its lease ran out")
            sent = [c.params["text"] for c in bot.sent()]
            assert sent == ["Ответ", "Ответ"]  # the dead try, and once more: never a third time
    finally:
        bot.release.set()
        await bot_runner.cleanup()
        await peer_runner.cleanup()


async def answer(request: web.Request) -> web.Response:
    return web.json_response({"id": "peer-1"})


async def in_state(process: Process, http: aiohttp.ClientSession, account: str, state: str) -> bool:
    return await process.state_of(http, account) == state
