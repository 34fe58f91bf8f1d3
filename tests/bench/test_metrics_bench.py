"""bench/metrics.py runs end to end on a tiny N and prints both queues' rates and the scrape's cost, each with
its ratio."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.waiting import WAIT_CEILING, resolved

ROOT = Path(__file__).resolve().parents[2]
BENCH_CEILING = max(WAIT_CEILING, 180.0)  # a whole benchmark run, not a wait for a signal
SCRIPT = ROOT / "bench" / "metrics.py"


async def test_the_metrics_bench_prints_both_rates_and_the_ratios() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        *("-n", "100", "--rounds", "1", "-c", "10", "--scrapes", "3", "--json"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await resolved(proc.communicate(), "the metrics benchmark", ceiling=BENCH_CEILING)
    assert proc.returncode == 0, err.decode()
    result = json.loads(out.decode())
    assert result["plain_per_s"] > 0 and result["measured_per_s"] > 0
    assert abs(result["ratio"] - result["measured_per_s"] / result["plain_per_s"]) < 0.01
    assert result["scrape_ms"] > 0 and result["bare_select_ms"] > 0 and result["scrape_ratio"] > 0
