"""The rate limits shared by hub processes on the real Redis: two limiter sets (as two processes have)
spend one budget; each test under a key prefix of its own."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from hub.login import LoginGuard
from hub.ratelimit import Limiter, MemoryLimiters
from hub.ratelimit_redis import RETRY_SECONDS, RedisLimiters, limiters_for
from hub.settings import SecuritySettings, load
from tests.clock import SteppedClock
from tests.conftest import require_service
from tests.waiting import eventually, port_open, resolved

Pair = tuple[RedisLimiters, RedisLimiters]


@pytest.fixture
async def processes(redis_url: str) -> AsyncIterator[Pair]:
    """The limiter sets of two hub processes on one Redis, under this test's own prefix."""
    prefix = f"okno-test-{uuid.uuid4().hex[:12]}:rl"
    a, b = RedisLimiters(redis_url, prefix), RedisLimiters(redis_url, prefix)
    yield a, b
    await a.close()
    await b.close()


async def test_two_processes_share_one_budget_and_both_are_refused_past_it(processes: Pair) -> None:
    a, b = (p.limiter("login-ip", 5, 60) for p in processes)
    assert [(await a.hit("203.0.113.7")).allowed for _ in range(3)] == [True] * 3
    assert [(await b.hit("203.0.113.7")).allowed for _ in range(2)] == [True] * 2
    assert not (await a.hit("203.0.113.7")).allowed
    assert not (await b.hit("203.0.113.7")).allowed
    assert (await b.hit("198.51.100.2")).allowed  # keys are independent


async def test_a_flood_of_concurrent_hits_from_two_processes_never_takes_more_than_the_limit(
    processes: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hub.ratelimit_redis")
    a, b = (p.limiter("webchat-message-1-20", 5, 60) for p in processes)
    # 150 at once per process: more than a default Redis pool's 100 connections, which failed them over
    # to each process's own limiter (5 more each).
    verdicts = await asyncio.gather(*(limiter.hit("visitor") for limiter in (a, b) * 150))
    assert sum(v.allowed for v in verdicts) == 5
    assert not caplog.records


async def test_a_refusal_says_when_to_retry_on_the_shared_clock(processes: Pair) -> None:
    a, b = (p.limiter("health", 5, 6000) for p in processes)  # one hit every 1200 s
    for _ in range(5):
        await a.hit("ip")
    refused = await b.hit("ip")
    assert not refused.allowed
    assert 1100 < refused.retry_after <= 1200  # 1200 s less the time the hits took
    assert refused.retry_after_header == str(int(refused.retry_after) + 1)


async def test_refused_hits_do_not_count(processes: Pair) -> None:
    a, b = (p.limiter("webchat-offline-1-5", 5, 6000) for p in processes)  # one place every 1200 s
    for _ in range(5):
        await a.hit("ip")
    first = await b.hit("ip")
    for _ in range(50):  # counted, they would push the next place 50 × 1200 s away
        assert not (await b.hit("ip")).allowed
    last = await a.hit("ip")
    assert not first.allowed and not last.allowed and last.retry_after <= first.retry_after


async def test_a_client_that_keeps_retrying_gets_through_when_a_place_frees(processes: Pair) -> None:
    a, b = (p.limiter("webchat-message-1-2", 2, 0.5) for p in processes)
    assert (await a.hit("visitor")).allowed and (await b.hit("visitor")).allowed
    await eventually(lambda: _allowed(b, "visitor"), "a hit after the burst is allowed again")


async def _allowed(limiter: Limiter, key: str) -> bool:
    return (await limiter.hit(key)).allowed


async def test_a_key_expires_when_its_hits_have_decayed_and_user_input_is_hashed(
    processes: Pair, redis_url: str
) -> None:
    a, _ = processes
    limiter = a.limiter("login-account", 30, 60)
    email = "anna:evil@okno.example.com|" + "x" * 10_000
    await limiter.hit(email, cost=3)
    key = a.key("login-account", email)
    assert (
        key.startswith(f"{a.prefix}:login-account:")
        and len(key) == len(a.prefix) + len(":login-account:") + 32
    )
    assert a.key("login-account", "anna") != a.key("login-account", "anna ")
    client = redis.Redis.from_url(redis_url)
    try:
        ttl = await client.pttl(key)
        assert 0 < ttl <= 6000  # 3 hits of a 2 s interval: gone once they have decayed
        await limiter.reset(email)
        assert not await client.exists(key)
    finally:
        await client.aclose()


async def test_a_refund_gives_a_place_back_to_every_process(processes: Pair) -> None:
    a, b = (p.limiter("login-account-ip", 1, 60) for p in processes)
    assert (await a.hit("k")).allowed
    assert not (await b.check("k")).allowed
    await b.refund("k")
    assert (await a.check("k")).allowed and (await b.hit("k")).allowed


async def test_failed_log_ins_on_two_processes_count_against_one_account_limit(processes: Pair) -> None:
    guards = [LoginGuard(SecuritySettings(login_failures_per_minute_per_account=5), p) for p in processes]
    for n in range(5):
        verdict, _ = await guards[n % 2].admit("Anna@okno.example.com", "203.0.113.7")
        assert verdict.allowed
    verdict, key = await guards[1].admit("anna@okno.example.com", "203.0.113.7")
    assert not verdict.allowed and key.startswith("account:")
    await guards[0].succeeded("anna@okno.example.com", "203.0.113.7")
    assert (await guards[1].admit("anna@okno.example.com", "203.0.113.7"))[0].allowed


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_without_redis_the_process_still_limits_and_logs_the_outage_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="hub.ratelimit_redis")
    limiters = RedisLimiters(f"redis://127.0.0.1:{_closed_port()}/0", f"okno-test-{uuid.uuid4().hex[:12]}:rl")
    try:
        limiter = limiters.limiter("login-ip", 3, 60)
        assert [(await limiter.hit("ip")).allowed for _ in range(3)] == [True] * 3
        refused = await limiter.hit("ip")
        assert not refused.allowed and refused.retry_after > 0
        assert (await limiters.limiter("health", 1, 60).hit("ip")).allowed  # another limit: no second log
        await limiter.reset("ip")
        assert (await limiter.hit("ip")).allowed
    finally:
        await limiters.close()
    outages = [r for r in caplog.records if "Redis failed" in r.getMessage()]
    assert len(outages) == 1


async def _redis_server(port: int) -> asyncio.subprocess.Process:
    if shutil.which("redis-server") is None:
        require_service("redis-server", False, "the binary, to stop and start a Redis of the test's own")
    server = await asyncio.create_subprocess_exec(
        *("redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
        stdout=asyncio.subprocess.DEVNULL,
    )
    await port_open(port, f"redis-server on {port}")
    return server


async def _stop(server: asyncio.subprocess.Process) -> None:
    if server.returncode is None:
        server.terminate()
        await resolved(server.wait(), "redis-server stopped")


async def test_redis_failing_mid_flight_leaves_the_process_limiting_and_sharing_again_once_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="hub.ratelimit_redis")
    port = _closed_port()
    clock = SteppedClock(1000.0)
    limiters = RedisLimiters(f"redis://127.0.0.1:{port}/0", "okno-test:rl", clock=clock)
    limiter = limiters.limiter("login-ip", 2, 60)
    server = await _redis_server(port)
    try:
        assert (await limiter.hit("ip")).allowed  # shared: counted in Redis
        await _stop(server)
        assert (await limiter.hit("ip")).allowed  # this process's own count starts afresh...
        assert (await limiter.hit("ip")).allowed
        assert not (await limiter.hit("ip")).allowed  # ...and still limits
        server = await _redis_server(port)  # empty: nothing kept
        assert not (await limiter.hit("ip")).allowed  # tried again only after RETRY_SECONDS
        clock.now += RETRY_SECONDS
        assert [(await limiter.hit("ip")).allowed for _ in range(3)] == [True, True, False]  # Redis's count
    finally:
        await limiters.close()
        await _stop(server)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages  # once per outage
    assert messages[0].startswith("rate limits: Redis failed (")
    assert messages[1].startswith("rate limits: Redis is back after 1 s")


async def test_the_settings_choose_redis_with_a_bus_url_and_memory_without(redis_url: str) -> None:
    shared = limiters_for(load(bus_url=redis_url, rate_limit_prefix="okno-test:rl"))
    try:
        assert isinstance(shared, RedisLimiters) and shared.prefix == "okno-test:rl"
    finally:
        await shared.close()
    assert isinstance(limiters_for(load(bus_url="")), MemoryLimiters)


async def test_a_limit_name_that_would_break_the_key_scheme_is_refused(processes: Pair) -> None:
    with pytest.raises(ValueError, match="'login:ip'"):
        processes[0].limiter("login:ip", 5, 60)
