"""Agents and teams: creation, lookup, and the viewer (role and teams) that visibility rules need.

Passwords are hashed here with argon2 (argon2-cffi defaults: argon2id); the plain text is never stored.
argon2 costs a quarter second of CPU by design, so it never runs inside a database transaction (on SQLite
every transaction holds the write lock, see hub.db): a log-in reads the candidate in a short read
(:func:`login_candidate`), ends it, verifies with :func:`check_password` (a thread, no session), then
writes in a new short transaction; a new password is hashed before the transaction that stores it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from inbox.conversations import ROLES, Viewer
from inbox.identities import InvalidIdentity, normalize_email
from inbox.models import Agent, Team

_hasher = PasswordHasher()
MIN_PASSWORD = 8


def generate_password() -> str:
    """A one-time password an admin hands over (16 URL-safe characters, 96 bits)."""
    return secrets.token_urlsafe(12)


class AgentError(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def hash_password_async(password: str) -> str:
    """argon2 takes a few hundred milliseconds by design: off the event loop."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password_hash: str, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


_dummy_hashes: dict[int, str] = {}


def dummy_hash() -> str:
    """A hash of no one's password, made with the current parameters: an unknown e-mail is checked
    against it so that it costs the same time as a known one (no account enumeration by timing)."""
    key = id(_hasher)
    if key not in _dummy_hashes:
        _dummy_hashes.clear()
        _dummy_hashes[key] = _hasher.hash("no one's password")
    return _dummy_hashes[key]


LoginOutcome = Literal["success", "wrong_password", "unknown_account", "inactive"]


@dataclass(frozen=True, slots=True)
class LoginCandidate:
    """What a log-in needs to know of the agent an e-mail names, read in a short transaction."""

    agent_id: int
    password_hash: str
    is_active: bool


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """The verdict on a password: `new_hash` is set when the stored hash's parameters are outdated."""

    outcome: LoginOutcome
    agent_id: int | None = None
    new_hash: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "success"


def login_email(email: str) -> str:
    """The form of a typed e-mail that log-in looks up and rate-limits by."""
    return email.strip().lower()


async def login_candidate(session: AsyncSession, email: str) -> LoginCandidate | None:
    """The agent with this log-in e-mail (active or not), or None. The caller ends the transaction
    before checking the password."""
    row = (
        await session.execute(
            select(Agent.id, Agent.password_hash, Agent.is_active).where(Agent.email == login_email(email))
        )
    ).one_or_none()
    return None if row is None else LoginCandidate(row.id, row.password_hash, row.is_active)


def _check(candidate: LoginCandidate | None, password: str) -> PasswordCheck:
    if candidate is None:
        verify_password(dummy_hash(), password)  # the same time as a real check
        return PasswordCheck("unknown_account")
    if not verify_password(candidate.password_hash, password):
        return PasswordCheck("wrong_password", candidate.agent_id)
    if not candidate.is_active:
        return PasswordCheck("inactive", candidate.agent_id)
    new_hash = hash_password(password) if needs_rehash(candidate.password_hash) else None
    return PasswordCheck("success", candidate.agent_id, new_hash)


async def check_password(candidate: LoginCandidate | None, password: str) -> PasswordCheck:
    """Verify (and rehash if due) in a thread, with no database session: call it between transactions."""
    return await asyncio.to_thread(_check, candidate, password)


async def store_rehash(session: AsyncSession, candidate: LoginCandidate, new_hash: str) -> None:
    """Replace an outdated hash by `new_hash`, unless the password changed meanwhile (caller commits)."""
    await session.execute(
        update(Agent)
        .where(Agent.id == candidate.agent_id, Agent.password_hash == candidate.password_hash)
        .values(password_hash=new_hash)
    )


async def team_by_name(session: AsyncSession, name: str, *, create: bool = False) -> Team:
    team = await session.scalar(select(Team).where(Team.name == name))
    if team is None:
        if not create:
            raise AgentError(f"team {name!r} not found", "teams")
        team = Team(name=name)
        session.add(team)
        await session.flush()
    return team


async def create_agent(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    password: str,
    role: str = "agent",
    team_names: Sequence[str] = (),
    extension: str | None = None,
    create_teams: bool = True,
    password_hash: str | None = None,
) -> Agent:
    """A new agent (flushed, not committed). Team names that do not exist are created if allowed.

    Give `password_hash` (:func:`hash_password_async` of `password`, made before the caller's transaction
    began) to keep argon2 out of the transaction; without it the password is hashed here, before this
    function's first statement (fine only when `session` has no transaction open yet).
    """
    try:
        email = normalize_email(email)
    except InvalidIdentity as exc:
        raise AgentError(exc.reason, "email") from None
    if role not in ROLES:
        raise AgentError(f"role must be one of {', '.join(ROLES)}", "role")
    if len(password) < MIN_PASSWORD:
        raise AgentError(f"password must be at least {MIN_PASSWORD} characters", "password")
    if not name.strip():
        raise AgentError("name must not be empty", "name")
    if password_hash is None:
        password_hash = await hash_password_async(password)
    if await session.scalar(select(Agent.id).where(Agent.email == email)) is not None:
        raise AgentError(f"an agent with e-mail {email} exists", "email")
    teams = [await team_by_name(session, t, create=create_teams) for t in team_names]
    agent = Agent(
        email=email,
        name=name.strip(),
        password_hash=password_hash,
        role=role,
        extension=extension,
        teams=teams,
    )
    session.add(agent)
    await session.flush()
    return agent


async def agent_with_teams(session: AsyncSession, agent_id: int) -> Agent | None:
    return await session.get(Agent, agent_id, options=[selectinload(Agent.teams)])


async def authenticate(session: AsyncSession, email: str, password: str) -> Agent | None:
    """The active agent (teams loaded) with these credentials, or None (the same for an unknown e-mail and
    a bad password). For scripts and tests: ends `session`'s transaction before argon2 runs, then loads
    the agent in a new one (the caller commits a rehash). The web log-in uses the steps one by one."""
    candidate = await login_candidate(session, email)
    await session.commit()
    check = await check_password(candidate, password)
    if not check.ok or candidate is None:
        return None
    if check.new_hash is not None:
        await store_rehash(session, candidate, check.new_hash)
    agent = await agent_with_teams(session, candidate.agent_id)
    return agent if agent is not None and agent.is_active else None


def viewer_of(agent: Agent) -> Viewer:
    """Needs `agent.teams` loaded (see :func:`agent_with_teams`)."""
    return Viewer(agent.id, agent.role, frozenset(t.id for t in agent.teams))


def time_zone(name: str) -> str:
    """An IANA time zone name as zoneinfo knows it ("Asia/Vladivostok", "UTC"); anything else is refused."""
    clean = name.strip()
    if not clean or len(clean) > 64 or clean.startswith(("/", ".")) or ".." in clean:
        raise AgentError(f"unknown time zone: {name!r}", "timezone")
    try:
        ZoneInfo(clean)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise AgentError(f"unknown time zone: {name!r}", "timezone") from None
    return clean


async def set_timezone(session: AsyncSession, agent_id: int, name: str | None) -> str | None:
    """The zone the agent reads times in (None: the hub's business hours' zone again). Writes in the
    caller's transaction."""
    zone = time_zone(name) if name is not None else None
    await session.execute(update(Agent).where(Agent.id == agent_id).values(timezone=zone))
    return zone
