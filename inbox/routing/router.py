"""The routing decision: a team's waiting dialogs, longest-waiting first, to the agents who may take them.

A dialog *waits* while it is open, unassigned and belongs to a team (once the routing rules, which may
change its team, have looked at it). :func:`route_team` takes up to
`limit` of one team's waiting dialogs in one transaction: it locks the rows of the team's members and
of the cards' owners (sticky owner), counts their load, then hands each dialog to the card's owner if they
are routable and have room, else to the agent the team's strategy picks; a dialog nobody can take stays
in the queue with the time it entered it (``queued_at``: its place in line). The order of the queue is
the dialog's priority, highest first (a rule may set it: VIPs), then ``coalesce(queued_at, created_at)``,
so within a priority a new dialog lines up behind the ones already waiting.

Concurrency (two hub processes, or a router pass and an agent's "take"): on PostgreSQL the agents' rows
are locked FOR UPDATE in id order (a capacity is checked and used under its agent's lock) and the
dialogs' rows FOR UPDATE SKIP LOCKED (a dialog another process is routing is left to it); on SQLite every
transaction starts with BEGIN IMMEDIATE (hub.db), i.e. holds the write lock from its first statement,
so two deciders never interleave. The load is counted after the locks are taken, so it includes every
assignment committed before.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Final, Protocol, cast

from sqlalchemy import Table, and_, bindparam, case, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from inbox import audit
from inbox.bus import Event
from inbox.conversations import assign
from inbox.models import Agent, AuditLog, Contact, Conversation, Message, ReportingEvent, Team, agent_teams
from inbox.presence import PRESENCE_TTL
from inbox.routing.availability import presence_of, routable
from inbox.routing.capacity import AgentLoad, loads
from inbox.routing.strategies import choose, sticky

BATCH: Final = 200
# The tables under the models, for multi-row UPDATEs by id (executemany) without loading ORM objects.
CONVERSATIONS = cast(Table, Conversation.__table__)
AGENTS = cast(Table, Agent.__table__)


class RoutingError(ValueError):
    """A routing request that cannot be done; `conflict` when someone else was first (HTTP 409)."""

    def __init__(self, message: str, field: str | None = None, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.conflict = conflict


def _postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def waiting(of: Any = Conversation) -> Any:
    """Open, unassigned, in a team, and past the rules (inbox.routing.rules); `of`: conversations or an
    alias of them. (The partial index ix_conversations_line, 0019, covers exactly these.)"""
    return (
        of.rules_applied_at.is_not(None),
        of.assignee_id.is_(None),
        of.status == "open",
        of.team_id.is_not(None),
    )


class Queued(Protocol):
    """What :func:`is_waiting` reads of a conversation (a row of it will do), and its id."""

    @property
    def id(self) -> int: ...
    @property
    def rules_applied_at(self) -> datetime | None: ...
    @property
    def assignee_id(self) -> int | None: ...
    @property
    def status(self) -> str: ...
    @property
    def team_id(self) -> int | None: ...


def is_waiting(conv: Queued) -> bool:
    """The rule of :func:`waiting`, for a conversation already read."""
    return (
        conv.rules_applied_at is not None
        and conv.assignee_id is None
        and conv.status == "open"
        and conv.team_id is not None
    )


def queue_order(of: Any = Conversation) -> tuple[Any, ...]:
    """Higher priority first, then longest-waiting first (the order of ix_conversations_line, 0019)."""
    return (of.priority.desc(), queue_key(of), of.id)


def queue_key(of: Any = Conversation) -> Any:
    """Since when a dialog is in its line, within its priority: :func:`queue_order`'s second key."""
    return func.coalesce(of.queued_at, of.created_at)


async def waiting_teams(session: AsyncSession) -> list[int]:
    """The teams with at least one waiting dialog."""
    rows = await session.scalars(select(Conversation.team_id).where(*waiting()).distinct())
    return sorted(t for t in rows if t is not None)


async def members(session: AsyncSession, team_id: int) -> list[int]:
    rows = await session.scalars(select(agent_teams.c.agent_id).where(agent_teams.c.team_id == team_id))
    return sorted(rows)


async def lock_agents(session: AsyncSession, agent_ids: set[int]) -> list[Agent]:
    """The agents' rows, fresh and locked (PostgreSQL: FOR UPDATE, in id order against deadlocks)."""
    if not agent_ids:
        return []
    stmt = select(Agent).where(Agent.id.in_(sorted(agent_ids))).order_by(Agent.id)
    if _postgres(session):
        stmt = stmt.with_for_update()
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


async def give(
    session: AsyncSession,
    conv: Conversation,
    load: AgentLoad,
    team: Team | None,
    now: datetime,
    *,
    reason: str,
    actor_id: int | None = None,
    stamp: datetime | None = None,
) -> list[Event]:
    """Assign `conv` to the agent of `load` (whose row the caller locked); the caller commits. `stamp`
    is the agent's new last-assigned time (see :class:`Stamps`), `now` by default."""
    events = await assign(session, conv, assignee_id=load.agent_id, team_id=conv.team_id, actor_id=actor_id)
    conv.assigned_at = now
    conv.queued_at = None
    timeout = team.answer_timeout_seconds if team is not None else None
    conv.reroute_due = now + timedelta(seconds=timeout) if timeout else None
    agent = await session.get_one(Agent, load.agent_id)
    agent.last_assigned_at = stamp or now
    load.took(conv.channel_kind, stamp or now)
    return [
        Event(e.type, e.conversation_id, e.team_id, e.assignee_id, {**e.data, "reason": reason})
        for e in events
    ]


class Stamps:
    """Strictly increasing last-assigned times within one decision: a pass gives many dialogs at one
    `now`, and equal times would let ties (broken by id) send every dialog to the same agent."""

    def __init__(self, now: datetime, loads: Iterable[AgentLoad]) -> None:
        self._now = now
        self._latest = max((x.last_assigned_at for x in loads if x.last_assigned_at), default=None)

    def next(self) -> datetime:
        latest = self._latest
        stamp = self._now if latest is None or self._now > latest else latest + timedelta(microseconds=1)
        self._latest = stamp
        return stamp


async def route_team(
    session: AsyncSession, team_id: int, now: datetime, *, limit: int = BATCH, ttl: timedelta = PRESENCE_TTL
) -> list[Event]:
    """Hand out up to `limit` of the team's waiting dialogs, oldest first; the caller commits."""
    team = await session.get(Team, team_id, populate_existing=True)
    if team is None:
        return []
    candidates = (
        await session.execute(
            select(Conversation.id, Contact.owner_id)
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(*waiting(), Conversation.team_id == team_id)
            .order_by(*queue_order())
            .limit(limit)
        )
    ).all()
    if not candidates:
        return []
    owner_of = {conv_id: owner for conv_id, owner in candidates}
    member_ids = await members(session, team_id)
    agents = await lock_agents(session, set(member_ids) | {o for o in owner_of.values() if o is not None})
    presence = await presence_of(session, now, (a.id for a in agents), ttl=ttl)
    load = await loads(session, [a for a in agents if routable(a, presence)], team)
    team_loads = [load[i] for i in member_ids if i in load]
    stamps = Stamps(now, load.values())
    # Columns, not ORM objects, and the writes below as a few multi-row statements: this transaction
    # holds the SQLite write lock that the ingest waits for, so it must be short (see bench/routing.py).
    stmt = (
        select(Conversation.id, Conversation.channel_kind, Conversation.queued_at, Conversation.waiting_since)
        .where(Conversation.id.in_(sorted(owner_of)), *waiting(), Conversation.team_id == team_id)
        .order_by(*queue_order())
    )
    if _postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    given: list[dict[str, Any]] = []
    queued: dict[int, datetime] = {}  # id → when it entered the line
    events: list[Event] = []
    timeout = team.answer_timeout_seconds
    due = now + timedelta(seconds=timeout) if timeout else None
    for conv_id, channel_kind, queued_at, waiting_since in (await session.execute(stmt)).all():
        owner_id = owner_of.get(conv_id)
        owner = load.get(owner_id) if owner_id is not None else None
        chosen: AgentLoad | None = owner
        reason = "sticky_owner"
        if not sticky(owner, channel_kind):
            chosen, reason = choose(team.strategy, team_loads, channel_kind), team.strategy
        if chosen is None:
            if queued_at is None:
                # In line since its client began to wait (a dialog that came in while the router was
                # away, or from an import, waited before this pass saw it), never later than now.
                entered = min(waiting_since, now) if waiting_since is not None else now
                queued[conv_id] = entered
                events.append(
                    Event("conversation.queued", conv_id, team_id, None, {"queued_at": entered.isoformat()})
                )
            continue
        chosen.took(channel_kind, stamps.next())
        given.append({"b_id": conv_id, "b_assignee": chosen.agent_id})
        data = {"assignee_id": chosen.agent_id, "team_id": team_id, "status": "open", "reason": reason}
        events.append(Event("conversation.assigned", conv_id, team_id, chosen.agent_id, data))
        events.append(Event("conversation.assigned", conv_id, team_id, None, data))  # leaves the queue
    await _write_assignments(session, given, load, team_id, now, due)
    if queued:
        c = CONVERSATIONS.c
        since = case(
            (and_(c.waiting_since.is_not(None), c.waiting_since < now), c.waiting_since),
            else_=literal(now, c.queued_at.type),
        )
        await session.execute(update(CONVERSATIONS).where(c.id.in_(sorted(queued))).values(queued_at=since))
        for conv_id, entered in queued.items():
            keep_in_step(session, Conversation, conv_id, queued_at=entered)
    return events


async def _write_assignments(
    session: AsyncSession,
    given: list[dict[str, Any]],
    load: dict[int, AgentLoad],
    team_id: int,
    now: datetime,
    due: datetime | None,
) -> None:
    """The assignments of one decision as three multi-row statements: dialogs, agents, audit rows."""
    if not given:
        return
    await session.execute(
        update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == bindparam("b_id"))
        .values(
            assignee_id=bindparam("b_assignee"),
            assigned_at=now,
            queued_at=None,
            reroute_due=due,
            updated_at=now,
        ),
        given,
    )
    takers = {g["b_assignee"] for g in given}
    await session.execute(
        update(AGENTS).where(AGENTS.c.id == bindparam("b_id")).values(last_assigned_at=bindparam("b_at")),
        [{"b_id": a, "b_at": load[a].last_assigned_at} for a in sorted(takers)],
    )
    await session.execute(
        insert(AuditLog),
        [
            {
                "actor_agent_id": None,
                "action": "conversation.assign",
                "entity": "conversation",
                "entity_id": g["b_id"],
                "detail": {
                    "assignee_id": g["b_assignee"],
                    "team_id": team_id,
                    "before": {"conversation_id": g["b_id"], "team_id": team_id, "assignee_id": None},
                    "reason": "routed",
                },
                "created_at": now,
            }
            for g in given
        ],
    )
    for agent_id in takers:
        keep_in_step(session, Agent, agent_id, last_assigned_at=load[agent_id].last_assigned_at)
    for g in given:
        keep_in_step(
            session,
            Conversation,
            g["b_id"],
            assignee_id=g["b_assignee"],
            assigned_at=now,
            queued_at=None,
            reroute_due=due,
            updated_at=now,
        )


def keep_in_step(session: AsyncSession, model: type[Any], row_id: int, **values: Any) -> None:
    """A row changed by a multi-row statement: an object of it that the session holds gets the new values
    as its committed state (expiring it instead would make the next attribute read do I/O outside the
    async context)."""
    cached = session.identity_map.get(session.identity_key(model, row_id))
    if cached is not None:
        for key, value in values.items():
            set_committed_value(cached, key, value)


async def take(session: AsyncSession, conversation_id: int, agent_id: int, now: datetime) -> list[Event]:
    """An agent takes a waiting dialog from their queue (manual strategy, or any queue): of two agents
    taking one dialog at once exactly one wins, the other gets a conflict. Respects the agent's capacity."""
    # The dialog's row first, then the agent's: the order the re-routing job takes them in, so the two
    # never wait for each other (the router never waits for a dialog's row: SKIP LOCKED).
    stmt = select(Conversation).where(Conversation.id == conversation_id)
    if _postgres(session):
        stmt = stmt.with_for_update()  # wait for a concurrent taker, then see what they did
    conv = await session.scalar(stmt.execution_options(populate_existing=True))
    if conv is None:
        raise RoutingError(f"conversation {conversation_id} not found", "conversation_id")
    if conv.assignee_id is not None:
        raise RoutingError("someone else has taken this conversation", conflict=True)
    if conv.status in ("resolved", "snoozed"):
        raise RoutingError(f"a {conv.status} conversation is not waiting in a queue", "status", conflict=True)
    agents = await lock_agents(session, {agent_id})
    if not agents or not agents[0].is_active:
        raise RoutingError(f"agent {agent_id} not found", "agent_id")
    team = await session.get(Team, conv.team_id) if conv.team_id is not None else None
    load = (await loads(session, agents, team))[agent_id]
    if not load.has_room(conv.channel_kind):
        raise RoutingError(f"you hold {load.open_total} open conversations, your capacity is {load.capacity}")
    events = await give(session, conv, load, team, now, reason="taken", actor_id=agent_id)
    await session.flush()
    return events


async def hand_over(
    session: AsyncSession,
    conv: Conversation,
    load: AgentLoad,
    team: Team | None,
    now: datetime,
    *,
    reason: str,
    stamp: datetime | None = None,
) -> list[Event]:
    """Move an assigned dialog to another agent, recorded on the timeline (a service note) and as a
    ``handover`` reporting event: who had it, who has it now, when and why. The caller commits."""
    previous = conv.assignee_id
    held = (now - conv.assigned_at).total_seconds() if conv.assigned_at is not None else None
    events = await give(session, conv, load, team, now, reason=reason, stamp=stamp)
    detail = {"from_agent_id": previous, "to_agent_id": load.agent_id, "reason": reason}
    session.add(
        Message(
            conversation_id=conv.id,
            account_id=conv.account_id,
            direction="note",
            kind="handover",
            body_text=f"handover: {reason}",
            created_at=now,
            meta=dict(detail),
        )
    )
    session.add(
        ReportingEvent(
            name="handover",
            occurred_at=now,
            value_seconds=held,
            conversation_id=conv.id,
            contact_id=conv.contact_id,
            agent_id=load.agent_id,
            team_id=conv.team_id,
            account_id=conv.account_id,
            channel_kind=conv.channel_kind,
            detail=detail,
        )
    )
    audit.record(session, "conversation.handover", entity="conversation", entity_id=conv.id, detail=detail)
    await session.flush()
    return events


async def queue_positions(
    session: AsyncSession, team_ids: set[int] | None, now: datetime
) -> list[dict[str, Any]]:
    """Every waiting dialog of the teams (None: all teams) with its place in its team's line (priority
    first, see :func:`queue_order`), its priority and how long it has waited, in seconds."""
    stmt = select(
        Conversation.id,
        Conversation.team_id,
        Conversation.queued_at,
        Conversation.created_at,
        Conversation.priority,
    ).where(*waiting())
    if team_ids is not None:
        stmt = stmt.where(Conversation.team_id.in_(sorted(team_ids)))
    stmt = stmt.order_by(Conversation.team_id, *queue_order())
    places: dict[int | None, int] = {}
    items: list[dict[str, Any]] = []
    for conv_id, team_id, queued_at, created_at, priority in await session.execute(stmt):
        places[team_id] = places.get(team_id, 0) + 1
        since = queued_at or created_at
        items.append(
            {
                "conversation_id": conv_id,
                "team_id": team_id,
                "position": places[team_id],
                "priority": priority,
                "waiting_seconds": max(0.0, (now - since).total_seconds()),
            }
        )
    return items
