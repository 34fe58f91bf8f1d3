"""Who may see which client card, task and duplicate pair — derived from conversation visibility.

A card is visible to a viewer who may see one of its conversations (:func:`inbox.conversations.visible`),
who owns it (``Contact.owner_id``) or who is assigned a task about it (a callback of a missed call must
open the caller's card); an admin sees every card. A duplicate pair is visible only when both
of its cards are. A task is visible to its assignee, to whoever may see its card or its conversation, and —
for a task about no card and no conversation — to its team (or to everyone when it has neither team nor
assignee, as before). Each rule is a SQL condition made of EXISTS subqueries, so it filters a large table
in the database instead of loading lists into Python.

Events follow the same rules: a contact-level event carries its *audiences* (the (team, assignee) scopes
of each card's conversations, plus the owner), and :func:`may_see_event` lets a socket through only if the
viewer passes every audience (a duplicate event names two cards: both must be visible).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute, aliased

from inbox.bus import Audience, ContactEvent, Event, PrivateEvent
from inbox.conversations import Viewer, can_see, visible
from inbox.models import Contact, Conversation, DuplicateCandidate, Task


def _through_conversations(viewer: Viewer, contact_id: QueryableAttribute[Any]) -> ColumnElement[bool]:
    """EXISTS a conversation of the card `contact_id` that the viewer may see."""
    return select(Conversation.id).where(Conversation.contact_id == contact_id, visible(viewer)).exists()


# The tasks a `_through_tasks` subquery reads. Made once: building an alias costs about 2.4 ms (its
# columns adapted afresh), paid by every card search and list of an agent when it was made per call.
_HELD = aliased(Task, name="held_tasks")


def _through_tasks(viewer: Viewer, contact_id: QueryableAttribute[Any]) -> ColumnElement[bool]:
    """EXISTS a task about the card `contact_id` assigned to the viewer.

    The subquery reads its own alias of the table: asked about ``Task.contact_id`` (a task's card), an
    unaliased ``tasks`` would compare the inner row's card with itself — true for every task once the
    viewer holds any task about any card."""
    return (
        select(_HELD.id).where(_HELD.contact_id == contact_id, _HELD.assignee_id == viewer.agent_id).exists()
    )


@functools.lru_cache(maxsize=256)
def visible_contacts(viewer: Viewer) -> ColumnElement[bool]:
    """The WHERE clause, on :class:`Contact`, of the cards `viewer` may see.

    Kept per viewer (a clause is immutable, so statements may share it): building it took about 0.7 ms,
    a few times per agent's search."""
    if viewer.is_admin:
        return true()
    return or_(
        Contact.owner_id == viewer.agent_id,
        _through_conversations(viewer, Contact.id),
        _through_tasks(viewer, Contact.id),
    )


def visible_contact_id(viewer: Viewer, column: QueryableAttribute[Any]) -> ColumnElement[bool]:
    """True where the card whose id is in `column` (of another table) is visible; false for NULL."""
    if viewer.is_admin:
        return column.is_not(None)
    owned = select(Contact.id).where(Contact.id == column, Contact.owner_id == viewer.agent_id).exists()
    return or_(owned, _through_conversations(viewer, column), _through_tasks(viewer, column))


def visible_duplicates(viewer: Viewer) -> ColumnElement[bool]:
    """The WHERE clause, on :class:`DuplicateCandidate`, of the pairs whose two cards are both visible."""
    if viewer.is_admin:
        return true()
    return and_(
        visible_contact_id(viewer, DuplicateCandidate.contact_a_id),
        visible_contact_id(viewer, DuplicateCandidate.contact_b_id),
    )


def visible_tasks(viewer: Viewer) -> ColumnElement[bool]:
    """The WHERE clause, on :class:`Task`, of the tasks `viewer` may see."""
    if viewer.is_admin:
        return true()
    conversation = (
        select(Conversation.id).where(Conversation.id == Task.conversation_id, visible(viewer)).exists()
    )
    teams = Task.team_id.in_(viewer.team_ids) if viewer.team_ids else false()
    unowned = and_(Task.assignee_id.is_(None), Task.team_id.is_(None))
    about_nothing = and_(Task.contact_id.is_(None), Task.conversation_id.is_(None))
    return or_(
        Task.assignee_id == viewer.agent_id,
        visible_contact_id(viewer, Task.contact_id),
        conversation,
        and_(about_nothing, or_(teams, unowned)),
    )


async def can_see_contact(session: AsyncSession, viewer: Viewer, contact_id: int) -> bool:
    """Whether the card `contact_id` exists and `viewer` may see it (one indexed query)."""
    found = await session.scalar(select(Contact.id).where(Contact.id == contact_id, visible_contacts(viewer)))
    return found is not None


async def contact_audience(session: AsyncSession, contact_id: int) -> Audience:
    """Who may see the card, as (team, assignee) scopes: its conversations' and its owner's."""
    rows = await session.execute(
        select(Conversation.team_id, Conversation.assignee_id)
        .where(Conversation.contact_id == contact_id)
        .distinct()
    )
    scopes = [(team, assignee) for team, assignee in rows]
    owner = await session.scalar(select(Contact.owner_id).where(Contact.id == contact_id))
    if owner is not None:
        scopes.append((None, owner))
    assignees = await session.scalars(
        select(Task.assignee_id)
        .where(Task.contact_id == contact_id, Task.assignee_id.is_not(None))
        .distinct()
    )
    scopes.extend((None, assignee) for assignee in assignees)
    return tuple(scopes)


async def contact_event(
    session: AsyncSession, kind: str, contact_ids: tuple[int, ...], data: Mapping[str, Any]
) -> ContactEvent:
    """An event about one card (or a pair of cards) that reaches only those who may see every one of them."""
    audiences = tuple([await contact_audience(session, c) for c in contact_ids])
    return ContactEvent(kind, data=dict(data), audiences=audiences)


def may_see_event(viewer: Viewer, event: Event) -> bool:
    """The socket filter: an agent's private events to that agent alone, contact-level events by their
    cards' audiences, the others by their conversation."""
    if isinstance(event, PrivateEvent):
        return event.owner_id == viewer.agent_id
    if viewer.is_admin:
        return True
    if isinstance(event, ContactEvent):
        return all(any(can_see(viewer, t, a) for t, a in audience) for audience in event.audiences)
    return can_see(viewer, event.team_id, event.assignee_id)
