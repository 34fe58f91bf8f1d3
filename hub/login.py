"""Logging in without stalling the hub: rate limits first, argon2 with no transaction open, every
attempt in the audit log. Both the JSON log-in and the log-in page call :func:`log_in`.

The steps: (1) the rate limits (:class:`LoginGuard`) — over a limit the password is not even checked,
which is what saves the CPU; (2) a short read of the account's hash, ended at once (on SQLite even a
read holds the write lock, see hub.db); (3) argon2 in a thread with no session; (4) one short
transaction that starts the session (or not) and writes the audit row.

Rate limits (GCRA, :mod:`hub.ratelimit`; shared by all processes on Redis when ``bus_url`` is set), all
configurable in ``[security]``:

* every attempt per IP (``login_attempts_per_minute_per_ip``, 20): the flood guard;
* failures per (account, IP) (``login_failures_per_minute_per_account``, 5): guessing one password;
  keyed by account *and* IP so that an attacker elsewhere cannot lock the real user out; cleared by a
  successful log-in;
* failures per account from all IPs (``..._all_ips``, 30): a looser cap against guessing from many
  addresses. An attacker with many addresses can hold a user under it only while flooding, and only
  down to one attempt every two seconds; a success clears it too.

An attempt is counted against the account limits before its password is checked — by the hits
themselves, not a check before them, so concurrent tries on other processes cannot slip past — and a
success takes it back. Refused attempts are audited too, but only the first
refusal per limit key per minute, so a flood cannot fill the table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub import auth
from hub.ratelimit import ALLOWED, Clock, Limiters, MemoryLimiters, Verdict
from hub.settings import SecuritySettings
from inbox import audit
from inbox.agents import agent_with_teams, check_password, login_candidate, login_email, store_rehash
from inbox.models import Agent, WebSession

MINUTE = 60.0
Via = Literal["api", "form"]


@dataclass(frozen=True, slots=True)
class Attempt:
    email: str
    password: str
    ip: str
    user_agent: str
    via: Via


@dataclass(frozen=True, slots=True)
class LoginResult:
    """`outcome` is one of :data:`inbox.audit.LOGIN_RESULTS`; the rest is set on success or refusal."""

    outcome: str
    agent: Agent | None = None
    session_token: str | None = None
    web_session: WebSession | None = None
    verdict: Verdict = ALLOWED

    @property
    def ok(self) -> bool:
        return self.outcome == "success"


class LoginGuard:
    """The log-in rate limits, from `limiters` (by default this process's own, on `clock`: tests step it)."""

    def __init__(
        self, settings: SecuritySettings, limiters: Limiters | None = None, *, clock: Clock = time.monotonic
    ) -> None:
        limiters = limiters or MemoryLimiters(clock)
        self.per_ip = limiters.limiter("login-ip", settings.login_attempts_per_minute_per_ip, MINUTE)
        self.per_account = limiters.limiter(
            "login-account-ip", settings.login_failures_per_minute_per_account, MINUTE
        )
        self.per_account_all_ips = limiters.limiter(
            "login-account", settings.login_failures_per_minute_per_account_all_ips, MINUTE
        )
        self._audited_refusals = limiters.limiter("login-audited", 1, MINUTE)

    @staticmethod
    def _keys(email: str, ip: str) -> tuple[str, str, str]:
        account = login_email(email)
        return f"ip:{ip}", f"account:{account}|{ip}", f"account:{account}"

    async def admit(self, email: str, ip: str) -> tuple[Verdict, str]:
        """Count an attempt; a refusal says how long to wait and which key refused."""
        ip_key, pair_key, account_key = self._keys(email, ip)
        verdict = await self.per_ip.hit(ip_key)
        if not verdict.allowed:
            return verdict, ip_key
        verdict = await self.per_account.hit(pair_key)
        if not verdict.allowed:
            return verdict, pair_key
        verdict = await self.per_account_all_ips.hit(account_key)
        if not verdict.allowed:
            await self.per_account.refund(pair_key)  # a refused attempt counts against no account limit
            return verdict, account_key
        return ALLOWED, ""

    async def succeeded(self, email: str, ip: str) -> None:
        """A success clears the account's failures (from this IP and from all)."""
        _, pair_key, account_key = self._keys(email, ip)
        await self.per_account.reset(pair_key)
        await self.per_account_all_ips.reset(account_key)

    async def audit_refusal(self, key: str) -> bool:
        """Whether to audit this refusal: the first one per key per minute."""
        return (await self._audited_refusals.hit(key)).allowed


async def _record(
    session: AsyncSession, attempt: Attempt, result: str, agent_id: int | None, *, actor: bool = False
) -> None:
    audit.record(
        session,
        audit.LOGIN,
        entity="agent",
        entity_id=agent_id,
        actor_agent_id=agent_id if actor else None,
        detail=audit.login_detail(attempt.email, attempt.ip, attempt.user_agent, result, attempt.via),
    )


async def record_refused(
    sessionmaker: async_sessionmaker[AsyncSession], attempt: Attempt, result: str
) -> None:
    """Audit an attempt refused before any check (e.g. ``network_not_allowed``) in its own transaction."""
    async with sessionmaker() as session:
        await _record(session, attempt, result, None)
        await session.commit()


def _anywhere(role: str) -> bool:
    return True


async def log_in(
    sessionmaker: async_sessionmaker[AsyncSession],
    guard: LoginGuard,
    attempt: Attempt,
    network_allows: Callable[[str], bool] = _anywhere,
) -> LoginResult:
    """Check an attempt and, if it is good, start a browser session; every outcome is audited.

    `network_allows(role)` is the allow-list of ``[security] allowed_networks`` for the attempt's
    address: a right password from a network the agent's role may not work from starts no session.
    """
    verdict, key = await guard.admit(attempt.email, attempt.ip)
    if not verdict.allowed:
        if await guard.audit_refusal(key):
            await record_refused(sessionmaker, attempt, "rate_limited")
        return LoginResult("rate_limited", verdict=verdict)

    async with sessionmaker() as session:  # a short read, ended before argon2
        candidate = await login_candidate(session, attempt.email)
    check = await check_password(candidate, attempt.password)  # a thread; no transaction open

    async with sessionmaker() as session:
        if not check.ok or candidate is None:
            await _record(session, attempt, check.outcome, check.agent_id)
            await session.commit()
            return LoginResult(check.outcome)
        if check.new_hash is not None:
            await store_rehash(session, candidate, check.new_hash)
        agent = await agent_with_teams(session, candidate.agent_id)
        if agent is None or not agent.is_active:  # deactivated (or deleted) while argon2 ran
            await _record(session, attempt, "inactive", candidate.agent_id)
            await session.commit()
            return LoginResult("inactive")
        if not network_allows(agent.role):
            await _record(session, attempt, "network_not_allowed", agent.id)
            await session.commit()
            return LoginResult("network_not_allowed")
        token, row = await auth.start_session(session, agent.id)
        await _record(session, attempt, "success", agent.id, actor=True)
        await session.commit()
    await guard.succeeded(attempt.email, attempt.ip)
    return LoginResult("success", agent, token, row)
