"""bench/suggestions.py and bench/template_search.py run and print their figures with the baselines."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.waiting import WAIT_CEILING, resolved

ROOT = Path(__file__).resolve().parents[2]
BENCH_CEILING = max(WAIT_CEILING, 180.0)  # a whole benchmark run, not a wait for a signal


async def bench(script: str, *args: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench" / script),
        *args,
        "--json",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await resolved(proc.communicate(), script, ceiling=BENCH_CEILING)
    assert proc.returncode == 0, err.decode()
    figures: dict[str, object] = json.loads(out)
    return figures


async def test_the_suggestion_bench_prints_hit_at_3_next_to_word_overlap() -> None:
    figures = await bench("suggestions.py")
    sets = figures["sets"]
    assert isinstance(sets, dict)
    assert set(sets) == {"labelled", "unseen", "heldout", "fresh"}
    for row in sets.values():
        assert {"messages", "hit@3", "word_overlap_hit@3"} <= set(row)


async def test_the_search_bench_prints_latency_next_to_a_substring_scan() -> None:
    figures = await bench("template_search.py", "--templates", "100", "--rounds", "1")
    assert figures["templates"] == 100
    assert {"search_median_ms", "substring_median_ms", "ratio_median", "build_ms"} <= set(figures)
