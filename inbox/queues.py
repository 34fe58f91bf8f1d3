"""The agent inbox's queues — mine, unassigned, my teams, all — with their counts, and what a list row
shows: the latest message and how many client messages wait for an answer ("unread").

Every queue is a part of what the viewer may see (:func:`inbox.conversations.visible`): "all" is all of
it, so an agent's "all" is their own, their teams' unassigned and the shared queue, and a supervisor's
or admin's is more, as their role allows.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal, NamedTuple, cast

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select, true, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BindParameter, BooleanClauseList

from inbox.conversations import STATUSES, Viewer, visible
from inbox.lists import dialect_of, ids_in
from inbox.models import (
    CONVERSATION_ACTIVITY,
    Agent,
    ChannelAccount,
    Contact,
    Conversation,
    ConversationCount,
    ConversationRead,
    Message,
)
from inbox.routing.router import queue_key, waiting

Queue = Literal["mine", "unassigned", "teams", "all"]
QUEUES: tuple[Queue, ...] = ("mine", "unassigned", "teams", "all")


def queues_for(viewer: Viewer) -> tuple[Queue, ...]:
    """The queues worth showing: "my teams" only to someone in a team."""
    return tuple(q for q in QUEUES if q != "teams" or viewer.team_ids)


def queue_clause(viewer: Viewer, queue: Queue, of: Any = Conversation) -> ColumnElement[bool]:
    """The WHERE clause of `queue`; `of` as in :func:`inbox.conversations.visible`."""
    if queue == "mine":
        return cast(ColumnElement[bool], of.assignee_id == viewer.agent_id)
    if queue == "unassigned":
        return cast(ColumnElement[bool], of.assignee_id.is_(None))
    if queue == "teams":
        return cast(ColumnElement[bool], of.team_id.in_(viewer.team_ids)) if viewer.team_ids else false()
    return true()


def _filters(
    viewer: Viewer, status: str | None, channel: str | None, of: Any = Conversation
) -> list[ColumnElement[bool]]:
    return [visible(viewer, of), *_view_filters(status, channel, of)]


def _view_filters(
    status: str | None, channel: str | None, of: Any = Conversation
) -> list[ColumnElement[bool]]:
    """The status and channel filters of a list (visibility aside)."""
    clauses: list[ColumnElement[bool]] = []
    if status:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        clauses.append(of.status == status)
    if channel:
        clauses.append(of.channel_kind == channel)
    return clauses


async def queue_counts(
    session: AsyncSession, viewer: Viewer, *, status: str | None, channel: str | None
) -> dict[Queue, int]:
    """How many conversations each queue holds under the same filters, added up from the roll-up the
    triggers keep (conversation_counts, migration 0019_conversation_counts): visibility, the queues and the
    filters read only a conversation's status, channel kind, team and assignee, so a few hundred groups
    answer what one pass over the open conversations did in 5.6-5.8 ms on PostgreSQL at 100,000 (and over
    every conversation with "any status")."""
    queues = queues_for(viewer)
    row = (await session.execute(_counts_statement(viewer, status, channel))).one()
    return {queue: int(count or 0) for queue, count in zip(queues, row, strict=True)}


# The roll-up with its missing team or assignee (0) as NULL again, so that the conversations' clauses apply.
_GROUPS = select(
    ConversationCount.status,
    ConversationCount.channel_kind,
    func.nullif(ConversationCount.team_id, 0).label("team_id"),
    func.nullif(ConversationCount.assignee_id, 0).label("assignee_id"),
    ConversationCount.n,
).subquery("groups")


@functools.lru_cache(maxsize=512)
def _counts_statement(viewer: Viewer, status: str | None, channel: str | None) -> Any:
    """:func:`queue_counts`' statement, built once per viewer and filters and kept (as a page's)."""
    groups = _GROUPS.c
    columns = [
        func.sum(groups.n if queue == "all" else case((queue_clause(viewer, queue, groups), groups.n)))
        for queue in queues_for(viewer)
    ]
    return select(*columns).where(*_filters(viewer, status, channel, groups))


async def list_queue(
    session: AsyncSession,
    viewer: Viewer,
    queue: Queue,
    *,
    status: str | None,
    channel: str | None,
    limit: int = 100,
) -> list[Conversation]:
    """The queue's conversations, latest activity first."""
    stmt = (
        select(Conversation)
        .where(*_filters(viewer, status, channel), queue_clause(viewer, queue))
        .order_by(CONVERSATION_ACTIVITY.desc(), Conversation.id.desc())
        .limit(limit)
    )
    return list(await session.scalars(stmt))


class QueueRow(NamedTuple):
    """A conversation of a queue's page with what its row shows: the card's name, the latest message to
    or from the client (:func:`latest_messages`), the client messages awaiting a reply (:func:`unanswered`)
    and unread by the viewer (inbox.reads.unread_counts), the names of the assignee and of the agent who
    wrote the latest message (None: no such agent)."""

    id: int
    contact_id: int
    channel_kind: str
    status: str
    subject: str | None
    assignee_id: int | None
    team_id: int | None
    last_message_at: datetime | None
    created_at: datetime
    rules_applied_at: datetime | None
    contact_name: str | None
    waiting: int
    unread: int
    assignee_name: str | None
    last_id: int | None
    last_direction: str | None
    last_agent_id: int | None
    last_body: str | None
    last_author_found: bool  # the latest message's agent is an agent there is (their name may be empty)
    last_author_name: str | None


async def queue_page(
    session: AsyncSession,
    viewer: Viewer,
    queue: Queue,
    *,
    status: str | None,
    channel: str | None,
    limit: int = 100,
) -> list[QueueRow]:
    """:func:`list_queue`'s conversations, latest activity first, each with what its row shows — in one
    statement: the page, then per conversation its latest message, its counts and the names, each a look-up
    of its own rows. Asked apart (the page, the latest messages, the unanswered and unread counts, the
    cards' and the agents' names) they were six statements over the same hundred ids, each a round trip
    and an IN list of a hundred parameters rendered anew."""
    if status and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    stmt = _page_statement(viewer, queue, status, channel, limit)
    return [QueueRow._make(row) for row in await session.execute(stmt)]


_PAGE_COLUMNS = (
    Conversation.id,
    Conversation.contact_id,
    Conversation.channel_kind,
    Conversation.status,
    Conversation.subject,
    Conversation.assignee_id,
    Conversation.team_id,
    Conversation.last_message_at,
    Conversation.created_at,
    Conversation.rules_applied_at,
)


@functools.lru_cache(maxsize=512)
def _page_statement(viewer: Viewer, queue: Queue, status: str | None, channel: str | None, limit: int) -> Any:
    """:func:`queue_page`'s statement, built once per viewer and view and kept: building it (its aliases
    and subqueries) took as long as running it; its values are in it, so a reload runs it as it is.

    Its values are written into its SQL text (:func:`_values_inline`): on PostgreSQL a statement without
    parameters is planned once per connection and its plan kept, where one with parameters was planned
    anew on every run (a custom plan each time: 0.7-1.5 ms of planning for 2-4.5 ms of execution at
    100,000 conversations)."""
    return _values_inline(_page_select(viewer, queue, status, channel, limit))


def _values_inline(stmt: Any) -> Any:
    """`stmt` with each of its bound values rendered into the SQL text (escaped by the dialect as a
    literal; a list as a list of literals) instead of sent as a parameter: for statements whose values
    are fixed when they are built (and kept), so that the text names the question and the database's
    statement cache holds its plan."""

    def inline(element: Any, **_: Any) -> Any:
        return element.render_literal_execute() if isinstance(element, BindParameter) else None

    return visitors.replacement_traverse(stmt, {}, inline)


def _page_select(viewer: Viewer, queue: Queue, status: str | None, channel: str | None, limit: int) -> Any:
    """:func:`_page_statement`'s select, with its values as parameters."""
    columns = _PAGE_COLUMNS
    page = _newest(viewer, [*_view_filters(status, channel), queue_clause(viewer, queue)], limit)
    shown = aliased(Message)  # the latest message to or from the client (notes and service events aside)
    latest = select(func.max(shown.id)).where(
        shown.conversation_id == page.c.id, shown.direction != "note", shown.kind == "message"
    )
    reply = aliased(Message)
    last_reply = select(func.max(reply.id)).where(
        reply.conversation_id == page.c.id, reply.direction == "out"
    )
    marker = select(ConversationRead.last_read_message_id).where(
        ConversationRead.conversation_id == page.c.id, ConversationRead.agent_id == viewer.agent_id
    )

    def inbound_after(after: Any) -> Any:
        client = aliased(Message)
        return (
            select(func.count())
            .select_from(client)
            .where(
                client.conversation_id == page.c.id,
                client.direction == "in",
                client.kind == "message",
                # of this conversation of the page, two levels out (not a page of its own)
                client.id > func.coalesce(after.correlate(page).scalar_subquery(), 0),
            )
            .scalar_subquery()
        )

    rows = select(
        page,
        latest.scalar_subquery().label("last_id"),
        inbound_after(last_reply).label("waiting"),
        inbound_after(marker).label("unread"),
    ).subquery("rows")
    last = aliased(Message)
    assignee = aliased(Agent)
    author = aliased(Agent)
    return (
        select(
            *(rows.c[c.key] for c in columns),
            Contact.name,
            rows.c.waiting,
            rows.c.unread,
            assignee.name,
            last.id,  # rows.c.last_id, the message joined by it (written so, SQLite computed it twice)
            last.direction,
            last.agent_id,
            last.body_text,
            author.id.is_not(None),
            author.name,
        )
        .select_from(rows)
        .outerjoin(Contact, Contact.id == rows.c.contact_id)
        .outerjoin(assignee, assignee.id == rows.c.assignee_id)
        .outerjoin(last, last.id == rows.c.last_id)
        .outerjoin(author, author.id == last.agent_id)
        .order_by(func.coalesce(rows.c.last_message_at, rows.c.created_at).desc(), rows.c.id.desc())
    )


def _newest(viewer: Viewer, where: list[ColumnElement[bool]], limit: int) -> Any:
    """The subquery "page": the `limit` latest conversations the viewer may see under `where`.

    A viewer who sees several parts (an agent: their own, their teams' unassigned and the shared queue)
    gets the latest `limit` of each part, each read in activity order from its own index, and the latest
    `limit` of those (UNION: a supervisor's parts overlap). As one OR, SQLite read every visible dialog
    of the filter to sort them (6-8 ms for an agent's open list at 100,000 conversations, 0.7 ms so)."""
    seen = visible(viewer)
    parts = seen.clauses if isinstance(seen, BooleanClauseList) and seen.operator is operators.or_ else [seen]

    def latest(*clauses: ColumnElement[bool]) -> Any:
        return (
            select(*_PAGE_COLUMNS)
            .where(*clauses)
            .order_by(CONVERSATION_ACTIVITY.desc(), Conversation.id.desc())
            .limit(limit)
        )

    if len(parts) == 1:
        return latest(seen, *where).subquery("page")
    each = union(*(select(latest(part, *where).subquery()) for part in parts)).subquery("each")
    return (
        select(each)
        .order_by(func.coalesce(each.c.last_message_at, each.c.created_at).desc(), each.c.id.desc())
        .limit(limit)
        .subquery("page")
    )


async def latest_messages(session: AsyncSession, conversation_ids: Iterable[int]) -> dict[int, Message]:
    """The latest message to or from the client of each conversation (notes and service events aside)."""
    ids = sorted(set(conversation_ids))
    if not ids:
        return {}
    latest = (
        select(func.max(Message.id))
        .where(Message.conversation_id.in_(ids), Message.direction != "note", Message.kind == "message")
        .group_by(Message.conversation_id)
    )
    rows = await session.scalars(select(Message).where(Message.id.in_(latest)))
    return {m.conversation_id: m for m in rows}


async def unanswered(session: AsyncSession, conversation_ids: Iterable[int]) -> dict[int, int]:
    """Client messages after the latest reply, per conversation (absent: none waiting)."""
    ids = sorted(set(conversation_ids))
    if not ids:
        return {}
    replies = (
        select(Message.conversation_id, func.max(Message.id).label("last_out"))
        .where(Message.conversation_id.in_(ids), Message.direction == "out")
        .group_by(Message.conversation_id)
        .subquery()
    )
    stmt = (
        select(Message.conversation_id, func.count())
        .outerjoin(replies, replies.c.conversation_id == Message.conversation_id)
        .where(
            Message.conversation_id.in_(ids),
            Message.direction == "in",
            Message.kind == "message",
            Message.id > func.coalesce(replies.c.last_out, 0),
        )
        .group_by(Message.conversation_id)
    )
    return {conv_id: int(count) for conv_id, count in await session.execute(stmt)}


async def channel_kinds(session: AsyncSession) -> list[str]:
    """The kinds of the channel accounts there are: what a channel filter of the queues offers."""
    return sorted(set(await session.scalars(_KINDS)))


_KINDS = select(ChannelAccount.kind)  # built once (the inbox asks on every page)


async def queue_places(
    session: AsyncSession, team_ids: set[int] | None, conversation_ids: Iterable[int], now: datetime
) -> dict[int, dict[str, Any]]:
    """The listed conversations that wait for an agent, by id, as
    :func:`inbox.routing.router.queue_positions` gives them (place in their team's line, priority, wait in
    seconds) — counted in the database for the listed rows alone, instead of every waiting dialog of the
    teams (thousands in a backlog) for a page that shows a hundred."""
    ids = sorted(set(conversation_ids))
    if not ids:
        return {}
    stmt = _places_statement(None if team_ids is None else tuple(sorted(team_ids)), dialect_of(session))
    rows = await session.execute(stmt, {"listed": ids})
    return {
        conv_id: {
            "conversation_id": conv_id,
            "team_id": team_id,
            "position": int(position),
            "priority": priority,
            "waiting_seconds": max(0.0, (now - (queued_at or created_at)).total_seconds()),
        }
        for conv_id, team_id, queued_at, created_at, priority, position in rows
        if position is not None
    }


@functools.lru_cache(maxsize=256)
def _places_statement(team_ids: tuple[int, ...] | None, dialect: str) -> Any:
    """:func:`queue_places`' statement for these teams (None: every team), the listed ids bound as
    `listed` at execution (on SQLite one parameter, inbox.lists): built once per set of teams and kept.

    A row's place is its line's length less the dialogs behind it, each counted over a range of
    ix_conversations_line (0019, in queue order): a list shows the latest activity first, so its waiting
    rows are mostly the line's newest, a few entries from its end. (Numbering every dialog of the lines with
    row_number took 8 ms for an admin's page at 3,000 waiting; the rows ahead would be counted over
    hundreds of entries each.)"""
    listed = aliased(Conversation, name="listed")
    other = aliased(Conversation, name="other")
    # The line's length: the team's open unassigned dialogs from the roll-up (0019), less those the rules
    # have not looked at yet (a handful, over the partial index ix_conversations_unruled).
    open_unassigned = (
        select(func.sum(ConversationCount.n))
        .where(
            ConversationCount.status == "open",
            ConversationCount.assignee_id == 0,
            ConversationCount.team_id == listed.team_id,
        )
        .scalar_subquery()
    )
    unruled = (
        select(func.count())
        .where(
            other.rules_applied_at.is_(None),
            # Written so that no other index serves them: SQLite (no statistics) otherwise counted them over
            # the team's range of ix_conversations_open, every waiting dialog of it.
            other.status.concat("") == "open",
            (other.assignee_id + 0).is_(None),
            other.team_id + 0 == listed.team_id,
        )
        .scalar_subquery()
    )
    in_line = (*waiting(other), other.team_id == listed.team_id)
    lower = select(func.count()).where(*in_line, other.priority < listed.priority).scalar_subquery()
    key, listed_key = queue_key(other), queue_key(listed)
    later = (
        select(func.count())
        .where(
            *in_line,
            other.priority == listed.priority,
            # a range of the index (a row value over its expression is none on SQLite), ties then by id
            key >= listed_key,
            or_(key > listed_key, other.id > listed.id),
        )
        .scalar_subquery()
    )
    counted = and_(*waiting(listed))
    if team_ids is not None:
        counted = and_(counted, listed.team_id.in_(team_ids))
    return select(
        listed.id,
        listed.team_id,
        listed.queued_at,
        listed.created_at,
        listed.priority,
        # None: not waiting (any more), or in another team (the rows are looked up by id: as a filter, these
        # made SQLite read every waiting dialog through ix_conversations_open instead)
        case((counted, open_unassigned - unruled - lower - later)).label("position"),
    ).where(ids_in(listed.id.expression, "listed", dialect))
