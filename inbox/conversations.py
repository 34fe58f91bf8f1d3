"""Conversations: who may see which, listing with filters, assignment and status changes.

Visibility by role: an agent sees what is assigned to them and the unassigned dialogs of their teams; a
supervisor everything of their teams; an admin all. Dialogs that belong to no team (an account with no
team configured) are the shared queue: every agent sees them while they are unassigned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Row, Select, and_, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.bus import Event
from inbox.models import (
    CONVERSATION_ACTIVITY,
    Agent,
    AuditLog,
    Conversation,
    Message,
    ReportingEvent,
    Team,
    utcnow,
)
from inbox.policy import InboxPolicy
from inbox.reports.waits import end_on_resolve, team_calendar

Role = Literal["agent", "supervisor", "admin"]
ROLES: tuple[Role, ...] = ("agent", "supervisor", "admin")
STATUSES = ("open", "pending", "snoozed", "resolved")


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking: enough to decide visibility without another query."""

    agent_id: int
    role: str
    team_ids: frozenset[int]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class NotAllowed(PermissionError):
    """The thing exists but is outside the viewer's reach (a conversation of another queue, a team that
    is not theirs): forbidden, unlike a card or task the viewer may not see, which is not found."""


class ConversationNotFound(LookupError):
    pass


class ConversationError(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def visible(viewer: Viewer, of: Any = Conversation) -> ColumnElement[bool]:
    """The WHERE clause of what `viewer` may see; `of`: whose team_id and assignee_id columns (conversations,
    or rows counting them, inbox.queues.queue_counts)."""
    if viewer.role == "admin":
        return true()
    teams = of.team_id.in_(viewer.team_ids) if viewer.team_ids else false()
    mine = of.assignee_id == viewer.agent_id
    shared_queue = and_(of.team_id.is_(None), of.assignee_id.is_(None))
    if viewer.role == "supervisor":
        return or_(mine, teams, shared_queue)
    return or_(mine, and_(teams, of.assignee_id.is_(None)), shared_queue)


def can_see(viewer: Viewer, team_id: int | None, assignee_id: int | None) -> bool:
    """The same rule as :func:`visible`, for one conversation or one event."""
    if viewer.role == "admin" or assignee_id == viewer.agent_id:
        return True
    if team_id is None:
        return assignee_id is None
    if viewer.role == "supervisor":
        return team_id in viewer.team_ids
    return team_id in viewer.team_ids and assignee_id is None


async def get_visible_conversation(
    session: AsyncSession, viewer: Viewer, conversation_id: int
) -> Conversation:
    """The conversation, if it exists (ConversationNotFound) and the viewer may see it (NotAllowed)."""
    conv = await session.get(Conversation, conversation_id)
    if conv is None:
        raise ConversationNotFound(f"conversation {conversation_id} not found")
    if not can_see(viewer, conv.team_id, conv.assignee_id):
        raise NotAllowed(f"conversation {conversation_id} belongs to a queue you cannot see")
    return conv


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    status: str | None = None
    assignee_id: int | None = None
    team_id: int | None = None
    channel: str | None = None
    unassigned: bool = False
    contact_id: int | None = None
    q: str | None = None  # full-text: the subject, a message or the card matches (inbox/search.py)
    region: str = "RU"  # the default region of a phone number in `q`


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class ListCursor:
    """Where the next page of a list starts: after the row of this activity time and id (keyset paging,
    so a deep page costs what the first does and a new conversation does not shift the pages)."""

    activity: datetime
    id: int

    def encode(self) -> str:
        at = self.activity if self.activity.tzinfo else self.activity.replace(tzinfo=UTC)
        return f"{(at - _EPOCH) // _MICROSECOND}.{self.id}"

    @classmethod
    def decode(cls, text: str) -> ListCursor:
        """The cursor a list returned; ConversationError naming `cursor` for anything else."""
        micros, dot, ident = text.partition(".")
        if not dot or not micros.isdigit() or not ident.isdigit() or len(micros) > 17 or len(ident) > 18:
            raise ConversationError("cursor is not one this list returned", "cursor")
        try:
            return cls(_EPOCH + int(micros) * _MICROSECOND, int(ident))
        except OverflowError:
            raise ConversationError("cursor is not one this list returned", "cursor") from None

    @classmethod
    def after(cls, conv: Conversation | Row[Any]) -> ListCursor:
        return cls(conv.last_message_at or conv.created_at, conv.id)


async def list_conversations(
    session: AsyncSession,
    viewer: Viewer,
    flt: ConversationFilter,
    *,
    limit: int = 50,
    offset: int = 0,
    cursor: ListCursor | None = None,
) -> list[Conversation]:
    """The conversations the viewer may see under `flt`, latest activity first (then the higher id): a
    page from `offset`, or the page after `cursor` (:class:`ListCursor`)."""
    stmt = _list_statement(session, viewer, flt, limit=limit, offset=offset, cursor=cursor)
    return list(await session.scalars(stmt))


async def list_conversation_rows(
    session: AsyncSession,
    viewer: Viewer,
    flt: ConversationFilter,
    *,
    limit: int = 50,
    offset: int = 0,
    cursor: ListCursor | None = None,
) -> list[Row[Any]]:
    """:func:`list_conversations` as plain rows (every column, read by its name) for an answer that only
    reads them: no ORM object per row (building 50 was a tenth of a list request)."""
    stmt = _list_statement(session, viewer, flt, limit=limit, offset=offset, cursor=cursor)
    return list((await session.execute(stmt.with_only_columns(*Conversation.__table__.columns))).all())


def _list_statement(
    session: AsyncSession,
    viewer: Viewer,
    flt: ConversationFilter,
    *,
    limit: int,
    offset: int,
    cursor: ListCursor | None,
) -> Select[Conversation]:
    stmt = select(Conversation).where(visible(viewer))
    if flt.status:
        if flt.status not in STATUSES:
            raise ConversationError(f"status must be one of {', '.join(STATUSES)}", "status")
        stmt = stmt.where(Conversation.status == flt.status)
    if flt.assignee_id is not None:
        stmt = stmt.where(Conversation.assignee_id == flt.assignee_id)
    if flt.team_id is not None:
        stmt = stmt.where(Conversation.team_id == flt.team_id)
    if flt.channel:
        stmt = stmt.where(Conversation.channel_kind == flt.channel)
    if flt.unassigned:
        stmt = stmt.where(Conversation.assignee_id.is_(None))
    if flt.contact_id is not None:
        stmt = stmt.where(Conversation.contact_id == flt.contact_id)
    if flt.q is not None:
        # inbox.search builds on this module (Viewer, visible), so it is imported here, not at the top.
        from inbox.search import conversation_matches, parse_query

        stmt = stmt.where(conversation_matches(session, parse_query(flt.q, flt.region)))
    activity = CONVERSATION_ACTIVITY  # the expression the list indexes hold (inbox.models)
    if cursor is not None:
        stmt = stmt.where(
            or_(activity < cursor.activity, and_(activity == cursor.activity, Conversation.id < cursor.id))
        )
    return stmt.order_by(activity.desc(), Conversation.id.desc()).limit(limit).offset(offset)


async def messages_of(session: AsyncSession, conversation_id: int) -> list[Message]:
    from sqlalchemy.orm import selectinload

    stmt = (
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .options(selectinload(Message.attachments))
        .order_by(Message.created_at, Message.id)
    )
    return list(await session.scalars(stmt))


def scope(conv: Conversation) -> dict[str, int | None]:
    return {"conversation_id": conv.id, "team_id": conv.team_id, "assignee_id": conv.assignee_id}


async def assign(
    session: AsyncSession,
    conv: Conversation,
    *,
    assignee_id: int | None,
    team_id: int | None,
    actor_id: int | None,
) -> list[Event]:
    """Assign (or unassign) a conversation. Events go to both the old and the new audience."""
    if assignee_id is not None:
        agent = await session.get(Agent, assignee_id)
        if agent is None or not agent.is_active:
            raise ConversationError(f"agent {assignee_id} not found", "assignee_id")
    if team_id is not None and await session.get(Team, team_id) is None:
        raise ConversationError(f"team {team_id} not found", "team_id")
    before = scope(conv)
    conv.assignee_id = assignee_id
    conv.team_id = team_id
    conv.updated_at = utcnow()
    session.add(
        AuditLog(
            actor_agent_id=actor_id,
            action="conversation.assign",
            entity="conversation",
            entity_id=conv.id,
            detail={"assignee_id": assignee_id, "team_id": team_id, "before": before},
        )
    )
    await session.flush()
    data = {"assignee_id": assignee_id, "team_id": team_id, "status": conv.status}
    events = [Event("conversation.assigned", **scope(conv), data=data)]
    if (before["team_id"], before["assignee_id"]) != (team_id, assignee_id):
        # Those who saw it before must learn that it left their queue.
        events.append(
            Event(
                "conversation.assigned",
                conversation_id=conv.id,
                team_id=before["team_id"],
                assignee_id=before["assignee_id"],
                data=data,
            )
        )
    return events


async def set_status(
    session: AsyncSession,
    conv: Conversation,
    status: str,
    *,
    actor_id: int | None,
    policy: InboxPolicy,
    snoozed_until: datetime | None = None,
    at: datetime | None = None,
) -> list[Event]:
    if status not in STATUSES:
        raise ConversationError(f"status must be one of {', '.join(STATUSES)}", "status")
    if status == "snoozed":
        if snoozed_until is None:
            raise ConversationError("snoozed_until is required to snooze", "snoozed_until")
        if snoozed_until <= (at or utcnow()):
            raise ConversationError("snoozed_until must be in the future", "snoozed_until")
    now = at or utcnow()  # `at`: a status change imported from history
    previous = conv.status
    conv.status = status
    conv.updated_at = now
    conv.snoozed_until = snoozed_until if status == "snoozed" else None
    if status == "resolved" and previous != "resolved":
        conv.resolved_at = now
        conv.waiting_since = None
        await end_on_resolve(session, conv, actor_id or conv.assignee_id, now, policy.calendars)
        hours = await team_calendar(session, policy.calendars, conv.team_id)
        session.add(
            ReportingEvent(
                name="resolution",
                occurred_at=now,
                value_seconds=(now - conv.created_at).total_seconds(),
                business_seconds=hours.seconds_between(conv.created_at, now),
                conversation_id=conv.id,
                contact_id=conv.contact_id,
                agent_id=conv.assignee_id,
                team_id=conv.team_id,
                account_id=conv.account_id,
                channel_kind=conv.channel_kind,
            )
        )
    elif status != "resolved":
        conv.resolved_at = None
    session.add(
        AuditLog(
            actor_agent_id=actor_id,
            action="conversation.status",
            entity="conversation",
            entity_id=conv.id,
            detail={"from": previous, "to": status},
        )
    )
    await session.flush()
    return [Event("conversation.updated", **scope(conv), data={"status": status, "previous": previous})]
