"""bench/reports.py runs end to end on a tiny hub, on SQLite and PostgreSQL in one run, and times every report
against its bare SQL aggregate (the figures themselves are for the note, not asserted)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.waiting import WAIT_CEILING, resolved

ROOT = Path(__file__).resolve().parents[2]
BENCH_CEILING = max(WAIT_CEILING, 180.0)  # a whole benchmark run, not a wait for a signal
POSTGRESQL = os.environ.get(
    "OKNO_BENCH_POSTGRESQL_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


async def _postgresql_available() -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", 5432), 5)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def test_bench_times_every_report_on_both_backends_in_one_run() -> None:
    from tests.conftest import require_service

    require_service("postgresql", await _postgresql_available(), "127.0.0.1:5432")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench" / "reports.py"),
        *("--conversations", "60", "--repeat", "1", "--postgresql-url", POSTGRESQL, "--json"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await resolved(proc.communicate(), "the benchmark", ceiling=BENCH_CEILING)
    assert proc.returncode in (0, 1), err.decode()  # 1: a report over its aim on a loaded machine
    result = json.loads(out)
    assert list(result["backends"]) == ["sqlite", "postgresql"]
    for backend in result["backends"].values():
        assert backend["messages"] == 600 and backend["waits"] == 420
        reports = {(r["report"], r["by"]) for r in backend["reports"]}
        assert {name for name, _ in reports} == {
            "first_response",
            "reply_time",
            "resolution",
            "calls",
            "volume",
            "leads",
        }
        assert ("reply_time", "day") in reports and ("leads", "source") in reports
        assert all(r["seconds"] > 0 and r["bare_sql_seconds"] > 0 for r in backend["reports"])
