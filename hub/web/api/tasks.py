"""/api/v1/tasks: to-dos and callbacks a caller may see (:func:`inbox.visibility.visible_tasks`): those
assigned to them, those about a card or conversation they may see, and — for a task about neither — their
teams' and the unowned ones (admins: all).

A task the caller may not see is a 404. Creating or changing a task keeps within the caller's reach: a
card they may not see gets the same 422 as a missing one (``contact_id``), a conversation of another queue
is a 403 (as on the conversation routes), and a plain agent may not hand a task to an agent or a team
outside their own teams (403).

The rules and the writes are :mod:`inbox.tasks`'; a handler reads the input, calls one service, commits
and publishes the events after the commit.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from aiohttp import web
from pydantic import Field

from hub.web.api.operations import operation
from hub.web.api.schemas.base import respond
from hub.web.api.schemas.tasks import Task as TaskOut
from hub.web.api.schemas.tasks import TaskList
from hub.web.auth import require_agent
from hub.web.context import db, publish
from hub.web.inputs import AgentRef, Body, Id, NotNull, Query, Timestamp, path_id, read_body, read_query
from inbox import tasks as task_service
from inbox.models import utcnow
from inbox.tasks import NewTask, TaskChange, TaskFilter, create_task, update_task, view_filter

routes = web.RouteTableDef()

TaskStatus = Literal["open", "done", "cancelled"]


class TaskQuery(Query):
    view: Literal["mine", "team", "overdue", "done"] | None = Field(
        None,
        description="a tab of the tasks page: mine (open, mine), team (open, held by my teams or their "
        "agents), overdue (open, past due), done; the other parameters narrow it further",
    )
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


@routes.get("/api/v1/tasks")
@operation(
    "Tasks I may see: mine, those about cards or conversations I see, my teams' (admins: all); overdue first",
    "tasks",
    {200: ("OK", TaskList)},
    query=TaskQuery,
)
async def list_tasks(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await require_agent(request, session)
        query = read_query(request, TaskQuery)
        if query.assignee == "me":
            assignee_id: int | None = principal.agent.id
        else:
            assignee_id = query.assignee if isinstance(query.assignee, int) else None
        now = utcnow()
        flt = view_filter(principal.viewer, query.view, now) if query.view else TaskFilter()
        if query.status is not None:
            flt = replace(flt, status=query.status)
        if assignee_id is not None:
            flt = replace(flt, assignee_id=assignee_id)
        if query.contact is not None:
            flt = replace(flt, contact_id=query.contact)
        rows = await task_service.list_tasks(
            session, principal.viewer, flt, limit=query.limit, offset=query.offset, now=now
        )
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
        task, events = await create_task(
            session,
            principal.viewer,
            NewTask(
                title=body.title,
                kind=body.kind,
                contact_id=body.contact_id,
                conversation_id=body.conversation_id,
                assignee_id=body.assignee_id,
                team_id=body.team_id,
                due_at=body.due_at,
            ),
        )
        answer = TaskOut.model_validate(task)
        await session.commit()
    await publish(request, events)
    return respond(answer, status=201)


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
        change = TaskChange(**{name: getattr(body, name) for name in body.model_fields_set})
        task, events = await update_task(session, principal.viewer, task_id, change)
        answer = TaskOut.model_validate(task)
        await session.commit()
    await publish(request, events)
    return respond(answer)
