"""The web chat's abuse limits, per hub process: new visitors and offline posts per IP, each visitor's
messages and typing, and the clock of visitor tokens.

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
injectable (tests step them instead of sleeping): `clock` (monotonic) for the rates, `wall` (unix
seconds) for issuing and expiring visitor tokens.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from hub.ratelimit import Clock, RateLimiter, Verdict

TYPING_EVERY = 2.0


class WebchatLimits:
    def __init__(self, *, clock: Clock = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.wall = wall
        self._limiters: dict[tuple[str, int, int], RateLimiter] = {}
        self._typing = RateLimiter(1, TYPING_EVERY, clock=clock)

    def _limiter(self, name: str, account_id: int, per_minute: int) -> RateLimiter:
        key = (name, account_id, per_minute)
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = RateLimiter(per_minute, 60.0, clock=self.clock)
        return limiter

    def new_visitor(self, account_id: int, ip: str | None, per_minute: int) -> Verdict:
        return self._limiter("visitor", account_id, per_minute).hit(ip or "unknown")

    def message(self, account_id: int, visitor_id: str, per_minute: int) -> Verdict:
        return self._limiter("message", account_id, per_minute).hit(visitor_id)

    def file(self, account_id: int, visitor_id: str, per_minute: int) -> Verdict:
        return self._limiter("file", account_id, per_minute).hit(visitor_id)

    def offline_post(self, account_id: int, ip: str | None, per_minute: int) -> Verdict:
        return self._limiter("offline", account_id, per_minute).hit(ip or "unknown")

    def typing(self, account_id: int, visitor_id: str) -> bool:
        """May this visitor's typing hint go out now?"""
        return self._typing.hit(f"{account_id}:{visitor_id}").allowed


LIMITS = web.AppKey("okno_webchat_limits", WebchatLimits)
