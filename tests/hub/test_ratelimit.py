"""The in-memory rate limiter of the public doors (GCRA), on a stepped clock."""

from __future__ import annotations

import pytest

from hub.ratelimit import MemoryLimiters, RateLimiter
from tests.clock import SteppedClock


async def test_a_burst_up_to_the_limit_passes_and_the_next_hit_is_told_when_to_retry() -> None:
    clock = SteppedClock(1000.0)
    limiter = RateLimiter(5, 60, clock=clock)
    assert all([(await limiter.hit("ip")).allowed for _ in range(5)])
    refused = await limiter.hit("ip")
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(12.0)
    assert refused.retry_after_header == "12"
    assert (await limiter.hit("other")).allowed  # keys are independent


async def test_a_refused_hit_does_not_count_so_waiting_the_retry_after_always_gets_through() -> None:
    clock = SteppedClock(1000.0)
    limiter = RateLimiter(5, 60, clock=clock)
    for _ in range(5):
        await limiter.hit("ip")
    for _ in range(100):  # a flood of refused hits
        assert not (await limiter.hit("ip")).allowed
    clock.now += (await limiter.hit("ip")).retry_after
    assert (await limiter.hit("ip")).allowed
    assert not (await limiter.hit("ip")).allowed


async def test_check_does_not_count_and_reset_forgets() -> None:
    clock = SteppedClock(1000.0)
    limiter = RateLimiter(1, 10, clock=clock)
    assert (await limiter.check("k")).allowed
    assert (await limiter.hit("k")).allowed
    assert not (await limiter.check("k")).allowed
    await limiter.reset("k")
    assert (await limiter.hit("k")).allowed


async def test_a_refund_takes_back_a_hit_but_gives_no_more_than_a_new_key_has() -> None:
    clock = SteppedClock(1000.0)
    limiter = MemoryLimiters(clock).limiter("k", 2, 60)
    assert (await limiter.hit("k")).allowed and (await limiter.hit("k")).allowed
    await limiter.refund("k")
    assert (await limiter.hit("k")).allowed
    assert not (await limiter.hit("k")).allowed
    clock.now += 60  # fully decayed: a refund now must not leave room for a third hit
    await limiter.refund("k", cost=5)
    assert (await limiter.hit("k")).allowed and (await limiter.hit("k")).allowed
    assert not (await limiter.hit("k")).allowed


async def test_a_hit_exactly_due_is_allowed_whatever_the_rounding_of_the_clock() -> None:
    clock = SteppedClock(1000.0)
    clock.now = 65525.448272  # (now + 60) - 60 > now in floating point: a first hit was refused
    limiter = RateLimiter(1, 60, clock=clock)
    assert (await limiter.hit("k")).allowed
    assert not (await limiter.hit("k")).allowed


async def test_memory_stays_bounded_under_many_keys() -> None:
    clock = SteppedClock(1000.0)
    limiter = RateLimiter(3, 60, clock=clock, max_keys=100)
    for i in range(1000):
        await limiter.hit(f"ip{i}")
    assert len(limiter) <= 100
    clock.now += 61
    await limiter.hit("late")
    assert (await limiter.hit("ip999")).allowed


def test_a_limit_without_room_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="limit >= 1"):
        RateLimiter(0, 60)
