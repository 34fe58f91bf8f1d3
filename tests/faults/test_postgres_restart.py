"""PostgreSQL stopped and started again under traffic, with a hub process (`okno run`) on a throwaway cluster
of our own: every message the hub acknowledged is stored exactly once, the others were answered 503 with a
reason and Retry-After (no 500, no hang), /readyz says not ready during the outage and ready after, and the
hub recovers without a restart — a reply waiting in the outbox across the outage is sent after it.

Self-contained (its own cluster), so it runs once: in the SQLite pass (it takes no ``database_url``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.channels.email.servers import free_port
from tests.faults.harness import (
    ThrowawayPostgres,
    agent_token,
    api_account,
    hand_in,
    hub_process,
    message,
    stored_external_ids,
    traffic,
)
from tests.waiting import eventually, within


@pytest.fixture
def postgres() -> Iterator[ThrowawayPostgres]:
    cluster = ThrowawayPostgres()
    try:
        cluster.start()
        cluster.create_database()
        yield cluster
    finally:
        cluster.remove()


class Callbacks:
    """The API account's callback URL: refuses replies (503) until `accepting`, then records them."""

    def __init__(self) -> None:
        self.accepting = False
        self.received: list[dict[str, Any]] = []
        self.refused = 0

    async def handle(self, request: web.Request) -> web.Response:
        if not self.accepting:
            self.refused += 1
            return web.json_response({"error": "not now"}, status=503)
        self.received.append(await request.json())
        return web.json_response({"id": f"cb-{len(self.received)}"})


async def ready(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(f"{url}/readyz") as response:
        return response.status, await response.json()


async def test_postgresql_restarted_under_traffic_loses_nothing_acknowledged(
    postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    callbacks = Callbacks()
    app = web.Application()
    app.router.add_post("/replies", callbacks.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    outbox = "base_delay_seconds = 0.1\nmax_delay_seconds = 0.3\npoll_seconds = 0.1\nmax_attempts = 1000"
    config = f"[outbox]\n{outbox}\n\n" + api_account(callback_url=f"http://127.0.0.1:{port}/replies")
    try:
        async with (
            hub_process(tmp_path / "hub", postgres.url, config) as hub,
            aiohttp.ClientSession() as http,
        ):
            status, answer = await hand_in(http, hub, message("before-1"))
            assert status == 201, answer
            conversation_id = answer[0]["conversation_id"]
            token = await agent_token(postgres.url)
            async with http.post(
                f"{hub.url}/api/v1/conversations/{conversation_id}/replies",
                json={"text": "Заказ уже в пути"},
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                assert response.status == 201, await response.text()
            await eventually(lambda: callbacks.refused >= 1, "the reply tried and refused by the callback")

            async with traffic(hub, "pg") as sent:
                await eventually(lambda: len(sent.acknowledged()) >= 5, "messages stored before the outage")
                await asyncio.to_thread(postgres.stop)
                await eventually(lambda: len(sent.refused()) >= 3, "messages refused during the outage")
                status, body = await ready(http, hub.url)
                assert status == 503 and body["reasons"][0].startswith("database: "), body
                callbacks.accepting = True  # the callback is back; the outbox cannot read its row yet
                stored_before = len(sent.acknowledged())
                await asyncio.to_thread(postgres.start)
                await eventually(
                    lambda: len(sent.acknowledged()) >= stored_before + 5, "messages stored after the restart"
                )
            async with within("the hub answering /readyz"):
                assert (await ready(http, hub.url))[0] == 200

            await eventually(lambda: callbacks.received, "the reply sent after the outage")
            log = hub.log()
    finally:
        await runner.cleanup()

    stored = await stored_external_ids(postgres.url)
    assert {key for key in sent.acknowledged() if stored.get(key) != 1} == set()
    assert all(count == 1 for count in stored.values()), stored
    # A refused message is answered 503 with its reason and Retry-After (a connection lost mid-request may be
    # stored all the same: the sender's retry then gets 200 "duplicate", never a second copy).
    for key, (status, (body, headers)) in sent.refused().items():
        assert status == 503, (key, status, body)
        assert body["error"]["code"] == "unavailable" and headers["Retry-After"] == "5", body
    assert [r["text"] for r in callbacks.received] == ["Заказ уже в пути"]  # sent once
    assert "ingest batch failed" not in log  # the outage is logged as such, never as a bug of the ingest
