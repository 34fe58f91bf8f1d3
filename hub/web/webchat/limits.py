"""The web chat's abuse limits (shared by all hub processes on Redis when ``bus_url`` is set): new
visitors and offline posts per IP, each visitor's messages and typing, and the clock of visitor tokens.

* A socket without a valid token is a new visitor (a new card and conversation once it writes):
  ``new_visitors_per_minute`` per IP and account (20 by default), refused with an ``error`` frame
  {code: "rate_limited", retry_after} before the socket closes.
* ``messages_per_minute`` messages per visitor (20 by default): an ``error`` frame {code:
  "rate_limited", retry_after} for the message over it (the widget keeps it and sends it again).
* ``offline_per_minute`` offline-form posts per IP and account (5 by default): 429 with Retry-After.
* ``files_per_minute`` files per visitor (5 by default), each also counted as a message: 429 with
  Retry-After.
* A visitor's ``typing`` frames become at most one "typing" event per ``TYPING_EVERY`` seconds (and an
  "off" only after an "on" went out): a typing hint is ephemeral, so the rest is dropped silently.

The IP is ``request.remote``: behind a reverse proxy that is the proxy's address unless the app is
set up to apply forwarded headers; X-Forwarded-For is never trusted on its own. Both clocks are
injectable (tests step them instead of sleeping): `clock` (monotonic) for the rates when no `limiters`
are given (then they are this process's own, in memory), `wall` (unix seconds) for issuing and expiring
visitor tokens.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from hub.ratelimit import Clock, Limiter, Limiters, MemoryLimiters, Verdict

TYPING_EVERY = 2.0


class WebchatLimits:
    def __init__(
        self,
        limiters: Limiters | None = None,
        *,
        clock: Clock = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.wall = wall
        self._source = limiters or MemoryLimiters(clock)
        self._limiters: dict[tuple[str, int, int], Limiter] = {}
        self._typing = self._source.limiter("webchat-typing", 1, TYPING_EVERY)

    def _limiter(self, name: str, account_id: int, per_minute: int) -> Limiter:
        key = (name, account_id, per_minute)
        limiter = self._limiters.get(key)
        if limiter is None:
            # The rate is in the name: an account's new setting starts a new count, as in memory.
            limiter = self._limiters[key] = self._source.limiter(
                f"webchat-{name}-{account_id}-{per_minute}", per_minute, 60.0
            )
        return limiter

    async def new_visitor(self, account_id: int, ip: str | None, per_minute: int) -> Verdict:
        return await self._limiter("visitor", account_id, per_minute).hit(ip or "unknown")

    async def message(self, account_id: int, visitor_id: str, per_minute: int) -> Verdict:
        return await self._limiter("message", account_id, per_minute).hit(visitor_id)

    async def file(self, account_id: int, visitor_id: str, per_minute: int) -> Verdict:
        return await self._limiter("file", account_id, per_minute).hit(visitor_id)

    async def offline_post(self, account_id: int, ip: str | None, per_minute: int) -> Verdict:
        return await self._limiter("offline", account_id, per_minute).hit(ip or "unknown")

    async def typing(self, account_id: int, visitor_id: str) -> bool:
        """May this visitor's typing hint go out now?"""
        return (await self._typing.hit(f"{account_id}:{visitor_id}")).allowed


LIMITS = web.AppKey("okno_webchat_limits", WebchatLimits)
