"""Aggregates the reports print: count, average, median and p90, and SLA hits and misses.

Percentiles interpolate linearly between the closest ranks, as PostgreSQL's ``percentile_cont`` does, so a
figure is the same on SQLite and PostgreSQL (both read the rows; the arithmetic is here).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """``percentile_cont(fraction)`` of values already sorted ascending; None for no values."""
    if not sorted_values:
        return None
    rank = fraction * (len(sorted_values) - 1)
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(sorted_values[low])
    weight = rank - low
    return sorted_values[low] * (1 - weight) + sorted_values[high] * weight


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    avg: float | None
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        ordered = sorted(values)
        if not ordered:
            return cls(0, None, None, None)
        return cls(
            len(ordered), sum(ordered) / len(ordered), percentile(ordered, 0.5), percentile(ordered, 0.9)
        )


@dataclass(frozen=True, slots=True)
class SlaTargets:
    """Seconds each kind of wait may last (None: no target), on the working-time or the wall clock."""

    first_response: float | None = None
    reply: float | None = None
    resolution: float | None = None
    business_hours: bool = False

    def for_kind(self, kind: str) -> float | None:
        return {
            "first_response": self.first_response,
            "reply": self.reply,
            "resolution": self.resolution,
        }.get(kind)


@dataclass(frozen=True, slots=True)
class SlaBook:
    """The hub's SLA targets and those of the teams that set their own (by team name): a wait is held to
    the targets of the team it belongs to (the team of its start)."""

    default: SlaTargets = field(default_factory=SlaTargets)
    teams: Mapping[str, SlaTargets] = field(default_factory=dict)

    @classmethod
    def of_targets(cls, sla: SlaTargets | SlaBook) -> SlaBook:
        return sla if isinstance(sla, SlaBook) else cls(sla)

    def of(self, team: str | None) -> SlaTargets:
        return self.teams.get(team, self.default) if team is not None else self.default

    def has_target(self, kind: str) -> bool:
        """Whether any team (or the hub) has a threshold for `kind`: the report then shows SLA columns."""
        return any(t.for_kind(kind) is not None for t in (self.default, *self.teams.values()))


@dataclass(slots=True)
class SlaCount:
    """A wait is a hit when it ends within the threshold (≤), a miss when it ends later or is still open
    past it."""

    met: int = 0
    missed: int = 0

    def add(self, seconds: float, threshold: float, *, ended: bool) -> None:
        if seconds > threshold:
            self.missed += 1
        elif ended:
            self.met += 1

    @property
    def pct(self) -> float | None:
        total = self.met + self.missed
        return None if total == 0 else round(self.met * 100.0 / total, 2)
