"""Card, task and event visibility derived from conversation visibility, by role."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.bus import ContactEvent, Event, PrivateEvent
from inbox.conversations import Viewer
from inbox.ingest import ingest
from inbox.models import Agent, ChannelAccount, Contact, Conversation, Task, Team
from inbox.visibility import (
    can_see_contact,
    contact_event,
    may_see_event,
    visible_contacts,
    visible_tasks,
)
from tests.inbox.helpers import message


async def staff(session: AsyncSession, *names: str) -> list[int]:
    """Agent rows (role and teams live in the Viewer each test builds: visibility reads nothing else)."""
    rows = [Agent(email=f"{n}@okno.example.com", name=n, password_hash="-") for n in names]
    session.add_all(rows)
    await session.flush()
    return [a.id for a in rows]


async def card_in(
    session: AsyncSession, account: ChannelAccount, key: str, team: int | None, assignee: int | None
) -> int:
    """A card whose one conversation sits in `team`, assigned to `assignee`."""
    result = await ingest(session, message(account.id, key, ("email", f"{key}@example.com")))
    conv = await session.get_one(Conversation, result.conversation_id)
    conv.team_id, conv.assignee_id = team, assignee
    await session.flush()
    return result.contact_id


async def test_cards_follow_conversations_and_ownership_by_role(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    team_a, team_b = Team(name="A"), Team(name="B")
    session.add_all([team_a, team_b])
    await session.flush()
    ids = await staff(session, "anna", "boss", "boris", "admin", "colleague")
    anna = Viewer(ids[0], "agent", frozenset({team_a.id}))
    boss = Viewer(ids[1], "supervisor", frozenset({team_a.id}))
    boris = Viewer(ids[2], "agent", frozenset({team_b.id}))
    admin = Viewer(ids[3], "admin", frozenset())
    queue = await card_in(session, api_account, "queue", team_a.id, None)
    taken = await card_in(session, api_account, "taken", team_a.id, ids[4])  # a colleague's
    shared = await card_in(session, api_account, "shared", None, None)  # the queue of no team
    lonely_card = Contact(name="no dialog yet")
    session.add(lonely_card)
    await session.flush()
    lonely = lonely_card.id
    (await session.get_one(Contact, taken)).owner_id = boris.agent_id

    async def seen(viewer: Viewer) -> set[int]:
        return set(await session.scalars(select(Contact.id).where(visible_contacts(viewer))))

    assert await seen(anna) == {queue, shared}
    assert await seen(boss) == {queue, taken, shared}
    assert await seen(boris) == {taken, shared}  # the card he owns, though its dialog is team A's
    assert await seen(admin) == {queue, taken, shared, lonely}
    assert await can_see_contact(session, boss, taken) and not await can_see_contact(session, anna, taken)
    assert not await can_see_contact(session, anna, 12345)

    task = Task(title="call back", kind="callback", status="open", contact_id=taken)
    session.add(task)
    await session.flush()
    for viewer, shown in ((anna, False), (boss, True), (boris, True), (admin, True)):
        found = await session.scalar(select(Task.id).where(Task.id == task.id, visible_tasks(viewer)))
        assert (found is not None) is shown, viewer


async def test_a_task_assigned_to_an_agent_opens_its_card_to_them(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    """A callback handed to an agent of another team: they must see the caller's card to call back."""
    team_a, team_b = Team(name="A"), Team(name="B")
    session.add_all([team_a, team_b])
    await session.flush()
    anna_id, other_id = await staff(session, "anna", "other")
    anna = Viewer(anna_id, "agent", frozenset({team_a.id}))
    card = await card_in(session, api_account, "caller", team_b.id, None)
    assert not await can_see_contact(session, anna, card)
    for assignee in (other_id, anna_id):
        assert not await can_see_contact(session, anna, card)
        session.add(Task(title="call back", kind="callback", status="open", contact_id=card))
        session.add(Task(title="call", kind="callback", status="open", contact_id=card, assignee_id=assignee))
        await session.flush()
    assert await can_see_contact(session, anna, card)
    event = await contact_event(session, "contact.updated", (card,), {"id": card})
    assert may_see_event(anna, event)


async def test_contact_events_need_every_named_card_visible(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    team_a, team_b = Team(name="A"), Team(name="B")
    session.add_all([team_a, team_b])
    await session.flush()
    anna = Viewer(1, "agent", frozenset({team_a.id}))
    ours = await card_in(session, api_account, "ours", team_a.id, None)
    theirs = await card_in(session, api_account, "theirs", team_b.id, None)
    one = await contact_event(session, "contact.updated", (ours,), {"contact_id": ours})
    pair = await contact_event(session, "contact.duplicate", (ours, theirs), {})
    assert may_see_event(anna, one) and not may_see_event(anna, pair)
    assert may_see_event(Viewer(9, "admin", frozenset()), pair)
    # Through the Redis bus: the audiences survive the JSON round trip.
    again = Event.from_dict(pair.to_dict())
    assert isinstance(again, ContactEvent) and again == pair
    assert may_see_event(Viewer(2, "agent", frozenset({team_b.id})), Event.from_dict(one.to_dict())) is False


def test_a_private_event_is_seen_by_its_owner_alone_and_survives_serialisation() -> None:
    event = PrivateEvent("template.created", data={"id": 3, "key": "mine"}, owner_id=7)
    owner = Viewer(agent_id=7, role="agent", team_ids=frozenset())
    admin = Viewer(agent_id=1, role="admin", team_ids=frozenset())
    colleague = Viewer(agent_id=8, role="agent", team_ids=frozenset())
    assert [may_see_event(v, event) for v in (owner, admin, colleague)] == [True, False, False]
    assert Event.from_dict(event.to_dict()) == event
    shared = Event("template.created", data={"id": 4, "key": "shared"})
    assert [may_see_event(v, shared) for v in (owner, admin, colleague)] == [True, True, True]
    assert Event.from_dict(shared.to_dict()) == shared
