"""bench/inbox.py runs end to end in its short mode, on SQLite and PostgreSQL in one run, and times every
agent request against the bare SQL (the figures themselves are for the note, not asserted)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.bench.test_reports_bench import BENCH_CEILING, POSTGRESQL, _postgresql_available
from tests.waiting import resolved

ROOT = Path(__file__).resolve().parents[2]


async def test_short_bench_times_every_agent_request_on_both_backends() -> None:
    from tests.conftest import require_service

    require_service("postgresql", await _postgresql_available(), "127.0.0.1:5432")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench" / "inbox.py"),
        *("--short", "--requests", "2", "--postgresql-url", POSTGRESQL, "--json"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await resolved(proc.communicate(), "the benchmark", ceiling=BENCH_CEILING)
    assert proc.returncode == 0, err.decode()
    result = json.loads(out)
    assert result["conversations"] == 600 and list(result["backends"]) == ["sqlite", "postgresql"]
    for backend in result["backends"].values():
        assert backend["conversations"] == 600 and backend["messages"] == 1800
        names = {r["request"] for r in backend["requests"]}
        wanted = {"list open", "list mine (agent)", "one conversation", "contacts q=смирн", "/inbox page"}
        assert wanted <= names
        assert all(r["median_ms"] > 0 and r["p95_ms"] >= r["median_ms"] for r in backend["requests"])
        assert all(r["bare_sql_ms"] > 0 for r in backend["requests"] if r["ratio"] is not None)
