"""A hub process killed with SIGKILL in the middle of ingesting (several senders handing in messages through
the API channel, group commits in flight) loses nothing it acknowledged: after the kill every message answered
2xx is stored exactly once; a restarted hub takes the senders' retries of the unanswered ones, each stored
once (a message committed but not answered before the kill comes back as a duplicate, 200).

The kill -9 of a refused item around its quarantine commit is pinned by tests/hub/test_quarantine.py.
"""

from __future__ import annotations

import signal
from pathlib import Path

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.faults.harness import api_account, hand_in, hub_process, message, stored_external_ids, traffic
from tests.waiting import eventually, resolved


async def test_a_hub_killed_mid_ingest_keeps_every_acknowledged_message_exactly_once(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    async with (
        hub_process(tmp_path / "first", database_url, api_account()) as hub,
        traffic(hub, "kill", senders=4) as sent,
    ):
        await eventually(lambda: len(sent.acknowledged()) >= 30, "messages acknowledged before the kill")
        hub.proc.send_signal(signal.SIGKILL)
        await resolved(hub.proc.wait(), "the hub to die")
    acknowledged = sent.acknowledged()
    stored = await stored_external_ids(database_url)
    assert {key for key in acknowledged if stored.get(key) != 1} == set()
    assert all(count == 1 for count in stored.values()), stored

    unanswered = set(sent.answers) - acknowledged
    async with (
        hub_process(tmp_path / "second", database_url, api_account()) as hub,
        aiohttp.ClientSession() as http,
    ):
        for key in sorted(unanswered):  # the senders' retries
            status, answer = await hand_in(http, hub, message(key))
            assert status == (200 if key in stored else 201), (key, status, answer)
    assert await stored_external_ids(database_url) == dict.fromkeys(sent.answers, 1)
