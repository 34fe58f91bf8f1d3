"""/api/v1/tasks: to-dos and callbacks a caller may see (:func:`inbox.visibility.visible_tasks`): those
assigned to them, those about a card or conversation they may see, and — for a task about neither — their
teams' and the unowned ones (admins: all).

A task the caller may not see is a 404. Creating or changing a task keeps within the caller's reach: a
card they may not see gets the same 422 as a missing one (``contact_id``), a conversation of another queue
is a 403 (as on the conversation routes), and a plain agent may not hand a task to an agent or a team
outside their own teams (403).

The domain has no task service yet, so the few writes live here; they follow the domain's habits
(validate references, name the field, audit nothing silently).
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hub.web.api.operations import operation
from hub.web.api.schemas.base import respond
from hub.web.api.schemas.tasks import Task as TaskOut
from hub.web.api.schemas.tasks import TaskList
from hub.web.auth import Principal, require_agent
from hub.web.context import db
from hub.web.errors import forbidden, not_found, unprocessable
from hub.web.inputs import AgentRef, Body, Id, NotNull, Query, Timestamp, path_id, read_body, read_query
from inbox.contacts import ContactNotFound, get_visible_contact
from inbox.conversations import can_see
from inbox.models import Agent, Conversation, Task, Team, utcnow
from inbox.visibility import visible_tasks

routes = web.RouteTableDef()

TaskStatus = Literal["open", "done", "cancelled"]


class TaskQuery(Query):
    status: TaskStatus | None = None
    assignee: AgentRef | None = Field(None, description='an agent id, or "me"')
    contact: Id | None = None
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0, le=1_000_000)


class TaskCreate(Body):
    title: str = Field(min_length=1, max_length=300)
    kind: Literal["todo", "callback"] = "todo"
    contact_id: Id | None = None
    conversation_id: Id | None = None
    assignee_id: Id | None = None
    team_id: Id | None = None
    due_at: Timestamp | None = None


class TaskPatch(Body):
    title: str | None = NotNull(min_length=1, max_length=300)
    status: TaskStatus | None = NotNull()
    assignee_id: Id | None = None
    team_id: Id | None = None
    due_at: Timestamp | None = None
    result: str | None = Field(None, max_length=20_000)


async def _check_refs(session: AsyncSession, assignee_id: int | None, team_id: int | None) -> None:
    if assignee_id is not None:
        agent = await session.get(Agent, assignee_id)
        if agent is None or not agent.is_active:
            raise unprocessable(f"agent {assignee_id} not found", "assignee_id")
    if team_id is not None and await session.get(Team, team_id) is None:
        raise unprocessable(f"team {team_id} not found", "team_id")


async def _check_reach(
    session: AsyncSession, principal: Principal, assignee_id: int | None, team_id: int | None
) -> None:
    """A plain agent hands tasks only to themselves, to agents of their teams, and to their teams."""
    viewer = principal.viewer
    if viewer.role != "agent":
        return
    if team_id is not None and team_id not in viewer.team_ids:
        raise forbidden(f"team {team_id} is not one of your teams")
    if assignee_id is not None and assignee_id != viewer.agent_id:
        agent = await session.get(
            Agent, assignee_id, options=[selectinload(Agent.teams)], populate_existing=True
        )
        if agent is None or not {t.id for t in agent.teams} & viewer.team_ids:
            raise forbidden(f"agent {assignee_id} is not in your teams")


@routes.get("/api/v1/tasks")
@operation(
    "Tasks I may see: mine, those about cards or conversations I see, my teams' (admins: all)",
    "tasks",
    {200: ("OK", TaskList)},
    query=TaskQuery,
)
async def list_tasks(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await require_agent(request, session)
        query = read_query(request, TaskQuery)
        stmt = select(Task).where(visible_tasks(principal.viewer))
        if query.status:
            stmt = stmt.where(Task.status == query.status)
        if query.assignee == "me":
            stmt = stmt.where(Task.assignee_id == principal.agent.id)
        elif query.assignee is not None:
            stmt = stmt.where(Task.assignee_id == query.assignee)
        if query.contact is not None:
            stmt = stmt.where(Task.contact_id == query.contact)
        stmt = (
            stmt.order_by(Task.due_at.is_(None), Task.due_at, Task.id.desc())
            .limit(query.limit)
            .offset(query.offset)
        )
        rows = await session.scalars(stmt)
        return respond(TaskList.model_validate({"items": rows, "limit": query.limit, "offset": query.offset}))


@routes.post("/api/v1/tasks")
@operation(
    "Create a task (mine, unless an assignee or team is given)",
    "tasks",
    {201: ("created", TaskOut)},
    body=TaskCreate,
    errors=(403, 422),
)
async def create(request: web.Request) -> web.Response:
    """A task; with neither assignee nor team it goes to the caller."""
    async with db(request) as session:
        principal = await require_agent(request, session)
        body = await read_body(request, TaskCreate)
        assignee_id, team_id = body.assignee_id, body.team_id
        if assignee_id is None and team_id is None:
            assignee_id = principal.agent.id
        await _check_refs(session, assignee_id, team_id)
        await _check_reach(session, principal, assignee_id, team_id)
        contact_id = body.contact_id
        if contact_id is not None:
            try:
                contact_id = (await get_visible_contact(session, principal.viewer, contact_id)).id
            except ContactNotFound:
                raise unprocessable(f"contact {contact_id} not found", "contact_id") from None
        if body.conversation_id is not None:
            conv = await session.get(Conversation, body.conversation_id)
            if conv is None:
                raise unprocessable(f"conversation {body.conversation_id} not found", "conversation_id")
            if not can_see(principal.viewer, conv.team_id, conv.assignee_id):
                raise forbidden(f"conversation {conv.id} belongs to a queue you cannot see")
            contact_id = contact_id or conv.contact_id
        if not body.title.strip():
            raise unprocessable("title must not be blank", "title")
        task = Task(
            title=body.title.strip(),
            kind=body.kind,
            contact_id=contact_id,
            conversation_id=body.conversation_id,
            assignee_id=assignee_id,
            team_id=team_id,
            due_at=body.due_at,
            status="open",
            created_at=utcnow(),
        )
        session.add(task)
        await session.commit()
        return respond(TaskOut.model_validate(task), status=201)


@routes.patch(r"/api/v1/tasks/{id:\d+}")
@operation(
    "Change a task; done or cancelled closes it",
    "tasks",
    {200: ("OK", TaskOut)},
    body=TaskPatch,
    errors=(403, 404, 422),
)
async def patch(request: web.Request) -> web.Response:
    """Change a task; done or cancelled closes it (closed_at), open again reopens it."""
    task_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        body = await read_body(request, TaskPatch)
        given = body.model_fields_set
        task = await session.scalar(select(Task).where(Task.id == task_id, visible_tasks(principal.viewer)))
        if task is None:
            raise not_found(f"task {task_id} not found")
        for name in ("title", "status"):
            if name in given and getattr(body, name) is None:
                raise unprocessable(f"{name} cannot be null", name)
        await _check_refs(session, body.assignee_id, body.team_id)
        await _check_reach(session, principal, body.assignee_id, body.team_id)
        if body.title is not None:
            if not body.title.strip():
                raise unprocessable("title must not be blank", "title")
            task.title = body.title.strip()
        if body.status is not None and body.status != task.status:
            task.status = body.status
            task.closed_at = None if body.status == "open" else utcnow()
        for name in ("assignee_id", "team_id", "due_at", "result"):
            if name in given:
                setattr(task, name, getattr(body, name))
        await session.commit()
        return respond(TaskOut.model_validate(task))
