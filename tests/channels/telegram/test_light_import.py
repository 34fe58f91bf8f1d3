"""The Telegram channel brings no library of its own: importing it, starting a connector and sending a reply
load nothing beyond what the hub already has (aiohttp, our code, the standard library). aiogram once added
~120 MB of RSS and seconds of a cold start to every hub process; this pins that nothing like it comes back.
Checked in a fresh interpreter, where the channel is not imported yet."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.waiting import resolved

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import asyncio, json, sys

import channels.base
from tests.channels.messenger_harness import connector_running, outbound_message, serving
from tests.channels.telegram.fake_bot_api import FakeBotApi
from tests.waiting import event_set
from inbox.items import IdentityRef

assert "channels.telegram" not in sys.modules, "already imported: the probe would prove nothing"
before = set(sys.modules)


async def main():
    from channels.telegram import TelegramConnector
    from tests.channels.telegram.conftest import context

    async def sink(item):
        return None

    async with serving(FakeBotApi()) as api:
        conn = TelegramConnector(context(api, secret="probe-secret", mode="webhook"))
        async with connector_running(conn, sink):
            await event_set(conn.ready, "the connector receives")
            to = (IdentityRef("telegram", "42"),)
            reply = outbound_message(text="hello", contact_name="C", recipients=to)
            await conn.send(reply)
        await conn.close()
    loaded = {name.split(".")[0] for name in set(sys.modules) - before}
    print(json.dumps(sorted(loaded - set(sys.stdlib_module_names) - {"channels", "inbox", "tests"})))


asyncio.run(main())
"""


async def test_the_telegram_channel_loads_no_library_of_its_own() -> None:
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
    out, err = await resolved(proc.communicate(), "the probe interpreter to finish")
    assert proc.returncode == 0, err.decode()
    assert json.loads(out.decode().strip().splitlines()[-1]) == []
