"""Log-in under attack: argon2 never runs inside a database transaction, the JSON log-in and the log-in
form are rate-limited per IP and per account (on an injected clock), and every attempt is audited."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from sqlalchemy import select

import inbox.agents
from hub.login import LoginGuard
from hub.runtime import Hub
from hub.web import create_app
from hub.web.context import LOGIN_GUARD
from inbox.models import AuditLog
from tests.clock import SteppedClock
from tests.hub.web.conftest import PASSWORD, Client, Person, error_of
from tests.hub.web.ui.test_pages import form_token
from tests.waiting import WAIT_CEILING, resolved


class GatedHasher(PasswordHasher):
    """Real argon2id (cheap parameters) that counts its verifications and, when gated, holds each
    verification or hash until the test opens the gate: the window in which a transaction would be open."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0
        self.gated = False
        self.entered = threading.Event()
        self.gate = threading.Event()

    def _hold(self) -> None:
        if self.gated:
            self.entered.set()
            assert self.gate.wait(WAIT_CEILING), "the gate was never opened"

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        self._hold()
        return super().verify(hash, password)

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._hold()
        return super().hash(password, salt=salt)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> GatedHasher:
    gated = GatedHasher()
    monkeypatch.setattr(inbox.agents, "_hasher", gated)
    return gated


@pytest.fixture
def clock() -> SteppedClock[float]:
    return SteppedClock(1000.0)


@pytest.fixture
async def client(hub: Hub, clock: SteppedClock[float]) -> AsyncIterator[Client]:
    """The real app with its log-in limits on a stepped clock."""
    app = create_app(hub, manage_hub=False)
    app[LOGIN_GUARD] = LoginGuard(hub.settings.security, clock=clock)
    async with TestClient(TestServer(app)) as client:
        yield client


async def _login(client: Client, email: str, password: str, **headers: str) -> Any:
    return await client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}, headers=headers
    )


async def _while_argon2_runs(hasher: GatedHasher, action: Any, client: Client, reader: Person) -> Any:
    """Start `action`, wait until it is inside argon2, and read the conversations meanwhile."""
    hasher.entered.clear()
    hasher.gate.clear()
    hasher.gated = True
    task = asyncio.ensure_future(action)
    try:
        assert await asyncio.to_thread(hasher.entered.wait, WAIT_CEILING), "argon2 was never reached"
        read = await resolved(client.get("/api/v1/conversations", headers=reader.headers), "the request")
        assert read.status == 200, await read.text()  # on SQLite a transaction held here makes this wait
    finally:
        hasher.gate.set()
        hasher.gated = False
    return await resolved(task, "the request")


async def test_a_wrong_password_being_checked_holds_no_transaction_so_others_read_meanwhile(
    client: Client, hasher: GatedHasher, sales: Person, admin: Person
) -> None:
    answer = await _while_argon2_runs(hasher, _login(client, sales.email, "not-the-password"), client, admin)
    assert (await error_of(answer, 401))["code"] == "invalid_credentials"


async def test_a_right_password_being_checked_holds_no_transaction_either(
    client: Client, hasher: GatedHasher, sales: Person, admin: Person
) -> None:
    answer = await _while_argon2_runs(hasher, _login(client, sales.email, PASSWORD), client, admin)
    assert answer.status == 200


async def test_an_admin_setting_a_password_hashes_it_outside_the_transaction(
    client: Client, hasher: GatedHasher, sales: Person, admin: Person
) -> None:
    patch = client.patch(
        f"/api/v1/agents/{sales.id}", json={"password": "a new password"}, headers=admin.headers
    )
    assert (await _while_argon2_runs(hasher, patch, client, admin)).status == 200
    create = client.post(
        "/api/v1/agents",
        json={"email": "new@okno.example.com", "name": "New", "password": "long enough", "team_ids": []},
        headers=admin.headers,
    )
    assert (await _while_argon2_runs(hasher, create, client, admin)).status == 201


async def test_an_unknown_email_costs_one_argon2_verification_like_a_known_one(
    client: Client, hasher: GatedHasher, sales: Person
) -> None:
    await _login(client, sales.email, "not-the-password")
    assert hasher.verified == 1
    await _login(client, "nobody@okno.example.com", "not-the-password")
    assert hasher.verified == 2


async def test_after_five_failures_the_account_gets_429_with_retry_after_and_no_password_check(
    client: Client, hasher: GatedHasher, clock: SteppedClock[float], sales: Person
) -> None:
    for _ in range(5):
        assert (await _login(client, sales.email, "not-the-password")).status == 401
    checked = hasher.verified
    refused = await _login(client, " ANNA@okno.example.com", PASSWORD)  # the same account, normalised
    error = await error_of(refused, 429)
    assert error["code"] == "too_many_attempts"
    assert refused.headers["Retry-After"] == "12"  # 5 per minute: the next try in 12 s
    assert hasher.verified == checked  # refused before argon2: that is what saves the CPU
    clock.now += 12
    assert (await _login(client, sales.email, PASSWORD)).status == 200


async def test_a_successful_login_clears_the_accounts_failures(
    client: Client, clock: SteppedClock[float], sales: Person
) -> None:
    for _ in range(4):
        assert (await _login(client, sales.email, "not-the-password")).status == 401
    assert (await _login(client, sales.email, PASSWORD)).status == 200
    for _ in range(5):
        assert (await _login(client, sales.email, "not-the-password")).status == 401
    assert (await _login(client, sales.email, "not-the-password")).status == 429


async def test_one_ip_gets_twenty_attempts_a_minute_whatever_the_accounts(
    client: Client, hasher: GatedHasher, clock: SteppedClock[float]
) -> None:
    for n in range(20):
        assert (await _login(client, f"guess{n}@okno.example.com", "nope-nope")).status == 401
    refused = await _login(client, "guess99@okno.example.com", "nope-nope")
    assert (await error_of(refused, 429))["code"] == "too_many_attempts"
    assert refused.headers["Retry-After"] == "3"
    assert hasher.verified == 20
    clock.now += 3
    assert (await _login(client, "guess99@okno.example.com", "nope-nope")).status == 401


async def test_the_login_form_is_limited_too_and_says_so_in_the_pages_language(
    client: Client, hasher: GatedHasher, clock: SteppedClock[float], sales: Person
) -> None:
    token = form_token(await (await client.get("/login?lang=en")).text())
    form = {"email": sales.email, "password": "not-the-password", "csrf_token": token}
    for _ in range(5):
        assert (await client.post("/login?lang=en", data=form)).status == 401
    checked = hasher.verified
    refused = await client.post("/login?lang=en", data={**form, "password": PASSWORD})
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "12"
    assert "Too many sign-in attempts. Try again in 12 seconds." in await refused.text()
    russian = await client.post("/login?lang=ru", data=form)
    assert russian.status == 429
    assert russian.headers["Retry-After"] == "12"
    assert "Слишком много попыток входа. Попробуйте снова через 12 секунд." in await russian.text()
    assert hasher.verified == checked
    clock.now += 12
    landed = await client.post("/login", data={**form, "password": PASSWORD}, allow_redirects=False)
    assert landed.status == 303


async def test_every_login_attempt_is_audited_with_ip_device_and_result(
    client: Client, hub: Hub, sales: Person, admin: Person
) -> None:
    ua = {"User-Agent": "Mozilla/5.0 (X11; Linux) Firefox/128.0"}
    await _login(client, sales.email, "not-the-password", **ua)
    await _login(client, "nobody@okno.example.com", "not-the-password", **ua)
    await _login(client, sales.email, PASSWORD, **ua)
    patch = await client.patch(f"/api/v1/agents/{sales.id}", json={"is_active": False}, headers=admin.headers)
    assert patch.status == 200
    await _login(client, sales.email, PASSWORD, **ua)
    async with hub.sessionmaker() as session:
        rows = list(
            await session.scalars(select(AuditLog).where(AuditLog.action == "login").order_by(AuditLog.id))
        )
    assert [(r.detail["result"], r.entity_id, r.actor_agent_id) for r in rows] == [
        ("wrong_password", sales.id, None),
        ("unknown_account", None, None),
        ("success", sales.id, sales.id),
        ("inactive", sales.id, None),
    ]
    for row in rows:
        assert row.detail["ip"] == "127.0.0.1"
        assert row.detail["user_agent"] == ua["User-Agent"]
        assert row.detail["via"] == "api"
        assert PASSWORD not in str(row.detail) and "not-the-password" not in str(row.detail)
    assert rows[1].detail["email"] == "nobody@okno.example.com"


async def test_a_flood_of_refused_attempts_is_audited_once_per_minute_not_once_per_attempt(
    client: Client, hub: Hub, clock: SteppedClock[float], sales: Person
) -> None:
    for _ in range(5):
        await _login(client, sales.email, "not-the-password")
    for _ in range(14):  # (15 more would reach the IP's limit: a second key, audited once too)
        assert (await _login(client, sales.email, "not-the-password")).status == 429
    async with hub.sessionmaker() as session:
        limited = list(await session.scalars(select(AuditLog).where(AuditLog.action == "login")))
    assert [r.detail["result"] for r in limited].count("rate_limited") == 1
    clock.now += 60
    for _ in range(6):
        await _login(client, sales.email, "not-the-password")
    async with hub.sessionmaker() as session:
        limited = list(await session.scalars(select(AuditLog).where(AuditLog.action == "login")))
    assert [r.detail["result"] for r in limited].count("rate_limited") == 2


async def test_guessing_the_current_password_of_a_stolen_session_is_limited_like_a_log_in(
    client: Client, hub: Hub, hasher: GatedHasher, clock: SteppedClock[float], sales: Person
) -> None:
    """POST /api/v1/me/password checks the current password: its failures count as failed log-ins."""

    async def change(current: str) -> Any:
        body = {"current_password": current, "new_password": "a-new-long-password"}
        return await client.post("/api/v1/me/password", json=body, headers=sales.headers)

    for _ in range(5):
        assert (await error_of(await change("guess"), 403))["code"] == "wrong_password"
    checked = hasher.verified
    refused = await change(PASSWORD)
    assert (await error_of(refused, 429))["code"] == "too_many_attempts"
    assert refused.headers["Retry-After"] == "12"
    assert hasher.verified == checked
    clock.now += 12
    assert (await change(PASSWORD)).status == 204
    async with hub.sessionmaker() as session:
        actions = list(await session.scalars(select(AuditLog.action).where(AuditLog.entity_id == sales.id)))
    assert "agent.password_change" in actions
