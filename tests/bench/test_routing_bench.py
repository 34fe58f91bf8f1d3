"""bench/routing.py runs end to end on a tiny N and reports both ingest rates, their ratio and the
assignments, with every dialog routed in the end (the figures themselves are for the note, not asserted)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.waiting import WAIT_CEILING, resolved

ROOT = Path(__file__).resolve().parents[2]
BENCH_CEILING = max(WAIT_CEILING, 180.0)  # a whole benchmark run, not a wait for a signal


async def test_bench_reports_ingest_with_routing_off_and_on_and_routes_everything() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench" / "routing.py"),
        *("-n", "120", "-a", "4", "-c", "10", "-r", "1", "--json"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await resolved(proc.communicate(), "the benchmark", ceiling=BENCH_CEILING)
    assert proc.returncode in (0, 1), err.decode()  # 1: over the limit on a loaded machine, still a report
    result = json.loads(out)
    assert result["off"]["ingest_rate"] > 0 and result["on"]["ingest_rate"] > 0
    assert result["on"]["assigned_total"] == 120 and result["off"]["assigned_total"] == 0
    assert result["ratio_on_off"] == result["on"]["ingest_rate"] / result["off"]["ingest_rate"]
