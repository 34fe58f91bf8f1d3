"""Suggestion quality on the labelled customer messages stays at hit@3 ≥ 0.9, above plain word overlap
(bench/suggestions.py prints the figures; this pins them against regressions)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from inbox.knowledge.search import SearchIndex
from inbox.knowledge.suggest import suggest

ROOT = Path(__file__).resolve().parents[3]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("suggestions_bench", ROOT / "bench" / "suggestions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


BENCH = _bench()


@pytest.mark.parametrize("name", ["labelled", "unseen", "heldout", "fresh"])
def test_suggestions_hit_at_3_is_at_least_0_9_and_above_word_overlap(name: str) -> None:
    cases = BENCH.load_cases(BENCH.SETS[name])
    templates = BENCH.shipped_templates()
    index = SearchIndex.build(templates)
    ours = BENCH.hit_rate(cases, lambda text: [h.template.key for h in suggest(index, text)])
    overlap = BENCH.hit_rate(cases, BENCH.word_overlap(templates))
    assert ours >= 0.9
    assert ours > overlap


def test_the_labelled_set_is_realistic_in_size_and_languages() -> None:
    cases = BENCH.load_cases(BENCH.SETS["labelled"])
    keys = {t.key for t in BENCH.shipped_templates()}
    assert len(cases) >= 60 and len(keys) >= 30
    assert all(set(c.expect) <= keys for c in cases)
    assert {k.split(".")[0] for c in cases for k in c.expect} == {"ru", "en"}
