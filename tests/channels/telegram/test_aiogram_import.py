"""``import aiogram`` (seconds on a cold start) runs off the event loop when a Telegram connector starts: the
loop keeps serving while it runs. Checked in a fresh interpreter, where aiogram is not imported yet."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.waiting import WAIT_CEILING, resolved

ROOT = Path(__file__).resolve().parents[3]

# The probe: a task that counts event-loop turns, and an audit hook noting, for each aiogram module imported,
# the thread importing it and the count at that moment. A connector in webhook mode is ready right after
# getMe, so the whole import happens between the connector's start and its readiness.
PROBE = """
import asyncio, json, sys, threading

from channels.telegram import TelegramConnector
from tests.channels.messenger_harness import connector_running, serving
from tests.channels.telegram.conftest import context
from tests.channels.telegram.fake_bot_api import FakeBotApi
from tests.waiting import event_set

assert "aiogram" not in sys.modules, "aiogram is already imported: the probe would prove nothing"
turns = 0
imports = []


def audit(event, args):
    if event == "import" and str(args[0]).split(".")[0] == "aiogram":
        imports.append((threading.get_ident(), turns))


async def main():
    loop_thread = threading.get_ident()

    async def probe():
        global turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    async def sink(item):
        return None

    async with serving(FakeBotApi()) as api:
        ticking = asyncio.create_task(probe())
        conn = TelegramConnector(context(api, secret="probe-secret", mode="webhook"))
        sys.addaudithook(audit)
        async with connector_running(conn, sink):
            await event_set(conn.ready, "the connector receives")
        ticking.cancel()
    print(json.dumps({
        "imports": len(imports),
        "on_the_loop": sum(1 for thread, _ in imports if thread == loop_thread),
        "turns_during_import": imports[-1][1] - imports[0][1] if imports else 0,
    }))


asyncio.run(main())
"""


async def test_the_event_loop_keeps_serving_while_a_starting_telegram_connector_imports_aiogram() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PROBE,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    # A cold import of aiogram is ~10 s of CPU, and the audit hook adds to it: with both cores busy that is
    # minutes, so this one wait has a longer ceiling than the shared one (it still ends when the probe does).
    probe_done = proc.communicate()
    out, err = await resolved(probe_done, "the probe interpreter to finish", ceiling=max(WAIT_CEILING, 600))
    assert proc.returncode == 0, err.decode()
    seen = json.loads(out.decode().strip().splitlines()[-1])
    assert seen["imports"] > 0  # the connector did import aiogram while the probe watched
    assert seen["on_the_loop"] == 0, seen  # ...never on the event loop's thread
    assert seen["turns_during_import"] >= 1, seen  # ...and the loop kept turning meanwhile
