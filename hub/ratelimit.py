"""Rate limits of the hub's public doors (log-in, the web-chat widget, /readyz and /metrics): the
interface, and the limiter kept in one process's memory.

A limiter allows `limit` hits per `period` seconds for each key (an IP, an e-mail, a visitor id) with
the generic cell rate algorithm: one number per key (the "theoretical arrival time"), bursts up to
`limit`, then one hit every `period / limit` seconds. A refused hit does not count, so a client that
waits the `Retry-After` it was given always gets through, and a flood stops costing the real user
anything as soon as it ends.

Every limiter answers the same async :class:`Limiter` interface, and callers get theirs from a
:class:`Limiters` set by name (:func:`hub.ratelimit_redis.limiters_for` picks the set from the settings).
:class:`RateLimiter` keeps its state in this process, with an injectable clock so tests step time
instead of sleeping; with several hub processes the shared set on Redis (:mod:`hub.ratelimit_redis`)
keeps one budget for all of them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to one hit: allowed, or refused with the seconds to wait before the next try."""

    allowed: bool
    retry_after: float = 0.0

    @property
    def retry_after_header(self) -> str:
        """`Retry-After` as HTTP wants it: whole seconds, rounded up, at least 1."""
        return str(max(1, math.ceil(self.retry_after)))


ALLOWED = Verdict(True)
# A hit this many seconds early is on time. Without it, float rounding refused hits that were exactly
# due: with limit 1, (now + 60) - 60 > now for some monotonic readings, so a first hit could be refused.
TOLERANCE = 0.001


class Limiter(Protocol):
    """At most `limit` hits per `period` seconds per key (GCRA; a refused hit is not counted)."""

    limit: int
    period: float

    async def hit(self, key: str, cost: int = 1) -> Verdict:
        """Count one hit (or `cost` hits) for `key` if the limit allows it."""
        ...

    async def check(self, key: str) -> Verdict:
        """Whether one hit would be allowed now, without counting it."""
        ...

    async def refund(self, key: str, cost: int = 1) -> None:
        """Take back `cost` hits counted for `key` (never more credit than a key not yet seen has)."""
        ...

    async def reset(self, key: str) -> None:
        """Forget `key` (e.g. an account's failed log-ins after a successful one)."""
        ...


class Limiters(Protocol):
    """Where a process gets its limiters: `name` tells one limit's keys from another's."""

    def limiter(self, name: str, limit: int, period: float) -> Limiter: ...

    async def close(self) -> None: ...


def check_limit(limit: int, period: float) -> None:
    if limit < 1 or period <= 0:
        raise ValueError(f"a rate limit needs limit >= 1 and period > 0 (got {limit} per {period} s)")


class RateLimiter:
    """The :class:`Limiter` of one process, in memory, with at most `max_keys` keys."""

    def __init__(self, limit: int, period: float, *, clock: Clock = time.monotonic, max_keys: int = 100_000):
        check_limit(limit, period)
        self.limit = limit
        self.period = float(period)
        self.interval = self.period / limit
        self.clock = clock
        self.max_keys = max_keys
        self._tat: dict[str, float] = {}

    # The async methods never suspend: in one process a check followed by a hit cannot be interleaved.
    async def hit(self, key: str, cost: int = 1) -> Verdict:
        now = self.clock()
        ahead = self._ahead(key, now) + self.interval * cost
        wait = ahead - self.period
        if wait > TOLERANCE:
            return Verdict(False, wait)
        self._store(key, now + ahead, now)
        return ALLOWED

    async def check(self, key: str) -> Verdict:
        wait = self._ahead(key, self.clock()) + self.interval - self.period
        return ALLOWED if wait <= TOLERANCE else Verdict(False, wait)

    async def refund(self, key: str, cost: int = 1) -> None:
        tat = self._tat.get(key)
        if tat is None:
            return
        tat -= self.interval * cost
        if tat <= self.clock():
            del self._tat[key]
        else:
            self._tat[key] = tat

    async def reset(self, key: str) -> None:
        self._tat.pop(key, None)

    def __len__(self) -> int:
        return len(self._tat)

    def _ahead(self, key: str, now: float) -> float:
        """How far the key's theoretical arrival time is ahead of `now` (0 for a new key, exactly)."""
        return max(self._tat.get(key, now) - now, 0.0)

    def _store(self, key: str, tat: float, now: float) -> None:
        self._tat.pop(key, None)  # re-insert at the end: the dict stays ordered by last hit
        self._tat[key] = tat
        if len(self._tat) > self.max_keys:
            self._prune(now)

    def _prune(self, now: float) -> None:
        """Drop keys whose every hit has expired; if still too many, the least recently hit ones."""
        for key in [k for k, tat in self._tat.items() if tat <= now]:
            del self._tat[key]
        excess = len(self._tat) - self.max_keys
        if excess > 0:
            for key in list(self._tat)[: excess + self.max_keys // 10]:
                del self._tat[key]


class MemoryLimiters:
    """The limiters of a single hub process (the default), all on one clock."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock

    def limiter(self, name: str, limit: int, period: float) -> RateLimiter:
        return RateLimiter(limit, period, clock=self.clock)

    async def close(self) -> None:
        return None
