"""Suggestion quality: hit@3 of the knowledge base's suggestions on labelled customer messages, next to
plain word overlap on the same data.

The templates are the shipped starter set (templates/replies/); the messages are
tests/inbox/knowledge/labelled_messages.yaml (written with the tags, Russian with typos and colloquial
wording, and English), unseen_messages.yaml (written after the tags were final) and heldout_messages.yaml
(slang, long mails with signatures and quotes, transliteration, mixed languages; written before the
ranking was generalised and never tuned on).
A message is a hit when one of its expected templates is among the three suggested (hit@1, also
printed: the first suggestion, the one-click answer). The baseline ranks
the same templates of the message's language by the number of distinct lower-case words they share
with the message (title, tags and body), ties in file order — what a plain keyword match gives.

    python bench/suggestions.py [--misses] [--json]
"""

from __future__ import annotations

import os
import sys

# `python bench/x.py` puts bench/ first on sys.path, where bench/email.py would shadow the standard
# library's `email` package: drop that entry before anything imports it.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inbox.knowledge.defaults import read_defaults  # noqa: E402
from inbox.knowledge.search import IndexedTemplate, SearchIndex  # noqa: E402
from inbox.knowledge.suggest import suggest  # noqa: E402
from inbox.knowledge.text import language_of, strip_markup, words  # noqa: E402

SETS = {
    "labelled": ROOT / "tests" / "inbox" / "knowledge" / "labelled_messages.yaml",
    "unseen": ROOT / "tests" / "inbox" / "knowledge" / "unseen_messages.yaml",
    "heldout": ROOT / "tests" / "inbox" / "knowledge" / "heldout_messages.yaml",
    "fresh": ROOT / "tests" / "inbox" / "knowledge" / "fresh_messages.yaml",
}
K = 3


@dataclass(frozen=True, slots=True)
class Case:
    text: str
    expect: tuple[str, ...]


def load_cases(path: Path) -> list[Case]:
    raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [Case(str(item["text"]), tuple(item["expect"])) for item in raw]


def shipped_templates() -> list[IndexedTemplate]:
    entries = read_defaults(ROOT / "templates" / "replies")
    return [
        IndexedTemplate(n, e.key or "", e.title, e.body, e.language, tuple(e.tags), tuple(e.channels))
        for n, e in enumerate(entries, 1)
    ]


def word_overlap(templates: Sequence[IndexedTemplate]) -> Callable[[str], list[str]]:
    bags = [(t, set(words(" ".join((t.title, " ".join(t.tags), strip_markup(t.body)))))) for t in templates]

    def rank(text: str) -> list[str]:
        language = language_of(text)
        asked = set(words(text))
        scored = [(len(asked & bag), -n, t.key) for n, (t, bag) in enumerate(bags) if t.language == language]
        return [key for overlap, _, key in sorted(scored, reverse=True)[:K] if overlap > 0]

    return rank


def hit_rate(
    cases: Sequence[Case], rank: Callable[[str], list[str]], misses: list[str] | None = None, k: int = K
) -> float:
    hits = 0
    for case in cases:
        top = rank(case.text)[:k]
        if set(top) & set(case.expect):
            hits += 1
        elif misses is not None:
            misses.append(f"  {case.text!r}: expected {', '.join(case.expect)}; got {', '.join(top) or '-'}")
    return hits / len(cases) if cases else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--misses", action="store_true", help="list the messages the suggestions missed")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = parser.parse_args(argv)

    templates = shipped_templates()
    index = SearchIndex.build(templates)

    def ours(text: str) -> list[str]:
        return [hit.template.key for hit in suggest(index, text, limit=K)]

    baseline = word_overlap(templates)
    results: dict[str, dict[str, Any]] = {}
    missed: dict[str, list[str]] = {}
    for name, path in SETS.items():
        cases = load_cases(path)
        missed[name] = []
        results[name] = {
            "messages": len(cases),
            "ru": sum(language_of(c.text) == "ru" for c in cases),
            "en": sum(language_of(c.text) == "en" for c in cases),
            "hit@3": round(hit_rate(cases, ours, missed[name]), 3),
            "hit@1": round(hit_rate(cases, ours, k=1), 3),
            "word_overlap_hit@3": round(hit_rate(cases, baseline), 3),
        }
    if args.json:
        print(json.dumps({"templates": len(templates), "sets": results}))
        return 0
    print(f"templates: {len(templates)} (shipped, ru + en)")
    print(
        f"{'set':<10} {'messages':>8} {'ru/en':>7} {'hit@3':>7} {'word overlap hit@3':>19} {'ratio':>6}"
        f" {'hit@1':>6}"
    )
    for name, r in results.items():
        ratio = r["hit@3"] / r["word_overlap_hit@3"] if r["word_overlap_hit@3"] else float("inf")
        split = f"{r['ru']}/{r['en']}"
        print(
            f"{name:<10} {r['messages']:>8} {split:>7} {r['hit@3']:>7.3f} {r['word_overlap_hit@3']:>19.3f}"
            f" {ratio:>5.2f}x {r['hit@1']:>6.3f}"
        )
        if args.misses and missed[name]:
            print("\n".join(missed[name]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
