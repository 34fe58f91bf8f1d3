"""Tasks: to-dos and callbacks — listing within the viewer's reach, creating, assigning, due times, closing.

Visibility follows :func:`inbox.visibility.visible_tasks`: a task the viewer may not see is
:class:`TaskNotFound`, as if it did not exist. Creating or changing a task keeps within the viewer's reach:
a card they may not see is refused like a missing one (``contact_id``), a conversation of another queue
is :class:`~inbox.conversations.NotAllowed`, and a plain agent may not hand a task to an agent or a team
outside their own teams.

Every change writes an audit row and returns ``task.created`` / ``task.updated`` events (to the old
audience as well when the task changes hands); the caller commits, then publishes them.
Callback tasks of missed calls are made by :mod:`inbox.calls` and announced with :func:`task_event`;
a lead's follow-up task by :func:`open_lead_follow_up`, when the lead's card gets its owner.

The tasks page's tabs are :data:`VIEWS` (:func:`view_filter`, counted by :func:`view_counts`): mine (open,
assigned to me), my team's (open, held by one of my teams or an agent of them), overdue (open, past due)
and done; each within what the viewer may see. :func:`task_details` adds what a list shows beside a task
(the client's name and phone, the conversation to open, the assignee's name).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from inbox.audit import record
from inbox.bus import Event
from inbox.contacts import ContactNotFound, get_visible_contact
from inbox.conversations import NotAllowed, Viewer, can_see
from inbox.conversations import visible as visible_conversations
from inbox.models import Agent, Call, Contact, Conversation, Identity, Task, Team, agent_teams, utcnow
from inbox.names import agent_names, contact_names, team_names
from inbox.visibility import visible_tasks

TaskKind = Literal["todo", "callback", "follow_up"]
TaskStatus = Literal["open", "done", "cancelled"]
TaskView = Literal["mine", "team", "overdue", "done"]
VIEWS: Final[tuple[TaskView, ...]] = ("mine", "team", "overdue", "done")
KINDS: Final = ("todo", "callback")  # the kinds a person creates; follow-ups are made by the hub
FOLLOW_UP: Final = "follow_up"
STATUSES: Final = ("open", "done", "cancelled")
MAX_TITLE: Final = 300
MAX_RESULT: Final = 20_000


class TaskError(ValueError):
    """A task request that cannot be carried out; `field` names the culprit."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TaskNotFound(LookupError):
    """No such task, or one the viewer may not see (the two are answered alike)."""


class Keep(Enum):
    """The marker of a field a change leaves as it is (None would mean "clear it")."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """Which tasks to list (within what the viewer may see); every field given narrows the list.

    `team_ids`: tasks held by one of these teams — given to the team, or to an agent of it;
    `due_before`: tasks due before that time (with status open: the overdue ones).
    """

    status: str | None = None
    assignee_id: int | None = None
    contact_id: int | None = None
    team_ids: frozenset[int] | None = None
    due_before: datetime | None = None


def view_filter(viewer: Viewer, view: TaskView, now: datetime) -> TaskFilter:
    """The filter of one tab of the tasks page: mine, my team's, overdue (at `now`) or done."""
    if view == "mine":
        return TaskFilter(status="open", assignee_id=viewer.agent_id)
    if view == "team":
        return TaskFilter(status="open", team_ids=viewer.team_ids)
    if view == "overdue":
        return TaskFilter(status="open", due_before=now)
    if view == "done":
        return TaskFilter(status="done")
    raise TaskError(f"view must be one of {', '.join(VIEWS)}", "view")


@dataclass(frozen=True, slots=True)
class TaskDetail:
    """What a list shows beside a task: names, the client's phone, the conversation to open."""

    contact_name: str | None
    phone: str | None
    conversation_id: int | None
    assignee_name: str | None
    team_name: str | None


@dataclass(frozen=True, slots=True)
class NewTask:
    """A task to create; with neither assignee nor team it goes to whoever creates it."""

    title: str
    kind: str = "todo"
    contact_id: int | None = None
    conversation_id: int | None = None
    assignee_id: int | None = None
    team_id: int | None = None
    due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TaskChange:
    """What to change on a task: a field left at KEEP keeps its value, None clears it.

    Setting `status` to done or cancelled closes the task (closed_at), open reopens it.
    """

    title: str | Keep | None = KEEP
    status: str | Keep | None = KEEP
    assignee_id: int | Keep | None = KEEP
    team_id: int | Keep | None = KEEP
    due_at: datetime | Keep | None = KEEP
    result: str | Keep | None = KEEP

    def given(self) -> dict[str, Any]:
        """The fields this change sets, by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not KEEP}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def task_event(
    task: Task,
    event_type: str | None = None,
    *,
    assignee_id: int | Keep | None = KEEP,
    team_id: int | Keep | None = KEEP,
) -> Event:
    """The event that announces a task (by default ``task.created`` while open, else ``task.updated``);
    `assignee_id` / `team_id` address it to another audience (the one that had the task before it changed
    hands)."""
    data = {
        "task_id": task.id,
        "kind": task.kind,
        "status": task.status,
        "title": task.title,
        "contact_id": task.contact_id,
        "call_id": task.call_id,
        "due_at": _iso(task.due_at),
        "result": task.result,
    }
    name = event_type or ("task.created" if task.status == "open" else "task.updated")
    return Event(
        name,
        team_id=task.team_id if team_id is KEEP else team_id,
        assignee_id=task.assignee_id if assignee_id is KEEP else assignee_id,
        data=data,
    )


def _conditions(flt: TaskFilter) -> list[ColumnElement[bool]]:
    if flt.status is not None and flt.status not in STATUSES:
        raise TaskError(f"status must be one of {', '.join(STATUSES)}", "status")
    where: list[ColumnElement[bool]] = []
    if flt.status:
        where.append(Task.status == flt.status)
    if flt.assignee_id is not None:
        where.append(Task.assignee_id == flt.assignee_id)
    if flt.contact_id is not None:
        where.append(Task.contact_id == flt.contact_id)
    if flt.team_ids is not None:
        where.append(_held_by(flt.team_ids))
    if flt.due_before is not None:
        where.append(Task.due_at < flt.due_before)
    return where


def _held_by(team_ids: frozenset[int]) -> ColumnElement[bool]:
    """Tasks given to one of these teams or to an agent of one of them."""
    if not team_ids:
        return Task.id.is_(None)  # no team: nothing (ids are never NULL)
    members = select(agent_teams.c.agent_id).where(agent_teams.c.team_id.in_(team_ids))
    return or_(Task.team_id.in_(team_ids), Task.assignee_id.in_(members))


def _overdue(now: datetime) -> ColumnElement[bool]:
    return and_(Task.status == "open", Task.due_at < now)


async def list_tasks(
    session: AsyncSession,
    viewer: Viewer,
    flt: TaskFilter = TaskFilter(),
    *,
    limit: int = 100,
    offset: int = 0,
    now: datetime | None = None,
) -> list[Task]:
    """The tasks `viewer` may see: the overdue ones first (open and past due at `now`), then the other open
    ones, then the closed ones; each soonest due first (those without a due time last), then newest.
    Done or cancelled ones alone (`flt.status`): last closed first."""
    stmt = select(Task).where(visible_tasks(viewer), *_conditions(flt))
    if flt.status in ("done", "cancelled"):
        stmt = stmt.order_by(Task.closed_at.is_(None), Task.closed_at.desc(), Task.id.desc())
    else:
        late = case((_overdue(now or utcnow()), 0), (Task.status == "open", 1), else_=2)
        stmt = stmt.order_by(late, Task.due_at.is_(None), Task.due_at, Task.id.desc())
    return list(await session.scalars(stmt.limit(limit).offset(offset)))


async def view_counts(session: AsyncSession, viewer: Viewer, now: datetime) -> dict[TaskView, int]:
    """How many tasks each tab of the tasks page holds, in one query."""
    columns = []
    for view in VIEWS:
        where = _conditions(view_filter(viewer, view, now))
        columns.append(func.count(case((and_(*where), 1))))
    row = (await session.execute(select(*columns).where(visible_tasks(viewer)))).one()
    return {view: int(row[i] or 0) for i, view in enumerate(VIEWS)}


async def my_open_tasks(session: AsyncSession, viewer: Viewer) -> int:
    """The count of the tasks page's "mine" tab (:func:`view_counts`), alone: the inbox's header shows it.
    A task assigned to the viewer is always visible to them, so this asks no visibility condition."""
    return int(await session.scalar(_my_open_tasks_statement(viewer)) or 0)


@functools.lru_cache(maxsize=1024)
def _my_open_tasks_statement(viewer: Viewer) -> Any:
    """:func:`my_open_tasks`' statement, built once per viewer and kept (the "mine" tab's filter asks no
    time: `now` is not in it)."""
    mine = _conditions(view_filter(viewer, "mine", utcnow()))
    return select(func.count()).select_from(Task).where(*mine)


async def assignable_agents(session: AsyncSession, viewer: Viewer) -> list[Agent]:
    """The active agents the viewer may hand a task to, by name: a plain agent themselves and the agents
    of their teams (as :func:`update_task` allows), a supervisor or admin anyone."""
    stmt = select(Agent).where(Agent.is_active.is_(True))
    if viewer.role == "agent":
        mates = select(agent_teams.c.agent_id).where(agent_teams.c.team_id.in_(viewer.team_ids))
        stmt = stmt.where(or_(Agent.id == viewer.agent_id, Agent.id.in_(mates)))
    return list(await session.scalars(stmt.order_by(Agent.name, Agent.id)))


async def task_details(session: AsyncSession, viewer: Viewer, tasks: list[Task]) -> dict[int, TaskDetail]:
    """By task id: its client's name and phone (a callback's: the number that called), the conversation
    to open (its own if the viewer may see it, else the client's latest one they may see), and the names
    of its assignee and team."""
    contact_ids = {t.contact_id for t in tasks if t.contact_id is not None}
    names = await contact_names(session, contact_ids)
    agents = await agent_names(session, (t.assignee_id for t in tasks))
    teams = await team_names(session, (t.team_id for t in tasks))
    phones: dict[int, str] = {}
    if contact_ids:
        rows = await session.execute(
            select(Identity.contact_id, Identity.value)
            .where(Identity.contact_id.in_(contact_ids), Identity.kind == "phone")
            .order_by(Identity.id)
        )
        for contact_id, value in rows:
            phones.setdefault(contact_id, value)
    call_ids = {t.call_id for t in tasks if t.call_id is not None}
    callers: dict[int, str] = {}
    if call_ids:
        numbers = await session.execute(select(Call.id, Call.from_number).where(Call.id.in_(call_ids)))
        callers = {call_id: number for call_id, number in numbers if number}
    conv_ids = {t.conversation_id for t in tasks if t.conversation_id is not None}
    seen: set[int] = set()
    if conv_ids:
        seen = set(
            await session.scalars(
                select(Conversation.id).where(Conversation.id.in_(conv_ids), visible_conversations(viewer))
            )
        )
    latest: dict[int, int] = {}
    if contact_ids:
        newest = await session.execute(
            select(Conversation.contact_id, func.max(Conversation.id))
            .where(Conversation.contact_id.in_(contact_ids), visible_conversations(viewer))
            .group_by(Conversation.contact_id)
        )
        latest = {contact_id: conv_id for contact_id, conv_id in newest}
    details = {}
    for task in tasks:
        conversation = task.conversation_id if task.conversation_id in seen else None
        if conversation is None and task.contact_id is not None:
            conversation = latest.get(task.contact_id)
        phone = callers.get(task.call_id) if task.call_id is not None else None
        details[task.id] = TaskDetail(
            contact_name=names.get(task.contact_id) if task.contact_id is not None else None,
            phone=phone or (phones.get(task.contact_id) if task.contact_id is not None else None),
            conversation_id=conversation,
            assignee_name=agents.get(task.assignee_id) if task.assignee_id is not None else None,
            team_name=teams.get(task.team_id) if task.team_id is not None else None,
        )
    return details


async def get_visible_task(session: AsyncSession, viewer: Viewer, task_id: int) -> Task:
    task = await session.scalar(select(Task).where(Task.id == task_id, visible_tasks(viewer)))
    if task is None:
        raise TaskNotFound(f"task {task_id} not found")
    return task


async def _check_refs(session: AsyncSession, assignee_id: int | None, team_id: int | None) -> None:
    if assignee_id is not None:
        agent = await session.get(Agent, assignee_id)
        if agent is None or not agent.is_active:
            raise TaskError(f"agent {assignee_id} not found", "assignee_id")
    if team_id is not None and await session.get(Team, team_id) is None:
        raise TaskError(f"team {team_id} not found", "team_id")


async def _check_reach(
    session: AsyncSession, viewer: Viewer, assignee_id: int | None, team_id: int | None
) -> None:
    """A plain agent hands tasks only to themselves, to agents of their teams, and to their teams."""
    if viewer.role != "agent":
        return
    if team_id is not None and team_id not in viewer.team_ids:
        raise NotAllowed(f"team {team_id} is not one of your teams")
    if assignee_id is not None and assignee_id != viewer.agent_id:
        agent = await session.get(
            Agent, assignee_id, options=[selectinload(Agent.teams)], populate_existing=True
        )
        if agent is None or not {t.id for t in agent.teams} & viewer.team_ids:
            raise NotAllowed(f"agent {assignee_id} is not in your teams")


def _title(value: str | None) -> str:
    if value is None:
        raise TaskError("title cannot be null", "title")
    title = value.strip()
    if not title:
        raise TaskError("title must not be blank", "title")
    if len(title) > MAX_TITLE:
        raise TaskError(f"title is longer than {MAX_TITLE} characters", "title")
    return title


def _result(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_RESULT:
        raise TaskError(f"result is longer than {MAX_RESULT} characters", "result")
    return value


async def create_task(session: AsyncSession, viewer: Viewer, new: NewTask) -> tuple[Task, list[Event]]:
    """Stage a new open task in `session` (with its audit row); the caller commits, then publishes."""
    if new.kind not in KINDS:
        raise TaskError(f"kind must be one of {', '.join(KINDS)}", "kind")
    assignee_id, team_id = new.assignee_id, new.team_id
    if assignee_id is None and team_id is None:
        assignee_id = viewer.agent_id
    await _check_refs(session, assignee_id, team_id)
    await _check_reach(session, viewer, assignee_id, team_id)
    contact_id = new.contact_id
    if contact_id is not None:
        try:
            contact_id = (await get_visible_contact(session, viewer, contact_id)).id
        except ContactNotFound:
            raise TaskError(f"contact {contact_id} not found", "contact_id") from None
    if new.conversation_id is not None:
        conv = await session.get(Conversation, new.conversation_id)
        if conv is None:
            raise TaskError(f"conversation {new.conversation_id} not found", "conversation_id")
        if not can_see(viewer, conv.team_id, conv.assignee_id):
            raise NotAllowed(f"conversation {conv.id} belongs to a queue you cannot see")
        contact_id = contact_id or conv.contact_id
    task = Task(
        title=_title(new.title),
        kind=new.kind,
        contact_id=contact_id,
        conversation_id=new.conversation_id,
        assignee_id=assignee_id,
        team_id=team_id,
        due_at=new.due_at,
        status="open",
        created_at=utcnow(),
    )
    session.add(task)
    await session.flush()
    record(
        session,
        "task.create",
        entity="task",
        entity_id=task.id,
        actor_agent_id=viewer.agent_id,
        detail={"kind": task.kind, "assignee_id": assignee_id, "team_id": team_id, "contact_id": contact_id},
    )
    return task, [task_event(task, "task.created")]


async def update_task(
    session: AsyncSession, viewer: Viewer, task_id: int, change: TaskChange
) -> tuple[Task, list[Event]]:
    """Apply `change` to a task the viewer may see; stage it with its audit row (the caller commits)."""
    task = await get_visible_task(session, viewer, task_id)
    given = change.given()
    assignee = given.get("assignee_id")
    team = given.get("team_id")
    await _check_refs(session, assignee, team)
    await _check_reach(session, viewer, assignee, team)
    before = {"assignee_id": task.assignee_id, "team_id": task.team_id}
    changed: dict[str, Any] = {}
    if "title" in given:
        changed["title"] = task.title = _title(given["title"])
    if "status" in given:
        status = given["status"]
        if status is None:
            raise TaskError("status cannot be null", "status")
        if status not in STATUSES:
            raise TaskError(f"status must be one of {', '.join(STATUSES)}", "status")
        if status != task.status:
            changed["status"] = task.status = status
            task.closed_at = None if status == "open" else utcnow()
    if "result" in given:
        task.result = _result(given["result"])
        # A result may run to pages: the audit row keeps its start, the task the whole of it.
        changed["result"] = task.result[:200] if task.result else None
    for name in ("assignee_id", "team_id", "due_at"):
        if name in given:
            setattr(task, name, given[name])
            changed[name] = _iso(given[name]) if name == "due_at" else given[name]
    await session.flush()
    record(
        session,
        "task.update",
        entity="task",
        entity_id=task.id,
        actor_agent_id=viewer.agent_id,
        detail={**changed, "before": before},
    )
    events = [task_event(task, "task.updated")]
    if (before["team_id"], before["assignee_id"]) != (task.team_id, task.assignee_id):
        # Those who had it before must learn that it left them.
        events.append(
            task_event(task, "task.updated", assignee_id=before["assignee_id"], team_id=before["team_id"])
        )
    return task, events


async def assign_task(
    session: AsyncSession, viewer: Viewer, task_id: int, *, assignee_id: int | None, team_id: int | None
) -> tuple[Task, list[Event]]:
    """Hand a task to an agent and/or a team (None clears)."""
    return await update_task(session, viewer, task_id, TaskChange(assignee_id=assignee_id, team_id=team_id))


async def set_due(
    session: AsyncSession, viewer: Viewer, task_id: int, due_at: datetime | None
) -> tuple[Task, list[Event]]:
    """Set (or clear) when a task is due."""
    return await update_task(session, viewer, task_id, TaskChange(due_at=due_at))


async def close_task(
    session: AsyncSession,
    viewer: Viewer,
    task_id: int,
    *,
    result: str | None = None,
    status: TaskStatus = "done",
) -> tuple[Task, list[Event]]:
    """Mark a task done (or cancelled) with what came of it."""
    return await update_task(session, viewer, task_id, TaskChange(status=status, result=result))


async def open_lead_follow_up(
    session: AsyncSession,
    contact: Contact,
    conversation_id: int | None,
    owner_id: int,
    now: datetime,
    *,
    due_after: timedelta,
    gettext: Callable[[str], str],
) -> list[Event]:
    """A lead's card just got its owner: a follow-up task for them, due `due_after` from `now`, titled
    in the hub's language (`gettext`). Once per card: a card that ever had one gets no other (its owner
    cleared and set again, or a second first reply racing this one). The caller commits."""
    existing = await session.scalar(
        select(Task.id).where(Task.kind == FOLLOW_UP, Task.contact_id == contact.id).limit(1)
    )
    if existing is not None:
        return []
    _ = gettext
    if contact.name:
        title = _("Follow up with the new client: %(name)s") % {"name": contact.name}
    else:
        title = _("Follow up with the new client")
    task = Task(
        kind=FOLLOW_UP,
        title=title[:MAX_TITLE],
        contact_id=contact.id,
        conversation_id=conversation_id,
        assignee_id=owner_id,
        status="open",
        due_at=now + due_after,
        created_at=now,
    )
    session.add(task)
    await session.flush()
    return [task_event(task)]
