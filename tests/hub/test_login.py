"""The log-in rate limits keyed so that an attacker cannot lock a real user out for long (real hub,
real database, a stepped clock; addresses other than the test client's loopback)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from argon2 import PasswordHasher

import inbox.agents
from hub.login import Attempt, LoginGuard, LoginResult, log_in
from hub.runtime import Hub
from hub.settings import SecuritySettings
from tests.clock import SteppedClock
from tests.hub.web.conftest import PASSWORD, make_agent

EMAIL = "anna@okno.example.com"


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Hub]], monkeypatch: pytest.MonkeyPatch) -> Hub:
    monkeypatch.setattr(inbox.agents, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    hub = await hub_factory()
    await make_agent(hub, EMAIL)
    return hub


async def attempt(hub: Hub, guard: LoginGuard, password: str, ip: str) -> LoginResult:
    return await log_in(hub.sessionmaker, guard, Attempt(EMAIL, password, ip, "tests", "api"))


async def test_an_attacker_failing_from_one_ip_does_not_lock_the_user_out_from_another(hub: Hub) -> None:
    guard = LoginGuard(SecuritySettings(), clock=SteppedClock(1000.0))
    for _ in range(5):
        assert (await attempt(hub, guard, "wrong-password", "203.0.113.7")).outcome == "wrong_password"
    assert (await attempt(hub, guard, PASSWORD, "203.0.113.7")).outcome == "rate_limited"
    mine = await attempt(hub, guard, PASSWORD, "198.51.100.2")
    assert mine.ok and mine.session_token


async def test_failures_from_many_ips_meet_a_looser_cap_on_the_account_that_decays_in_seconds(
    hub: Hub,
) -> None:
    clock = SteppedClock(1000.0)
    guard = LoginGuard(SecuritySettings(login_failures_per_minute_per_account_all_ips=10), clock=clock)
    for n in range(10):
        assert (await attempt(hub, guard, "wrong-password", f"203.0.113.{n}")).outcome == "wrong_password"
    refused = await attempt(hub, guard, PASSWORD, "198.51.100.2")
    assert refused.outcome == "rate_limited" and refused.verdict.retry_after_header == "6"
    clock.now += 6
    assert (await attempt(hub, guard, PASSWORD, "198.51.100.2")).ok
