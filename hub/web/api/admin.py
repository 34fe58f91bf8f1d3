"""/api/v1/agents and /api/v1/teams: every agent may list them; only admins create and change them.

Every change is audited (inbox.audit). A new password is hashed before the transaction that stores it
(argon2 holds the CPU for a quarter second; on SQLite a transaction holds the write lock).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from aiohttp import web
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hub import auth
from hub.web.api.operations import operation
from hub.web.api.schemas.agents import Agent as AgentOut
from hub.web.api.schemas.agents import AgentList, TeamList
from hub.web.api.schemas.agents import Team as TeamOut
from hub.web.api.schemas.base import respond
from hub.web.audit_trail import record_action
from hub.web.auth import Principal, require_agent
from hub.web.context import db, online_agents
from hub.web.errors import not_found, unprocessable
from hub.web.inputs import Body, Id, NotNull, path_id, read_body
from hub.web.revocation import Revocation, revoke
from inbox.agents import MIN_PASSWORD, agent_with_teams, create_agent, hash_password_async
from inbox.identities import InvalidIdentity, normalize_email
from inbox.models import Agent, Team

routes = web.RouteTableDef()

Role = Literal["agent", "supervisor", "admin"]
Language = Literal["ru", "en"]


class AgentCreate(Body):
    email: str = Field(min_length=3, max_length=254)
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=MIN_PASSWORD, max_length=1024)
    role: Role = "agent"
    team_ids: list[Id] = Field(default_factory=list, max_length=100)
    extension: str | None = Field(None, max_length=32)
    capacity: int = Field(10, ge=0, le=10_000)
    language: Language | None = None


class AgentPatch(Body):
    email: str | None = NotNull(min_length=3, max_length=254)
    name: str | None = NotNull(min_length=1, max_length=200)
    password: str | None = NotNull(min_length=MIN_PASSWORD, max_length=1024)
    role: Role | None = NotNull()
    team_ids: list[Id] | None = NotNull(max_length=100)
    extension: str | None = Field(None, max_length=32)
    capacity: int | None = NotNull(ge=0, le=10_000)
    language: Language | None = None
    is_active: bool | None = NotNull()


class TeamCreate(Body):
    name: str = Field(min_length=1, max_length=120)


async def _teams(session: AsyncSession, ids: Sequence[int]) -> list[Team]:
    found = {t.id: t for t in await session.scalars(select(Team).where(Team.id.in_(set(ids))))} if ids else {}
    for team_id in ids:
        if team_id not in found:
            raise unprocessable(f"team {team_id} not found", "team_ids")
    return [found[i] for i in dict.fromkeys(ids)]


@routes.get("/api/v1/agents")
@operation("All agents with teams and presence", "admin", {200: ("OK", AgentList)})
async def list_agents(request: web.Request) -> web.Response:
    async with db(request) as session:
        await require_agent(request, session)
        rows = await session.scalars(select(Agent).options(selectinload(Agent.teams)).order_by(Agent.id))
        online = await online_agents(request, session)
        return respond(AgentList(items=[AgentOut.of(a, online=a.id in online) for a in rows]))


@routes.post("/api/v1/agents")
@operation(
    "Create an agent (admin)", "admin", {201: ("created", AgentOut)}, body=AgentCreate, errors=(403, 422)
)
async def create(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await require_agent(request, session, "admin")
        body = await read_body(request, AgentCreate)
        password_hash = await hash_password_async(body.password)  # no transaction open yet
        teams = await _teams(session, body.team_ids)
        agent = await create_agent(
            session,
            email=body.email,
            name=body.name,
            password=body.password,
            password_hash=password_hash,
            role=body.role,
            extension=body.extension,
        )
        agent.teams = teams
        agent.capacity = body.capacity
        agent.language = body.language
        detail = {"email": agent.email, "role": agent.role, "team_ids": [t.id for t in teams]}
        record_action(request, session, principal, "agent.create", "agent", agent.id, detail)
        await session.commit()
        return respond(AgentOut.of(agent, online=False), status=201)


@routes.patch(r"/api/v1/agents/{id:\d+}")
@operation(
    "Change an agent (admin)", "admin", {200: ("OK", AgentOut)}, body=AgentPatch, errors=(403, 404, 422)
)
async def patch(request: web.Request) -> web.Response:
    """Change an agent; an admin cannot take away their own admin role or deactivate themselves."""
    agent_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session, "admin")
        body = await read_body(request, AgentPatch)
        given = body.model_fields_set
        # argon2 before the transaction that the next statement opens (authentication ended its own)
        password_hash = await hash_password_async(body.password) if body.password is not None else None
        agent = await agent_with_teams(session, agent_id)
        if agent is None:
            raise not_found(f"agent {agent_id} not found")
        for name in ("email", "name", "password", "role", "capacity", "is_active", "team_ids"):
            if name in given and getattr(body, name) is None:
                raise unprocessable(f"{name} cannot be null", name)
        if agent.id == principal.agent.id:
            if body.role is not None and body.role != "admin":
                raise unprocessable("you cannot take away your own admin role", "role")
            if body.is_active is False:
                raise unprocessable("you cannot deactivate yourself", "is_active")
        if body.email is not None:
            try:
                email = normalize_email(body.email)
            except InvalidIdentity as exc:
                raise unprocessable(exc.reason, "email") from None
            taken = await session.scalar(select(Agent.id).where(Agent.email == email, Agent.id != agent.id))
            if taken is not None:
                raise unprocessable(f"an agent with e-mail {email} exists", "email")
            agent.email = email
        if body.name is not None:
            if not body.name.strip():
                raise unprocessable("name must not be empty", "name")
            agent.name = body.name.strip()
        ended = _credentials_ended(agent, principal, password_hash, body.is_active)
        if password_hash is not None:
            agent.password_hash = password_hash
            await auth.end_credentials(session, agent.id, keep_session=ended.keep_session)
        if body.team_ids is not None:
            agent.teams = await _teams(session, body.team_ids)
        for name in ("role", "capacity", "is_active", "extension", "language"):
            if name in given:
                setattr(agent, name, getattr(body, name))
        _audit_patch(request, session, principal, agent.id, body)
        await session.commit()
        if ended.everything:
            await revoke(request, ended)
        online = await online_agents(request, session)
        return respond(AgentOut.of(agent, online=agent.id in online))


def _audit_patch(
    request: web.Request, session: AsyncSession, principal: Principal, agent_id: int, body: AgentPatch
) -> None:
    """One row per kind of change: password reset, (de)activation, and the other fields (no secrets)."""
    given = body.model_fields_set
    if "password" in given:
        record_action(request, session, principal, "agent.password_reset", "agent", agent_id)
    if "is_active" in given:
        action = "agent.reactivate" if body.is_active else "agent.deactivate"
        record_action(request, session, principal, action, "agent", agent_id)
    changes = {name: getattr(body, name) for name in sorted(given - {"password", "is_active"})}
    if changes:
        record_action(request, session, principal, "agent.update", "agent", agent_id, {"changes": changes})


def _credentials_ended(
    agent: Agent, principal: Principal, password_hash: str | None, is_active: bool | None
) -> Revocation:
    """What a change ends: a new password ends the agent's sessions (but the admin's own current one)
    and tokens; a deactivation closes the agent's sockets (the credentials stay, refused while inactive)."""
    if password_hash is None and is_active is not False:
        return Revocation(agent.id)
    own = agent.id == principal.agent.id and principal.web_session is not None
    keep = principal.web_session.id if own and principal.web_session is not None else None
    return Revocation(agent.id, everything=True, keep_session=keep)


@routes.get("/api/v1/teams")
@operation("All teams", "admin", {200: ("OK", TeamList)})
async def list_teams(request: web.Request) -> web.Response:
    async with db(request) as session:
        await require_agent(request, session)
        rows = await session.scalars(select(Team).order_by(Team.name))
        return respond(TeamList.model_validate({"items": rows}))


@routes.post("/api/v1/teams")
@operation("Create a team (admin)", "admin", {201: ("created", TeamOut)}, body=TeamCreate, errors=(403, 422))
async def create_team(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await require_agent(request, session, "admin")
        body = await read_body(request, TeamCreate)
        name = body.name.strip()
        if not name:
            raise unprocessable("name must not be empty", "name")
        if await session.scalar(select(Team.id).where(Team.name == name)) is not None:
            raise unprocessable(f"team {name!r} exists", "name")
        team = Team(name=name)
        session.add(team)
        await session.flush()
        record_action(request, session, principal, "team.create", "team", team.id, {"name": name})
        await session.commit()
        return respond(TeamOut.model_validate(team), status=201)
