"""Rate limits shared by every hub process, on Redis (the one of ``bus_url``), and the choice between
them and the memory ones.

A key is one Redis string, ``<prefix>:<name>:<digest>`` (``okno:rl:login-ip:…``; the caller's key — an
e-mail, an IP, a visitor id — is hashed, so no input can make keys collide or grow). It holds the key's
theoretical arrival time (:mod:`hub.ratelimit`) in unix seconds on Redis's own clock (``TIME`` inside the
script: one clock for all processes), and it expires when that time comes, when it would hold nothing a
new key does not: nothing grows forever. One Lua script reads and writes it, so concurrent hits from
several processes cannot both take the last place.

If Redis fails for a hit, this process's memory limiter of the same limit decides it: a request does not
fail because a limit cannot be checked, and an outage does not lift every limit (each process still keeps
its own share, as without Redis). The failure is logged once per outage, and Redis is tried again at most
every ``RETRY_SECONDS``, so that a Redis that hangs does not cost every request a timeout.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from typing import Any, Final

import redis.asyncio as redis

from hub.ratelimit import TOLERANCE, Clock, Limiters, MemoryLimiters, RateLimiter, Verdict, check_limit
from hub.settings import Settings

log = logging.getLogger(__name__)

PREFIX: Final = "okno:rl"
REDIS_SECONDS: Final = 2.0  # connect, reply and wait-for-a-connection ceiling of one limit check
CONNECTIONS: Final = 50
RETRY_SECONDS: Final = 1.0  # during an outage, Redis is tried again at most this often
NAME: Final = re.compile(r"[a-z0-9][a-z0-9_.-]*")

# KEYS[1]: the key. ARGV: mode ("hit", "check" or "refund"), interval, period, tolerance (s), cost.
GCRA: Final = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local mode, interval, period = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local tolerance, cost = tonumber(ARGV[4]), tonumber(ARGV[5])
-- How far the key's arrival time is ahead of now: 0 for a new key, exactly (see hub.ratelimit.TOLERANCE).
local ahead = math.max((tonumber(redis.call('GET', KEYS[1])) or now) - now, 0)
local function store(value)
  if value <= 0 then
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], string.format('%.6f', now + value), 'PX', math.ceil(value * 1000))
  end
end
if mode == 'refund' then
  store(ahead - interval * cost)
  return {1, '0'}
end
local wait = ahead + interval * cost - period
if wait > tolerance then
  return {0, string.format('%.6f', wait)}
end
if mode == 'hit' then store(ahead + interval * cost) end
return {1, '0'}
"""


def digest(key: str) -> str:
    """A fixed-size name for any caller's key (lone surrogates of a bad URL included)."""
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class RedisLimiters:
    """The limiters of all hub processes sharing one Redis; keys under `prefix`."""

    def __init__(
        self, url: str, prefix: str = PREFIX, *, timeout: float = REDIS_SECONDS, clock: Clock = time.monotonic
    ) -> None:
        self.prefix = prefix
        # A flood waits its turn for one of a few connections (the default pool fails past 100 at once).
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=CONNECTIONS,
            timeout=timeout,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
        )
        self._client = redis.Redis.from_pool(pool)
        self._gcra = self._client.register_script(GCRA)
        self._clock = clock
        self._down_since: float | None = None
        self._next_try = 0.0

    def limiter(self, name: str, limit: int, period: float) -> RedisRateLimiter:
        if not NAME.fullmatch(name):
            raise ValueError(f"rate limit name {name!r}: use lower-case letters, digits, '_', '.' and '-'")
        return RedisRateLimiter(self, name, limit, period)

    async def close(self) -> None:
        await self._client.aclose()

    def key(self, name: str, key: str) -> str:
        return f"{self.prefix}:{name}:{digest(key)}"

    async def run(self, key: str, *args: str) -> Any:
        """The script's answer for `key`, or None when Redis cannot give it (the caller falls back)."""
        return await self._call(self._gcra, keys=[key], args=list(args))

    async def delete(self, key: str) -> None:
        await self._call(self._client.delete, key)

    async def _call(self, command: Any, *args: Any, **kwargs: Any) -> Any:
        now = self._clock()
        if self._down_since is not None and now < self._next_try:
            return None
        try:
            result = await command(*args, **kwargs)
        except (redis.RedisError, OSError, TimeoutError) as exc:
            # Counted from the failure, not the try: after a timeout the next try is not due at once.
            self._next_try = self._clock() + RETRY_SECONDS
            if self._down_since is None:
                self._down_since = now
                log.warning(
                    "rate limits: Redis failed (%s: %s); each process limits on its own until it is back",
                    exc.__class__.__name__,
                    exc,
                )
            return None
        if self._down_since is not None:
            down = max(self._clock() - self._down_since, 0.0)
            log.warning("rate limits: Redis is back after %.0f s; limits are shared again", down)
            self._down_since = None
        return result


class RedisRateLimiter:
    """One shared limit; while Redis fails, the process's own limiter of the same limit stands in."""

    def __init__(self, limiters: RedisLimiters, name: str, limit: int, period: float) -> None:
        check_limit(limit, period)
        self.limit = limit
        self.period = float(period)
        self.interval = self.period / limit
        self.name = name
        self._limiters = limiters
        self.fallback = RateLimiter(limit, period)

    async def hit(self, key: str, cost: int = 1) -> Verdict:
        answer = await self._run("hit", key, cost)
        return await self.fallback.hit(key, cost) if answer is None else answer

    async def check(self, key: str) -> Verdict:
        answer = await self._run("check", key, 1)
        return await self.fallback.check(key) if answer is None else answer

    async def refund(self, key: str, cost: int = 1) -> None:
        await self.fallback.refund(key, cost)  # the hit may have been counted there
        await self._run("refund", key, cost)

    async def reset(self, key: str) -> None:
        await self.fallback.reset(key)
        await self._limiters.delete(self._limiters.key(self.name, key))

    async def _run(self, mode: str, key: str, cost: int) -> Verdict | None:
        answer = await self._limiters.run(
            self._limiters.key(self.name, key),
            mode,
            repr(self.interval),
            repr(self.period),
            repr(TOLERANCE),
            str(cost),
        )
        if answer is None:
            return None
        allowed, retry_after = answer
        return Verdict(bool(int(allowed)), float(retry_after))


def limiters_for(settings: Settings) -> Limiters:
    """The limiters of this process: shared on Redis when ``bus_url`` is set, else its own in memory."""
    if settings.bus_url:
        return RedisLimiters(settings.bus_url, settings.rate_limit_prefix)
    return MemoryLimiters()
