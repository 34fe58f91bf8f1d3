"""Redis, the event bus of a hub process (`okno run`), killed and started again while an agent's WebSocket is
open: the message handed in during the outage is stored (201; its event reaches this process's sockets,
and the bus sends it to Redis when Redis is back), /readyz names Redis while it is down, and when the bus
has subscribed again the socket gets a ``resync`` frame — the inbox reloads from the database, so the
message of the outage shows — and then the events of new messages as before, without a restart of the hub
or of the socket.

Uses the database under test (both backends) and a redis-server of its own on a free port.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.faults.harness import RedisServer, agent_token, api_account, hand_in, hub_process, message
from tests.waiting import eventually, next_frame, within


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def frame_of(ws: aiohttp.ClientWebSocketResponse, kind: str, **data: Any) -> dict[str, Any]:
    """The next frame of type `kind` (whose data holds `data`), skipping the others."""
    async with within(f"a {kind} frame on the agent socket"):
        while True:
            frame: dict[str, Any] = await next_frame(ws)
            if frame["type"] == kind and all(frame["data"].get(k) == v for k, v in data.items()):
                return frame


async def test_an_agent_socket_is_told_to_resync_after_redis_comes_back_and_gets_events_again(
    database_url: str, engine: AsyncEngine, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = {"OKNO_BUS_URL": redis_server.url}
    async with (
        hub_process(tmp_path / "hub", database_url, api_account(), env) as hub,
        aiohttp.ClientSession() as http,
    ):
        token = await agent_token(database_url)
        headers = {"Authorization": f"Bearer {token}"}
        async with http.ws_connect(f"{hub.url}/api/v1/ws", headers=headers) as ws:
            await frame_of(ws, "hello")
            status, (first, _) = await hand_in(http, hub, message("before"))
            assert status == 201, first
            await frame_of(ws, "message.created", message_id=first["message_id"])

            await asyncio.to_thread(redis_server.stop)

            async def redis_not_ready() -> bool:
                async with http.get(f"{hub.url}/readyz") as response:
                    body = await response.json()
                return response.status == 503 and any(r.startswith("redis: ") for r in body["reasons"])

            await eventually(redis_not_ready, "/readyz naming Redis")
            status, (during, _) = await hand_in(http, hub, message("during"))
            assert status == 201, during  # stored: the bus is for notifications, the database for data

            await asyncio.to_thread(redis_server.start)
            resync = await frame_of(ws, "resync")
            assert "Redis" in resync["data"]["reason"]
            # What the inbox reloads on resync holds the message of the outage.
            async with http.get(
                f"{hub.url}/api/v1/conversations/{during['conversation_id']}", headers=headers
            ) as response:
                assert response.status == 200, await response.text()
                shown = {m["id"] for m in (await response.json())["messages"]}
            assert during["message_id"] in shown

            status, (after, _) = await hand_in(http, hub, message("after"))
            assert status == 201, after
            await frame_of(ws, "message.created", message_id=after["message_id"])
        log = hub.log()
    assert "event bus reconnected to Redis" in log
