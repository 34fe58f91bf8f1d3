"""Rate limits of the hub's public doors (log-in, the web-chat widget, webhooks), kept in memory.

A :class:`RateLimiter` allows `limit` hits per `period` seconds for each key (an IP, an e-mail, a
visitor id) with the generic cell rate algorithm: one number per key (the "theoretical arrival time"),
bursts up to `limit`, then one hit every `period / limit` seconds. A refused hit does not count, so a
client that waits the `Retry-After` it was given always gets through, and a flood stops costing the
real user anything as soon as it ends.

The clock is injectable so tests step time instead of sleeping. The state is per process; with several
hub processes each enforces its own share (shared limits belong with shared presence, on Redis).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

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


class RateLimiter:
    """At most `limit` hits per `period` seconds per key (GCRA; a refused hit is not counted)."""

    def __init__(self, limit: int, period: float, *, clock: Clock = time.monotonic, max_keys: int = 100_000):
        if limit < 1 or period <= 0:
            raise ValueError("a rate limit needs limit >= 1 and period > 0")
        self.limit = limit
        self.period = float(period)
        self.interval = self.period / limit
        self.clock = clock
        self.max_keys = max_keys
        self._tat: dict[str, float] = {}

    def hit(self, key: str, cost: int = 1) -> Verdict:
        """Count one hit (or `cost` hits) for `key` if the limit allows it."""
        now = self.clock()
        tat = max(self._tat.get(key, now), now)
        new_tat = tat + self.interval * cost
        allowed_from = new_tat - self.period
        if allowed_from > now:
            return Verdict(False, allowed_from - now)
        self._store(key, new_tat, now)
        return ALLOWED

    def check(self, key: str) -> Verdict:
        """Whether one hit would be allowed now, without counting it."""
        now = self.clock()
        allowed_from = max(self._tat.get(key, now), now) + self.interval - self.period
        return ALLOWED if allowed_from <= now else Verdict(False, allowed_from - now)

    def reset(self, key: str) -> None:
        """Forget `key` (e.g. an account's failed log-ins after a successful one)."""
        self._tat.pop(key, None)

    def __len__(self) -> int:
        return len(self._tat)

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
