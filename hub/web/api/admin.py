"""/api/v1/agents and /api/v1/teams: every agent may list them; admins create and change them, and a
supervisor the agents of their own teams (the rules are :mod:`inbox.agent_admin`'s: 403 otherwise).

The rules and the audit rows are :mod:`inbox.agent_admin`'s. A new password is hashed here before the
transaction that stores it (argon2 holds the CPU for a quarter second; on SQLite a transaction holds the
write lock), and the credentials it ends are ended in the same transaction (hub.auth).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from hub import auth
from hub.web.api.operations import operation
from hub.web.api.schemas.agents import Agent as AgentOut
from hub.web.api.schemas.agents import AgentList, TeamList
from hub.web.api.schemas.agents import Team as TeamOut
from hub.web.api.schemas.base import respond
from hub.web.audit_trail import origin
from hub.web.auth import Principal, require_agent
from hub.web.context import db, hub_of, online_agents
from hub.web.inputs import Body, Id, NotNull, path_id, read_body
from hub.web.revocation import Revocation, revoke
from inbox import agent_admin
from inbox.agents import MIN_PASSWORD, hash_password_async
from inbox.models import Agent

routes = web.RouteTableDef()

Role = Literal["agent", "supervisor", "admin"]
ChannelKind = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,19}$")]
Language = Literal["ru", "en"]


class AgentCreate(Body):
    email: str = Field(min_length=3, max_length=254)
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=MIN_PASSWORD, max_length=1024)
    role: Role = "agent"
    team_ids: list[Id] = Field(default_factory=list, max_length=100)
    extension: str | None = Field(None, max_length=32)
    capacity: int | None = Field(None, ge=0, le=10_000, description="null: the team's default")
    language: Language | None = None


class AgentPatch(Body):
    email: str | None = NotNull(min_length=3, max_length=254)
    name: str | None = NotNull(min_length=1, max_length=200)
    password: str | None = NotNull(min_length=MIN_PASSWORD, max_length=1024)
    role: Role | None = NotNull()
    team_ids: list[Id] | None = NotNull(max_length=100)
    extension: str | None = Field(None, max_length=32)
    capacity: int | None = NotNull(ge=0, le=10_000)
    # Limits per channel kind on top of capacity, e.g. {"webchat": 3}; null: none (inbox.routing.capacity).
    channel_capacity: dict[ChannelKind, Annotated[int, Field(ge=0, le=10_000)]] | None = Field(
        None, max_length=20
    )
    language: Language | None = None
    is_active: bool | None = NotNull()


class TeamCreate(Body):
    name: str = Field(min_length=1, max_length=120)


class TeamPatch(Body):
    name: str | None = NotNull(min_length=1, max_length=120)
    member_ids: list[Id] | None = NotNull(max_length=1000, description="the team's agents, all of them")


@routes.get("/api/v1/agents")
@operation("All agents with teams and presence", "admin", {200: ("OK", AgentList)})
async def list_agents(request: web.Request) -> web.Response:
    async with db(request) as session:
        await require_agent(request, session)
        rows = await agent_admin.list_agents(session)
        online = await online_agents(request, session)
        return respond(AgentList(items=[AgentOut.of(a, online=a.id in online) for a in rows]))


@routes.post("/api/v1/agents")
@operation(
    "Create an agent (admin; a supervisor: an agent in their own teams)",
    "admin",
    {201: ("created", AgentOut)},
    body=AgentCreate,
    errors=(403, 422),
)
async def create(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await require_agent(request, session, "supervisor", "admin")
        body = await read_body(request, AgentCreate)
        password_hash = await hash_password_async(body.password)  # no transaction open yet
        agent = await agent_admin.add_agent(
            session,
            **body.model_dump(),
            password_hash=password_hash,
            actor_id=principal.agent.id,
            viewer=principal.viewer,
            origin=origin(request),
        )
        await session.commit()
        return respond(AgentOut.of(agent, online=False), status=201)


@routes.patch(r"/api/v1/agents/{id:\d+}")
@operation(
    "Change an agent (admin; a supervisor: an agent of their own teams, not the role or e-mail)",
    "admin",
    {200: ("OK", AgentOut)},
    body=AgentPatch,
    errors=(403, 404, 422),
)
async def patch(request: web.Request) -> web.Response:
    """Change an agent; an admin cannot take away their own admin role or deactivate themselves."""
    agent_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session, "supervisor", "admin")
        body = await read_body(request, AgentPatch)
        # argon2 before the transaction that the next statement opens (authentication ended its own)
        password_hash = await hash_password_async(body.password) if body.password is not None else None
        agent = await change_agent(
            request,
            session,
            principal,
            agent_id,
            body.model_dump(include=body.model_fields_set - {"password"}),
            password_hash,
        )
        online = await online_agents(request, session)
        return respond(AgentOut.of(agent, online=agent.id in online))


async def change_agent(
    request: web.Request,
    session: AsyncSession,
    principal: Principal,
    agent_id: int,
    changes: Mapping[str, Any],
    password_hash: str | None,
) -> Agent:
    """Apply `changes` and a new password (hashed already, outside any transaction) as `principal`,
    end what they end (sessions, tokens; sockets after the commit) and commit: the API's and the agents
    page's one way to change an agent."""
    agent = await agent_admin.update_agent(
        session,
        agent_id,
        changes,
        actor_id=principal.agent.id,
        viewer=principal.viewer,
        password_hash=password_hash,
        origin=origin(request),
    )
    ended = _credentials_ended(agent, principal, password_hash, changes.get("is_active"))
    if password_hash is not None:
        await auth.end_credentials(session, agent.id, keep_session=ended.keep_session)
    await session.commit()
    if ended.everything:
        await revoke(request, ended)
    return agent


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
        rows = await agent_admin.list_teams(session)
        return respond(TeamList.model_validate({"items": rows}))


@routes.post("/api/v1/teams")
@operation("Create a team (admin)", "admin", {201: ("created", TeamOut)}, body=TeamCreate, errors=(403, 422))
async def create_team(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await require_agent(request, session, "admin")
        body = await read_body(request, TeamCreate)
        team = await agent_admin.add_team(
            session, body.name, actor_id=principal.agent.id, origin=origin(request)
        )
        await session.commit()
        return respond(TeamOut.model_validate(team), status=201)


@routes.patch(r"/api/v1/teams/{id:\d+}")
@operation(
    "Rename a team or replace its members (admin)",
    "admin",
    {200: ("OK", TeamOut)},
    body=TeamPatch,
    errors=(403, 404, 422),
)
async def patch_team(request: web.Request) -> web.Response:
    team_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session, "admin")
        body = await read_body(request, TeamPatch)
        team = await agent_admin.update_team(
            session,
            team_id,
            name=body.name,
            member_ids=body.member_ids,
            actor_id=principal.agent.id,
            origin=origin(request),
        )
        await session.commit()
        hub_of(request).router.wake()  # new members may take waiting dialogs
        return respond(TeamOut.model_validate(team))
