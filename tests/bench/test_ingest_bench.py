"""bench/ingest.py runs end to end on a tiny N and prints its figures and the ratio to bare commits."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.waiting import WAIT_CEILING, resolved

# It reads OKNO_TEST_DATABASE_URL itself: a PostgreSQL run keeps it (tests/conftest.py).
pytestmark = pytest.mark.database_backend

ROOT = Path(__file__).resolve().parents[2]
BENCH_CEILING = max(WAIT_CEILING, 180.0)  # a whole benchmark run, not a wait for a signal
SCRIPT = ROOT / "bench" / "ingest.py"


async def bench(*args: str) -> tuple[int, str, str]:
    # As a user runs it (`python bench/ingest.py`): no PYTHONPATH, the script finds its siblings itself.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_") and k != "PYTHONPATH"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await resolved(proc.communicate(), "the benchmark", ceiling=BENCH_CEILING)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


TINY = ("-n", "300", "-c", "20", "--bare-seconds", "0.3")


async def test_bench_prints_a_table_with_the_ratio() -> None:
    code, out, err = await bench(*TINY, "--no-gc-freeze")
    assert code == 0, err
    assert "no (--no-gc-freeze)" in out
    assert "messages/s" in out
    assert "ms per message (all threads)" in out
    assert "p50" in out and "p99" in out
    assert "synchronous=FULL" in out and "journal_mode=WAL" in out
    ratio = next(line for line in out.splitlines() if line.startswith("ratio hub / bare"))
    assert float(ratio.split()[-1].rstrip("x")) > 0


def postgres_url() -> str | None:
    url = os.environ.get("OKNO_TEST_DATABASE_URL")
    return url if url and make_url(url).get_backend_name() == "postgresql" else None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_bench_json_counts_every_message(backend: str) -> None:
    args = [*TINY, "--json"]
    if backend == "postgresql":
        url = postgres_url()
        if url is None:
            pytest.skip("OKNO_TEST_DATABASE_URL is not a PostgreSQL URL")
        args += ["--database-url", url]
    code, out, err = await bench(*args)
    assert code == 0, err
    result = json.loads(out)
    assert result["backend"] == backend
    assert result["gc_freeze"] is True  # as `okno run` does
    assert result["messages"] == result["stored_messages"] == 300
    assert 0 < result["contacts"] < 300  # new and returning senders
    assert result["transactions"] < 300  # group commit: messages share transactions
    assert result["messages_per_s"] > 0 and result["bare_commits_per_s"] > 0
    assert result["cpu_ms_per_message"] > 0
    expected = result["messages_per_s"] / result["bare_commits_per_s"]
    assert result["ratio"] == pytest.approx(expected, rel=0.01, abs=0.001)  # both rates are rounded
    assert result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]


@pytest.mark.postgresql_only
async def test_bench_splits_the_messages_over_three_processes_on_postgresql() -> None:
    url = postgres_url()
    assert url is not None  # postgresql_only: the SQLite pass skips this test
    code, out, err = await bench(*TINY, "--json", "--processes", "3", "--database-url", url)
    assert code == 0, err
    result = json.loads(out)
    assert result["processes"] == 3
    assert result["processes_messages_per_s"] > 0 and result["processes_transactions"] >= 3
    assert result["processes_p50_ms"] <= result["processes_p99_ms"]
    assert 0 < result["processes_contacts"] < 300
    expected = result["processes_messages_per_s"] / result["messages_per_s"]
    assert result["processes_ratio_to_one"] == pytest.approx(expected, rel=0.01, abs=0.001)
    # The ceiling: the same messages from bare asyncpg in as many processes, every one stored, the same cards.
    assert result["ceiling_messages_per_s"] > 0 and result["ceiling_transactions"] >= 3
    assert result["ceiling_contacts"] == result["processes_contacts"]
    expected = result["processes_messages_per_s"] / result["ceiling_messages_per_s"]
    assert result["processes_ratio_to_ceiling"] == pytest.approx(expected, rel=0.01, abs=0.001)
