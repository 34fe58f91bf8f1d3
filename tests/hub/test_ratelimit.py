"""The in-memory rate limiter of the public doors (GCRA), on a stepped clock."""

from __future__ import annotations

import pytest

from hub.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_up_to_the_limit_passes_and_the_next_hit_is_told_when_to_retry() -> None:
    clock = Clock()
    limiter = RateLimiter(5, 60, clock=clock)
    assert all(limiter.hit("ip").allowed for _ in range(5))
    refused = limiter.hit("ip")
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(12.0)
    assert refused.retry_after_header == "12"
    assert limiter.hit("other").allowed  # keys are independent


def test_a_refused_hit_does_not_count_so_waiting_the_retry_after_always_gets_through() -> None:
    clock = Clock()
    limiter = RateLimiter(5, 60, clock=clock)
    for _ in range(5):
        limiter.hit("ip")
    for _ in range(100):  # a flood of refused hits
        assert not limiter.hit("ip").allowed
    clock.now += limiter.hit("ip").retry_after
    assert limiter.hit("ip").allowed
    assert not limiter.hit("ip").allowed


def test_check_does_not_count_and_reset_forgets() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 10, clock=clock)
    assert limiter.check("k").allowed
    assert limiter.hit("k").allowed
    assert not limiter.check("k").allowed
    limiter.reset("k")
    assert limiter.hit("k").allowed


def test_memory_stays_bounded_under_many_keys() -> None:
    clock = Clock()
    limiter = RateLimiter(3, 60, clock=clock, max_keys=100)
    for i in range(1000):
        limiter.hit(f"ip{i}")
    assert len(limiter) <= 100
    clock.now += 61
    limiter.hit("late")
    assert limiter.hit("ip999").allowed


def test_a_limit_without_room_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0, 60)
