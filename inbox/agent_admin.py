"""An admin's work on agents and teams: listing, creating, changing — each change with its audit rows.

Admins may do everything. A supervisor (``viewer``) manages the agents of their own teams: they see the
agents who share a team with them, create agents (role ``agent``) in their teams, and change an agent's
(role ``agent`` only) name, capacity, extension, language, active flag, password and membership of the
supervisor's own teams — never a role, an e-mail, another team's membership, nor a supervisor or admin
(:class:`inbox.conversations.NotAllowed`: the API answers 403). Teams are renamed and staffed by admins.

A new password arrives already hashed (:func:`inbox.agents.hash_password_async`, run before the caller's
transaction: argon2 must not hold SQLite's write lock). What ends with a new password or a deactivation
(sessions, tokens, open sockets) is the hub's: the caller does it in the same transaction.
`origin` is where the request came from (IP, user agent): the caller's, added to every audit row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from inbox.agents import AgentError, agent_with_teams, create_agent
from inbox.audit import record
from inbox.conversations import ROLES, NotAllowed, Viewer
from inbox.identities import InvalidIdentity, normalize_email
from inbox.models import Agent, Team

# Fields an admin may change besides the password; a change may not set these to null.
NOT_NULL: Final = ("email", "name", "role", "is_active", "team_ids")  # capacity: null is the team's default
PLAIN_FIELDS: Final = ("role", "capacity", "is_active", "extension", "language", "channel_capacity")
# What a supervisor may change on an agent of their teams (team_ids: only their own teams' membership).
SUPERVISOR_FIELDS: Final = frozenset(
    {"name", "team_ids", "capacity", "channel_capacity", "extension", "language", "is_active"}
)


class AgentNotFound(LookupError):
    pass


async def list_agents(session: AsyncSession) -> list[Agent]:
    """Every agent, with their teams, by id."""
    return list(await session.scalars(select(Agent).options(selectinload(Agent.teams)).order_by(Agent.id)))


async def manageable_agents(session: AsyncSession, viewer: Viewer) -> list[Agent]:
    """The agents `viewer` sees on the agents page, with their teams, by name: an admin every agent, a
    supervisor those who share a team with them (themselves included)."""
    stmt = select(Agent).options(selectinload(Agent.teams)).order_by(Agent.name, Agent.id)
    if not viewer.is_admin:
        stmt = stmt.where(Agent.teams.any(Team.id.in_(sorted(viewer.team_ids))))
    return list(await session.scalars(stmt))


def may_manage(viewer: Viewer, agent: Agent) -> bool:
    """Whether `viewer` may change `agent` (teams loaded): an admin anyone, a supervisor an agent (role
    ``agent``) of one of their teams."""
    if viewer.is_admin:
        return True
    if viewer.role != "supervisor" or agent.role != "agent":
        return False
    return any(t.id in viewer.team_ids for t in agent.teams)


def _check_supervisor_create(viewer: Viewer, role: str, team_ids: Sequence[int]) -> None:
    if viewer.is_admin:
        return
    if viewer.role != "supervisor":
        raise NotAllowed("only supervisors and admins may create agents")
    if role != "agent":
        raise NotAllowed("a supervisor may create agents with the role agent only")
    if not team_ids or not set(team_ids) <= viewer.team_ids:
        raise NotAllowed("a supervisor creates agents in their own teams only")


def _check_supervisor_change(viewer: Viewer, agent: Agent, changes: Mapping[str, Any]) -> None:
    if viewer.is_admin:
        return
    if not may_manage(viewer, agent):
        raise NotAllowed("a supervisor may change only the agents of their own teams")
    refused = sorted(set(changes) - SUPERVISOR_FIELDS)
    if refused:
        raise NotAllowed(f"only an admin may change {', '.join(refused)}")
    if "team_ids" in changes:
        before = {t.id for t in agent.teams} - viewer.team_ids
        after = set(changes["team_ids"]) - viewer.team_ids
        if before != after:
            raise NotAllowed("a supervisor may change the membership of their own teams only")


async def active_agents(session: AsyncSession) -> list[Agent]:
    """The agents a conversation may be handed to (active ones), with their teams, by name."""
    stmt = select(Agent).where(Agent.is_active.is_(True)).options(selectinload(Agent.teams))
    return list(await session.scalars(stmt.order_by(Agent.name, Agent.id)))


async def list_teams(session: AsyncSession) -> list[Team]:
    return list(await session.scalars(select(Team).order_by(Team.name)))


async def teams_by_id(session: AsyncSession, ids: Sequence[int]) -> list[Team]:
    """The teams `ids` names, in that order without repeats; an unknown id is refused (``team_ids``)."""
    found = {t.id: t for t in await session.scalars(select(Team).where(Team.id.in_(set(ids))))} if ids else {}
    for team_id in ids:
        if team_id not in found:
            raise AgentError(f"team {team_id} not found", "team_ids")
    return [found[i] for i in dict.fromkeys(ids)]


def _with_origin(detail: Mapping[str, Any] | None, origin: Mapping[str, Any] | None) -> dict[str, Any]:
    return {**(detail or {}), **(origin or {})}


async def add_agent(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    password: str,
    password_hash: str,
    role: str = "agent",
    team_ids: Sequence[int] = (),
    extension: str | None = None,
    capacity: int | None = 10,
    language: str | None = None,
    actor_id: int,
    viewer: Viewer | None = None,
    origin: Mapping[str, Any] | None = None,
) -> Agent:
    """A new agent in the teams `team_ids`, audited ``agent.create`` (the caller commits). A `viewer`
    who is a supervisor creates agents in their own teams only (None: an admin's own tooling)."""
    if viewer is not None:
        _check_supervisor_create(viewer, role, team_ids)
    teams = await teams_by_id(session, team_ids)
    agent = await create_agent(
        session,
        email=email,
        name=name,
        password=password,
        password_hash=password_hash,
        role=role,
        extension=extension,
    )
    agent.teams = teams
    agent.capacity = capacity
    agent.language = language
    detail = {"email": agent.email, "role": agent.role, "team_ids": [t.id for t in teams]}
    record(
        session,
        "agent.create",
        entity="agent",
        entity_id=agent.id,
        actor_agent_id=actor_id,
        detail=_with_origin(detail, origin),
    )
    return agent


async def update_agent(
    session: AsyncSession,
    agent_id: int,
    changes: Mapping[str, Any],
    *,
    actor_id: int,
    viewer: Viewer | None = None,
    password_hash: str | None = None,
    origin: Mapping[str, Any] | None = None,
) -> Agent:
    """Apply `changes` (field → value; a field left out keeps its value) and a new `password_hash`.

    An admin may not take away their own admin role nor deactivate themselves. Audited as one row per
    kind of change: ``agent.password_reset``, ``agent.(de|re)activate`` and ``agent.update`` for the rest
    (never a secret). A `viewer` who is a supervisor is held to the module's rules. The caller commits.
    """
    agent = await agent_with_teams(session, agent_id)
    if agent is None:
        raise AgentNotFound(f"agent {agent_id} not found")
    if viewer is not None:
        _check_supervisor_change(viewer, agent, changes)
    for name in NOT_NULL:
        if name in changes and changes[name] is None:
            raise AgentError(f"{name} cannot be null", name)
    if "role" in changes and changes["role"] not in ROLES:
        raise AgentError(f"role must be one of {', '.join(ROLES)}", "role")
    if agent.id == actor_id:
        if changes.get("role", "admin") != "admin":
            raise AgentError("you cannot take away your own admin role", "role")
        if changes.get("is_active") is False:
            raise AgentError("you cannot deactivate yourself", "is_active")
    if "email" in changes:
        try:
            email = normalize_email(changes["email"])
        except InvalidIdentity as exc:
            raise AgentError(exc.reason, "email") from None
        taken = await session.scalar(select(Agent.id).where(Agent.email == email, Agent.id != agent.id))
        if taken is not None:
            raise AgentError(f"an agent with e-mail {email} exists", "email")
        agent.email = email
    if "name" in changes:
        if not changes["name"].strip():
            raise AgentError("name must not be empty", "name")
        agent.name = changes["name"].strip()
    if password_hash is not None:
        agent.password_hash = password_hash
    if "team_ids" in changes:
        agent.teams = await teams_by_id(session, changes["team_ids"])
    for name in PLAIN_FIELDS:
        if name in changes:
            setattr(agent, name, changes[name])
    if password_hash is not None:
        record(
            session,
            "agent.password_reset",
            entity="agent",
            entity_id=agent.id,
            actor_agent_id=actor_id,
            detail=_with_origin(None, origin),
        )
    if "is_active" in changes:
        active = bool(changes["is_active"])  # (a plain condition: the audit-label test reads literals here)
        action = "agent.reactivate" if active else "agent.deactivate"
        record(
            session,
            action,
            entity="agent",
            entity_id=agent.id,
            actor_agent_id=actor_id,
            detail=_with_origin(None, origin),
        )
    rest = {name: changes[name] for name in sorted(set(changes) - {"password", "is_active"})}
    if rest:
        record(
            session,
            "agent.update",
            entity="agent",
            entity_id=agent.id,
            actor_agent_id=actor_id,
            detail=_with_origin({"changes": rest}, origin),
        )
    return agent


async def add_team(
    session: AsyncSession, name: str, *, actor_id: int, origin: Mapping[str, Any] | None = None
) -> Team:
    """A new team with a name no other team has, audited ``team.create`` (the caller commits)."""
    name = name.strip()
    if not name:
        raise AgentError("name must not be empty", "name")
    if await session.scalar(select(Team.id).where(Team.name == name)) is not None:
        raise AgentError(f"team {name!r} exists", "name")
    team = Team(name=name)
    session.add(team)
    await session.flush()
    record(
        session,
        "team.create",
        entity="team",
        entity_id=team.id,
        actor_agent_id=actor_id,
        detail=_with_origin({"name": name}, origin),
    )
    return team


async def update_team(
    session: AsyncSession,
    team_id: int,
    *,
    name: str | None = None,
    member_ids: Sequence[int] | None = None,
    actor_id: int,
    origin: Mapping[str, Any] | None = None,
) -> Team:
    """Rename a team and/or replace its members (None: unchanged), audited ``team.update`` with what
    changed (the caller commits)."""
    team = await session.scalar(select(Team).where(Team.id == team_id).options(selectinload(Team.agents)))
    if team is None:
        raise AgentNotFound(f"team {team_id} not found")
    changes: dict[str, Any] = {}
    if name is not None:
        name = name.strip()
        if not name:
            raise AgentError("name must not be empty", "name")
        taken = await session.scalar(select(Team.id).where(Team.name == name, Team.id != team.id))
        if taken is not None:
            raise AgentError(f"team {name!r} exists", "name")
        if name != team.name:
            changes["name"] = name
            team.name = name
    if member_ids is not None:
        wanted = list(dict.fromkeys(member_ids))
        found = (
            {a.id: a for a in await session.scalars(select(Agent).where(Agent.id.in_(wanted)))}
            if wanted
            else {}
        )
        for agent_id in wanted:
            if agent_id not in found:
                raise AgentError(f"agent {agent_id} not found", "member_ids")
        team.agents = [found[i] for i in wanted]
        changes["member_ids"] = wanted
    if changes:
        record(
            session,
            "team.update",
            entity="team",
            entity_id=team.id,
            actor_agent_id=actor_id,
            detail=_with_origin({"changes": changes}, origin),
        )
    return team
