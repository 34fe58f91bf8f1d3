"""Use breaks near-ties in ranking (more insertions, and more recent ones, first) and never overrides a
clearly better match."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from inbox.knowledge.search import Hit, IndexedTemplate, SearchIndex, Usage, keys_of, use_prior, with_use

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _hit(key: str, id_: int, score: float) -> Hit:
    return Hit(IndexedTemplate(id_, key, key, key, "ru"), score)


def test_of_two_equally_relevant_templates_the_used_one_comes_first() -> None:
    hits = [_hit("a", 1, 5.0), _hit("b", 2, 5.0)]
    assert keys_of(with_use(hits, {2: Usage(12, NOW - timedelta(days=1))}, now=NOW)) == ["b", "a"]
    assert keys_of(with_use(hits, {}, now=NOW)) == ["a", "b"]  # no use: relevance, then index order


def test_a_recent_use_beats_an_old_one_between_near_ties() -> None:
    hits = [_hit("old", 1, 5.0), _hit("recent", 2, 4.95)]
    usage = {1: Usage(10, NOW - timedelta(days=365)), 2: Usage(10, NOW - timedelta(hours=2))}
    assert keys_of(with_use(hits, usage, now=NOW)) == ["recent", "old"]


def test_a_popular_template_never_overtakes_a_clearly_better_match() -> None:
    hits = [_hit("relevant", 1, 5.0), _hit("popular", 2, 4.0)]
    usage = {2: Usage(100_000, NOW)}
    assert keys_of(with_use(hits, usage, now=NOW)) == ["relevant", "popular"]
    assert [h.score for h in with_use(hits, usage, now=NOW)] == [5.0, 4.0]  # scores stay the relevance


def test_the_prior_is_bounded_and_decays_with_age() -> None:
    fresh = use_prior(Usage(50, NOW), most_used=50, now=NOW)
    month = use_prior(Usage(50, NOW - timedelta(days=30)), most_used=50, now=NOW)
    assert fresh == 1.0
    assert month == 0.75  # popularity 0.5 + half the recency
    assert use_prior(Usage(), most_used=0, now=NOW) == 0.0


def test_the_index_carries_the_use_it_was_built_with() -> None:
    used = IndexedTemplate(2, "b", "Доставка", "Доставка курьером", "ru", usage_count=9, last_used_at=NOW)
    index = SearchIndex.build([IndexedTemplate(1, "a", "Доставка", "Доставка курьером", "ru"), used])
    hits = index.search("доставка", limit=10)
    assert keys_of(hits) == ["a", "b"]
    assert keys_of(with_use(hits, now=NOW, limit=1)) == ["b"]
