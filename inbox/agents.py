"""Agents and teams: creation, lookup, and the viewer (role and teams) that visibility rules need.

Passwords are hashed here with argon2 (argon2-cffi defaults: argon2id); the plain text is never stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from inbox.conversations import ROLES, Viewer
from inbox.identities import InvalidIdentity, normalize_email
from inbox.models import Agent, Team

_hasher = PasswordHasher()
MIN_PASSWORD = 8


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
) -> Agent:
    """A new agent (flushed, not committed). Team names that do not exist are created if allowed."""
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
    if await session.scalar(select(Agent.id).where(Agent.email == email)) is not None:
        raise AgentError(f"an agent with e-mail {email} exists", "email")
    teams = [await team_by_name(session, t, create=create_teams) for t in team_names]
    agent = Agent(
        email=email,
        name=name.strip(),
        password_hash=await hash_password_async(password),
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
    """The active agent with these credentials, or None (same answer for unknown e-mail and bad password)."""
    agent = await session.scalar(
        select(Agent).where(Agent.email == email.strip().lower()).options(selectinload(Agent.teams))
    )
    if agent is None:
        await hash_password_async(password)  # the same time as a real check: no enumeration by timing
        return None
    if not agent.is_active or not await verify_password_async(agent.password_hash, password):
        return None
    if needs_rehash(agent.password_hash):
        agent.password_hash = await hash_password_async(password)
    return agent


def viewer_of(agent: Agent) -> Viewer:
    """Needs `agent.teams` loaded (see :func:`agent_with_teams`)."""
    return Viewer(agent.id, agent.role, frozenset(t.id for t in agent.teams))
