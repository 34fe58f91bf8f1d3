"""BM25 ranking of templates over title, tags and body, with Russian/English stems, prefixes and typos.

Pure and in memory: :class:`SearchIndex` is built from :class:`IndexedTemplate` values and answers a query
in well under a millisecond for a thousand templates, because each (term, template) BM25 weight is
computed once at build time and a query only adds up posting lists.

Fields are weighted as a team writes them (BM25F-style, one combined term frequency): a tag is a phrase
chosen to be matched (×3), the title names the case (×2), the body is the reply itself (×1).

A query word also matches, at a discount, index terms that
- differ from its stem by one edit (typo tolerance, words of 5+ letters: «вазврат» → «возврат»);
- extend its stem or are extended by it, 4+ letters (word forms the stemmer leaves apart, «delivered» →
  «deliv» vs «delivery» → «deliveri», and a word still being typed: «доста» → «доставк»).
A query word counts once, by its best-matching term. Colloquial words bring their plain equivalents into
the query (:mod:`inbox.knowledge.lexicon`: «налом» → «наличными», "u" → "you").
Use breaks near-ties (:func:`with_use`): among templates about as relevant, the one the team inserts
more, and more lately, comes first. It is a bounded factor (at most +:data:`USE_WEIGHT`), so a clearly
more relevant template is never overtaken by a popular one.
Why hand-written rather than a BM25 package: the typo and prefix expansion has to happen inside the
scoring loop, and the available packages (rank-bm25) score every document for every term.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rapidfuzz.distance import OSA

from inbox.knowledge.lexicon import plain_words
from inbox.knowledge.text import stem, strip_markup, terms, words

K1 = 1.2
B = 0.75
FIELD_WEIGHTS = {"title": 2.0, "tags": 3.0, "body": 1.0}
TYPO_WEIGHT = 0.75
PREFIX_WEIGHT = 0.7
TYPO_MIN_WORD = 5  # one edit is tolerated on words of this many letters or more
PREFIX_MIN = 4  # shortest stem matched by prefix
PREFIX_FANOUT = 40  # most index terms one query word expands to by prefix
USE_WEIGHT = 0.05  # the most use can add to a relevance score (+5 %): it only reorders near-ties
USE_HALF_LIFE_DAYS = 30.0  # a use this old counts half as "recent"
USE_CANDIDATES = 10  # hits fetched beyond the limit, among which use may reorder


@dataclass(frozen=True, slots=True)
class IndexedTemplate:
    """What the index needs of a template (a plain value: the index outlives any database session)."""

    id: int
    key: str
    title: str
    body: str
    language: str
    tags: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    owner_id: int | None = None
    usage_count: int = 0  # as of the index's build; :func:`with_use` may be given fresher counts
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    template: IndexedTemplate
    score: float


@dataclass(frozen=True, slots=True)
class Usage:
    """How much a template is used: its insertions, and the last one."""

    count: int = 0
    last_used_at: datetime | None = None


def use_prior(usage: Usage, *, most_used: int, now: datetime) -> float:
    """0 … 1: half popularity (uses on a log scale, relative to the most used), half recency."""
    popularity = math.log1p(usage.count) / math.log1p(most_used) if most_used > 0 else 0.0
    recency = 0.0
    if usage.last_used_at is not None:
        last = usage.last_used_at
        if last.tzinfo is None and now.tzinfo is not None:
            last = last.replace(tzinfo=now.tzinfo)
        age_days = max((now - last).total_seconds(), 0.0) / 86400
        recency = 0.5 ** (age_days / USE_HALF_LIFE_DAYS)
    return 0.5 * min(popularity, 1.0) + 0.5 * recency


def with_use(
    hits: Sequence[Hit],
    usage: Mapping[int, Usage] | None = None,
    *,
    now: datetime,
    limit: int | None = None,
) -> list[Hit]:
    """`hits` reordered by relevance × (1 + USE_WEIGHT × use), best first; scores stay the relevance.

    `usage` by template id (the database's current counts); None: the counts the index was built with.
    Pass more hits than `limit` (:data:`USE_CANDIDATES` more) so that a near-tie just below can move up.
    """
    known = {
        hit.template.id: (
            usage.get(hit.template.id, Usage())
            if usage is not None
            else Usage(hit.template.usage_count, hit.template.last_used_at)
        )
        for hit in hits
    }
    most_used = max((u.count for u in known.values()), default=0)
    order = sorted(
        enumerate(hits),
        key=lambda item: (
            -item[1].score
            * (1 + USE_WEIGHT * use_prior(known[item[1].template.id], most_used=most_used, now=now)),
            item[0],
        ),
    )
    ranked = [hit for _, hit in order]
    return ranked if limit is None else ranked[:limit]


def _deletes(term: str) -> set[str]:
    return {term[:i] + term[i + 1 :] for i in range(len(term))}


@dataclass(slots=True)
class SearchIndex:
    templates: list[IndexedTemplate]
    postings: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    vocabulary: list[str] = field(default_factory=list)  # sorted, for prefix lookup
    by_delete: dict[str, set[str]] = field(default_factory=dict)  # one letter removed → terms

    @classmethod
    def build(cls, templates: Iterable[IndexedTemplate]) -> SearchIndex:
        docs = list(templates)
        frequencies: list[defaultdict[str, float]] = []
        lengths: list[float] = []
        for doc in docs:
            tf: defaultdict[str, float] = defaultdict(float)
            fields = {"title": doc.title, "tags": " ".join(doc.tags), "body": strip_markup(doc.body)}
            for name, text in fields.items():
                # Tags keep their stop words: "здравствуйте" is a stop word in a request, yet it is the
                # whole of a greeting, and a tag says on purpose what the template answers.
                found = terms(text, keep_all=True) if name != "tags" else [(w, stem(w)) for w in words(text)]
                for _word, term in found:
                    tf[term] += FIELD_WEIGHTS[name]
            frequencies.append(tf)
            lengths.append(sum(tf.values()))
        index = cls(docs)
        if not docs:
            return index
        average = (sum(lengths) / len(docs)) or 1.0
        document_frequency: Counter[str] = Counter()
        for tf in frequencies:
            document_frequency.update(tf.keys())
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for position, tf in enumerate(frequencies):
            norm = K1 * (1 - B + B * lengths[position] / average)
            for term, count in tf.items():
                df = document_frequency[term]
                idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
                postings[term].append((position, idf * count * (K1 + 1) / (count + norm)))
        index.postings = dict(postings)
        index.vocabulary = sorted(postings)
        by_delete: dict[str, set[str]] = defaultdict(set)
        for term in index.vocabulary:
            if len(term) >= PREFIX_MIN:
                for variant in _deletes(term):
                    by_delete[variant].add(term)
        index.by_delete = dict(by_delete)
        return index

    def expand(self, word: str, term: str) -> dict[str, float]:
        """Index terms a query word matches, with the weight of each kind of match."""
        found: dict[str, float] = {}
        if term in self.postings:
            found[term] = 1.0
        if len(word) >= TYPO_MIN_WORD and len(term) >= PREFIX_MIN:
            candidates = set(self.by_delete.get(term, ()))
            for variant in _deletes(term):
                if variant in self.postings:
                    candidates.add(variant)
                candidates |= self.by_delete.get(variant, set())
            for candidate in candidates:
                if candidate not in found and OSA.distance(term, candidate) <= 1:
                    found[candidate] = TYPO_WEIGHT
        if len(term) >= PREFIX_MIN:
            start = bisect.bisect_left(self.vocabulary, term)
            for candidate in self.vocabulary[start : start + PREFIX_FANOUT]:
                if not candidate.startswith(term):
                    break
                found.setdefault(candidate, PREFIX_WEIGHT)
            for end in range(PREFIX_MIN, len(term)):
                if term[:end] in self.postings:
                    found.setdefault(term[:end], PREFIX_WEIGHT)
        return found

    def scores(self, query: str) -> dict[int, float]:
        """Template position → BM25 score, for the templates matching any word of `query`."""
        total: dict[int, float] = defaultdict(float)
        seen: set[str] = set()
        found = terms(query, keep_all=True)
        plain = plain_words(query)
        if plain:
            found += terms(plain, keep_all=True)
        for word, term in found:
            if term in seen:
                continue
            seen.add(term)
            best: dict[int, float] = {}
            for matched, weight in self.expand(word, term).items():
                for position, value in self.postings[matched]:
                    score = weight * value
                    if score > best.get(position, 0.0):
                        best[position] = score
            for position, score in best.items():
                total[position] += score
        return total

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        accept: Callable[[IndexedTemplate], bool] | None = None,
    ) -> list[Hit]:
        """The best `limit` templates for `query` that `accept` lets through, best first."""
        ranked = sorted(self.scores(query).items(), key=lambda item: (-item[1], item[0]))
        hits: list[Hit] = []
        for position, score in ranked:
            template = self.templates[position]
            if accept is None or accept(template):
                hits.append(Hit(template, round(score, 4)))
                if len(hits) >= limit:
                    break
        return hits


def visible_to(
    agent_id: int | None, *, language: str | None = None, channel: str | None = None
) -> Callable[[IndexedTemplate], bool]:
    """A filter: shared templates and `agent_id`'s own, in `language`, suiting `channel` (when given)."""

    def accept(template: IndexedTemplate) -> bool:
        if template.owner_id is not None and template.owner_id != agent_id:
            return False
        if language is not None and template.language != language:
            return False
        return channel is None or not template.channels or channel in template.channels

    return accept


def keys_of(hits: Sequence[Hit]) -> list[str]:
    return [hit.template.key for hit in hits]
