"""bench/live.py runs end to end in its short mode: visitors' messages over the web-chat socket to an agent
socket, beside the bare relays, with the ratios (the figures are for the note, not asserted)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.waiting import WAIT_CEILING, resolved

ROOT = Path(__file__).resolve().parents[2]
BENCH_CEILING = max(WAIT_CEILING, 180.0)  # a whole benchmark run, not a wait for a signal


async def test_bench_drives_visitors_to_an_agent_socket_beside_the_bare_relays() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench" / "live.py"),
        *("--short", "--json"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await resolved(proc.communicate(), "the benchmark", ceiling=BENCH_CEILING)
    assert proc.returncode == 0, err.decode()
    run = json.loads(out)["backends"]["sqlite"]
    servers = [(p["server"], p["rate"]) for p in run["phases"]]
    assert servers == [
        (server, rate) for server in ("bare relay", "bare relay + SQLite commit", "hub") for rate in (20, 50)
    ]
    for phase in run["phases"]:
        assert phase["sent"] == phase["rate"]  # one second each
        assert phase["delivered"] + phase["not_delivered"] == phase["sent"]
        assert phase["p50_ms"] <= phase["p90_ms"] <= phase["p99_ms"] <= phase["max_ms"]
        assert phase["rss_max_mb"] > 0
        if phase["server"] == "hub":
            assert phase["echoes"] == 0  # the visitor's own messages come back as acks only
            assert phase["ratio_p99"] is None or phase["ratio_p99"] > 0
    assert run["idle_sockets"] == 20 and run["rss_idle_mb"] > 0
