"""SQLite locked by another process, and SQLite's disk full, under a hub process (`okno run`) on a file of
the test's own: the API channel answers a clear 503 ``unavailable`` with Retry-After (never a 500 with a
stack, never a 422 that would quarantine a good message) and the web-chat socket an ``unavailable`` error
frame with ``retry_after`` (the widget sends the message again); nothing acknowledged is lost, the same
message sent again once the database can write is stored once, and ``PRAGMA integrity_check`` is ok.

Self-contained (their own SQLite files), so they run once, in the SQLite pass.
"""

from __future__ import annotations

import asyncio
import os
import resource
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp

from tests.faults.harness import HubProcess, api_account, hand_in, hub_process, message, stored_external_ids
from tests.waiting import next_frame, within


async def frame_of(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    async with within(f"a {kind} frame"):
        while True:
            frame: dict[str, Any] = await next_frame(ws)
            if frame["type"] == kind:
                return frame


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def assert_unavailable(status: int, answer: tuple[dict[str, object], dict[str, str]], why: str) -> None:
    body, headers = answer
    assert status == 503, (status, body)
    error = body["error"]
    assert isinstance(error, dict) and error["code"] == "unavailable", body
    assert why in str(error["message"]), body
    assert headers["Retry-After"] == "5"


async def test_a_write_lock_held_past_the_busy_timeout_is_a_503_and_the_retry_is_stored_once(
    tmp_path: Path,
) -> None:
    database = tmp_path / "okno.db"
    env = {"OKNO_SQLITE_BUSY_TIMEOUT_SECONDS": "0.5"}
    config = api_account() + '\n[accounts.site]\nkind = "webchat"\nrequire_agent_online = false\n'
    async with (
        hub_process(tmp_path / "hub", url(database), config, env) as hub,
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{hub.url}/webchat/site/ws") as visitor,
    ):
        await visitor.send_json({"type": "hello", "token": None})
        await frame_of(visitor, "hello")
        assert (await hand_in(http, hub, message("m-1")))[0] == 201
        holder = sqlite3.connect(database, isolation_level=None)  # another process's write lock: ours
        try:
            holder.execute("BEGIN IMMEDIATE")
            status, answer = await hand_in(http, hub, message("m-2"))
            assert_unavailable(status, answer, "database is locked")
            # A visitor's message over the widget's socket: told to send it again, the socket stays open.
            await visitor.send_json({"type": "message", "id": "w-1", "text": "Есть кто?"})
            refused = await frame_of(visitor, "error")
            assert (refused["code"], refused["id"], refused["retry_after"]) == ("unavailable", "w-1", 5)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        status, answer = await hand_in(http, hub, message("m-2"))  # the sender's retry
        assert status == 201, answer
        assert (await hand_in(http, hub, message("m-2")))[0] == 200  # once more: a duplicate, stored once
        await visitor.send_json({"type": "message", "id": "w-1", "text": "Есть кто?"})  # the widget's retry
        await frame_of(visitor, "ack")
        log = hub.log()
    stored = await stored_external_ids(url(database))
    assert {k: v for k, v in stored.items() if k.startswith("m-")} == {"m-1": 1, "m-2": 1}
    assert len(stored) == 3 and all(count == 1 for count in stored.values())  # and the visitor's, once
    assert integrity(database) == "ok"
    assert "ingest batch failed" not in log and "unhandled error" not in log


def limit_file_size(hub: HubProcess, limit: int) -> None:
    """The hub's largest file write, from now on (Python ignores SIGXFSZ: a write past it fails EFBIG)."""
    _, hard = resource.prlimit(hub.proc.pid, resource.RLIMIT_FSIZE)
    resource.prlimit(hub.proc.pid, resource.RLIMIT_FSIZE, (limit, hard))


async def test_a_full_disk_is_a_503_and_after_space_is_freed_the_retry_is_stored_once(tmp_path: Path) -> None:
    database = tmp_path / "okno.db"
    async with (
        hub_process(tmp_path / "hub", url(database), api_account()) as hub,
        aiohttp.ClientSession() as http,
    ):
        assert (await hand_in(http, hub, message("m-0")))[0] == 201
        files = [database, Path(f"{database}-wal"), hub.directory / "stderr.log"]
        limit_file_size(hub, max(os.path.getsize(f) for f in files if f.exists()) + 64 * 1024)
        acknowledged, refused = [], None
        text = "Длинное письмо. " * 4000  # ~60 KB a message: the space runs out within a few
        for number in range(1, 200):
            key = f"m-{number}"
            status, answer = await hand_in(http, hub, message(key, text))
            if status != 201:
                refused = (key, status, answer)
                break
            acknowledged.append(key)
        assert refused is not None, "the limit never stopped a write"
        key, status, answer = refused
        assert_unavailable(status, answer, "SQLITE_")  # the reason names SQLite's error (FULL or IOERR)
        await asyncio.to_thread(limit_file_size, hub, resource.RLIM_INFINITY)  # space freed
        status, answer = await hand_in(http, hub, message(key, text))  # the sender's retry
        assert status == 201, answer
        log = hub.log()
    stored = await stored_external_ids(url(database))
    assert stored == {k: 1 for k in ["m-0", *acknowledged, key]}
    assert integrity(database) == "ok"
    assert "ingest batch failed" not in log and "unhandled error" not in log
