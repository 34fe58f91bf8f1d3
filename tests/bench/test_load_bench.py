"""bench/load.py runs end to end in its short mode: one hub process, then three, on PostgreSQL + Redis, with
the e-mail and Telegram feeds beside the visitors, and the bare relay of the same run (the figures are for
the note, not asserted).

PostgreSQL only (a scratch database of its own on the server of the PostgreSQL pass): several processes
share PostgreSQL only.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.channels.email.servers import available as dovecot_available
from tests.conftest import postgresql_url, require_service
from tests.waiting import WAIT_CEILING, resolved

pytestmark = pytest.mark.postgresql_only
ROOT = Path(__file__).resolve().parents[2]
BENCH_CEILING = max(WAIT_CEILING, 180.0)  # a whole benchmark run, not a wait for a signal


async def test_bench_compares_one_process_with_three_under_visitors_and_channel_feeds() -> None:
    require_service("dovecot", dovecot_available(), "apt-get install dovecot-imapd")
    require_service("redis-server", shutil.which("redis-server") is not None, "apt-get install redis-server")
    url = postgresql_url()
    assert url is not None  # postgresql_only: the SQLite pass skips this test
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench" / "load.py"),
        *("--short", "--json", "--postgresql-url", url),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await resolved(proc.communicate(), "the benchmark", ceiling=BENCH_CEILING)
    assert proc.returncode == 0, err.decode()
    run = json.loads(out)
    print(json.dumps(run["phases"], indent=1))  # the figures, for whoever reads the log
    phases = [(p["server"], p["processes"], p["feeds"]) for p in run["phases"]]
    assert phases == [
        ("bare relay", 1, False),
        ("hub x1", 1, False),
        ("hub x1", 1, True),
        ("hub x3", 3, False),
        ("hub x3", 3, True),
    ]
    for phase in run["phases"]:
        assert phase["sent"] == phase["rate"]  # one second each
        assert phase["delivered"] + phase["not_delivered"] == phase["sent"]
        assert phase["p50_ms"] <= phase["p99_ms"] <= phase["max_ms"]
        assert len(phase["rss_max_mb"]) == phase["processes"] and all(mb > 0 for mb in phase["rss_max_mb"])
        feeds = {f["feed"]: f for f in phase["feed_figures"]}
        assert set(feeds) == ({"email", "webhook", "polling"} if phase["feeds"] else set())
        for feed in feeds.values():
            assert feed["sent"] == feed["rate"]
            assert feed["delivered"] + feed["not_delivered"] == feed["sent"]
    hubs = [t for t in run["topologies"] if t["server"] != "bare relay"]
    assert [t["idle_sockets"] for t in hubs] == [30, 30]
    assert [len(t["rss_idle_mb"]) for t in hubs] == [1, 3]
