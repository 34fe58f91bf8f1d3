"""Routing over HTTP: my availability, the supervisors' board, the queues with positions, and "take".

    PUT  /api/v1/me/availability          {"status": "online" | "busy" | "offline"}
    GET  /api/v1/agents/availability      supervisor/admin: status, presence, load, capacity per agent
    GET  /api/v1/routing/queue            the waiting dialogs the caller may see: position and wait
    POST /api/v1/conversations/{id}/take  take a waiting dialog (one of two agents at once wins: 409)
    GET  /api/v1/routing/rules            the ordered rules (admin)
    PUT  /api/v1/routing/rules            replace them (admin; audited; errors name rules[i].key)
    PUT  /api/v1/teams/{id}/routing       a team's strategy, default capacity, answer timeout (admin, or
                                          a supervisor of the team; audited; the database then wins
                                          over [routing.teams.<name>])

Every change is committed, then published, then the router is woken (an agent online, a dialog taken).
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from hub.web.api.operations import operation
from hub.web.api.schemas.agents import Team as TeamOut
from hub.web.api.schemas.base import respond
from hub.web.api.schemas.conversations import Conversation as ConversationOut
from hub.web.api.schemas.routing import AgentAvailabilityList, MyAvailability, Queue, Rules
from hub.web.audit_trail import origin
from hub.web.auth import require_agent
from hub.web.context import db, hub_of, publish
from hub.web.errors import ApiError, forbidden, not_found, unprocessable
from hub.web.inputs import Body, Empty, path_id, read_body
from inbox.models import Conversation, utcnow
from inbox.routing.availability import AvailabilityError, presence_of, set_status
from inbox.routing.board import availability_board
from inbox.routing.router import RoutingError, queue_positions, take
from inbox.routing.rules import MAX_RULES, RuleError, RuleSpec, load_rules, parse_rules, store_rules
from inbox.routing.strategies import STRATEGIES
from inbox.routing.teams import MAX_CAPACITY, MAX_TIMEOUT_SECONDS, set_team_routing

routes = web.RouteTableDef()


class AvailabilityBody(Body):
    status: Literal["online", "busy", "offline"]


class TeamRoutingBody(Body):
    """The whole of a team's routing settings (null: none — the default capacity, no answer timeout)."""

    # Text, checked by the service: an unknown strategy is a 422 naming "strategy", like a bad rule.
    strategy: str = Field(
        min_length=1,
        max_length=20,
        description="round_robin, least_busy or manual",
        json_schema_extra={"enum": list(STRATEGIES)},
    )
    agent_capacity: int | None = Field(None, ge=0, le=MAX_CAPACITY)
    answer_timeout_seconds: int | None = Field(None, ge=1, le=MAX_TIMEOUT_SECONDS)


class RulesBody(Body):
    """The whole ordered list; each rule is checked by inbox.routing.rules (errors name rules[i].key)."""

    rules: list[dict[str, Any]] = Field(max_length=MAX_RULES)


def conflict(message: str) -> ApiError:
    return ApiError(409, "conflict", message)


@routes.put("/api/v1/me/availability")
@operation(
    "Set my status: new dialogs come only while it is online and a tab of mine is active",
    "routing",
    {200: ("OK", MyAvailability)},
    body=AvailabilityBody,
    errors=(422,),
)
async def set_availability(request: web.Request) -> web.Response:
    """Set my status; new dialogs come only while it is "online" and a tab of mine is open and active."""
    hub = hub_of(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        body = await read_body(request, AvailabilityBody)
        agent_id = principal.agent.id
        try:
            events = await set_status(session, agent_id, body.status, now=utcnow(), actor_id=agent_id)
        except AvailabilityError as exc:
            raise unprocessable(str(exc), exc.field) from None
        presence = (await presence_of(session, utcnow(), [agent_id])).get(agent_id, "offline")
        await session.commit()
    await publish(request, events)
    hub.router.wake()
    return respond(MyAvailability(agent_id=agent_id, status=body.status, presence=presence))


@routes.get("/api/v1/agents/availability")
@operation(
    "Status, presence, load and capacity of the agents I supervise (supervisor, admin)",
    "routing",
    {200: ("OK", AgentAvailabilityList)},
    errors=(403,),
)
async def board(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await require_agent(request, session, "supervisor", "admin")
        items = await availability_board(session, principal.viewer, utcnow())
        return respond(AgentAvailabilityList.model_validate({"items": items}))


@routes.get("/api/v1/routing/queue")
@operation(
    "The waiting conversations of my teams, with their place in line and wait",
    "routing",
    {200: ("OK", Queue)},
)
async def queue(request: web.Request) -> web.Response:
    """Waiting dialogs of the caller's teams (an admin: of every team), longest-waiting first per team."""
    async with db(request) as session:
        principal = await require_agent(request, session)
        viewer = principal.viewer
        items = await queue_positions(session, None if viewer.is_admin else set(viewer.team_ids), utcnow())
        return respond(Queue.model_validate({"items": items}))


@routes.post(r"/api/v1/conversations/{id:\d+}/take")
@operation(
    "Take a waiting conversation (of two agents at once one wins, the other gets 409)",
    "routing",
    {200: ("OK", ConversationOut)},
    body=Empty,
    body_required=False,
    errors=(403, 404, 409, 422),
)
async def take_(request: web.Request) -> web.Response:
    conversation_id = path_id(request)
    hub = hub_of(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        await read_body(request, Empty)  # nothing, or {}: anything else is a clear 400
        # Not `visible_conversation`: a dialog taken a moment ago by a teammate leaves the loser's view,
        # and they must learn it was taken (409), not that they may not see it.
        conv = await session.get(Conversation, conversation_id)
        if conv is None:
            raise not_found(f"conversation {conversation_id} not found")
        viewer = principal.viewer
        if not (viewer.is_admin or conv.team_id in viewer.team_ids or conv.assignee_id == viewer.agent_id):
            raise forbidden("only a member of the conversation's team may take it")
        try:
            events = await take(session, conversation_id, principal.agent.id, utcnow())
        except RoutingError as exc:
            if exc.conflict:
                raise conflict(str(exc)) from None
            raise unprocessable(str(exc), exc.field) from None
        await session.commit()
        payload = ConversationOut.model_validate(conv)
    await publish(request, events)
    hub.router.wake()
    return respond(payload)


def _rules(rules: list[tuple[RuleSpec, int | None]]) -> Rules:
    return Rules.model_validate({"rules": [spec.model_dump() for spec, _ in rules]})


@routes.get("/api/v1/routing/rules")
@operation("The ordered routing rules (admin)", "routing", {200: ("OK", Rules)}, errors=(403,))
async def rules(request: web.Request) -> web.Response:
    async with db(request) as session:
        await require_agent(request, session, "admin")
        return respond(_rules(await load_rules(session)))


@routes.put("/api/v1/routing/rules")
@operation(
    "Replace the ordered routing rules (admin); an error names rules[i].key",
    "routing",
    {200: ("OK", Rules)},
    body=RulesBody,
    errors=(403, 422),
)
async def replace_rules(request: web.Request) -> web.Response:
    """Replace the ordered rules; they apply to dialogs that arrive from now on."""
    async with db(request) as session:
        principal = await require_agent(request, session, "admin")
        body = await read_body(request, RulesBody)
        try:
            specs = parse_rules(body.rules)
            await store_rules(session, specs, actor_id=principal.agent.id)
        except RuleError as exc:
            raise unprocessable(str(exc), exc.field) from None
        stored = await load_rules(session)
        await session.commit()
    return respond(_rules(stored))


@routes.put(r"/api/v1/teams/{id:\d+}/routing")
@operation(
    "Change a team's routing: strategy, members' default capacity, answer timeout (admin, team supervisor)",
    "routing",
    {200: ("OK", TeamOut)},
    body=TeamRoutingBody,
    errors=(403, 404, 422),
)
async def team_routing(request: web.Request) -> web.Response:
    """Replace the team's routing settings; from then on they win over ``[routing.teams.<name>]``."""
    team_id = path_id(request)
    hub = hub_of(request)
    async with db(request) as session:
        principal = await require_agent(request, session, "supervisor", "admin")
        viewer = principal.viewer
        if not viewer.is_admin and team_id not in viewer.team_ids:
            raise forbidden("only an admin or a supervisor of this team may change its routing")
        body = await read_body(request, TeamRoutingBody)
        try:
            team = await set_team_routing(
                session,
                team_id,
                **body.model_dump(),
                actor_id=principal.agent.id,
                origin=origin(request),
            )
        except RoutingError as exc:
            if exc.field == "id":
                raise not_found(str(exc)) from None
            raise unprocessable(str(exc), exc.field) from None
        payload = TeamOut.model_validate(team)
        await session.commit()
    hub.router.wake()  # a larger capacity, or a strategy that is no longer manual, may drain the queue
    return respond(payload)
