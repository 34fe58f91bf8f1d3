"""Leads and their owners: a new lead's first dialog goes to the "new clients" team when one is set, its
card gets as owner the agent who first answers it (with a follow-up task, once per card), and when the
client writes again their owner is told — even while someone else has the dialog — and nobody else."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.i18n import translation
from inbox.conversations import Viewer
from inbox.ingest import stage_batch
from inbox.models import Agent, Contact, Conversation, Identity, Task
from inbox.policy import InboxPolicy
from inbox.replies import add_reply
from inbox.routing.rules import parse_rules, store_rules
from inbox.visibility import may_see_event
from tests.inbox.helpers import message
from tests.inbox.routing.setup import online, route, team_with_agents


async def test_the_first_agent_to_answer_owns_the_lead_and_hears_when_the_client_returns(
    session: AsyncSession,
) -> None:
    team, (owner, other), account = await team_with_agents(session, 2)
    results, events = await stage_batch(
        session, [message(account.id, "m1", ("email", "lead@example.com"))], InboxPolicy()
    )
    await session.commit()
    first = results[0]
    assert not isinstance(first, Exception)
    assert not [e for e in events if e.type == "client.returned"]  # a new lead has no owner to tell
    conv = await session.get_one(Conversation, first.conversation_id)
    await add_reply(
        session, conv, await session.get_one(Agent, owner.id), "Добрый день!", policy=InboxPolicy()
    )
    conv.status, conv.assignee_id = "resolved", None
    await session.commit()
    assert (await session.get_one(Contact, first.contact_id)).owner_id == owner.id

    results, events = await stage_batch(
        session, [message(account.id, "m2", ("email", "lead@example.com"))], InboxPolicy()
    )
    await session.commit()
    again = await session.get_one(Conversation, results[0].conversation_id)  # type: ignore[union-attr]
    again.assignee_id = other.id  # someone else handles the dialog this time
    await session.commit()
    results, events = await stage_batch(
        session, [message(account.id, "m3", ("email", "lead@example.com"), text="Ещё вопрос")], InboxPolicy()
    )
    await session.commit()
    (told,) = [e for e in events if e.type == "client.returned"]
    assert told.data["owner_id"] == owner.id and told.data["preview"] == "Ещё вопрос"
    assert may_see_event(Viewer(owner.id, "agent", frozenset({team.id})), told)
    assert not may_see_event(Viewer(other.id, "agent", frozenset({team.id})), told)


async def test_a_new_leads_first_dialog_goes_to_the_new_clients_team_and_its_agents_get_it(
    session: AsyncSession,
) -> None:
    now = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    support, _, account = await team_with_agents(session, 1, name="Support")
    sales, (seller,), _ = await team_with_agents(session, 1, name="Sales")
    await online(session, seller, now)
    known = Contact(name="Давний клиент", kind="client", tags=[], custom_fields={})
    session.add(known)
    await session.flush()
    session.add(Identity(contact_id=known.id, kind="email", value="old@example.com", trust="vouched"))
    # A rule that matches without naming a team leaves the dialog where ingest put it.
    await store_rules(
        session,
        parse_rules([{"name": "tag leads", "tags": ["new"], "when": {"card": "lead"}}]),
        actor_id=None,
    )
    await session.commit()
    policy = InboxPolicy(new_clients_team_id=sales.id)
    results, _ = await stage_batch(
        session,
        [
            message(account.id, "m1", ("email", "new@example.com")),
            message(account.id, "m2", ("email", "new@example.com")),  # the same new lead, same dialog
            message(account.id, "m3", ("email", "old@example.com")),
        ],
        policy,
    )
    await session.commit()
    new1, new2, old = (r for r in results if not isinstance(r, Exception))
    assert new1.conversation_id == new2.conversation_id
    await route(session, sales.id, now)
    await route(session, support.id, now)
    await session.commit()
    lead_dialog = await session.get_one(Conversation, new1.conversation_id, populate_existing=True)
    assert (lead_dialog.team_id, lead_dialog.assignee_id) == (sales.id, seller.id)
    assert (await session.get_one(Conversation, old.conversation_id)).team_id == support.id
    assert "new" in (await session.get_one(Contact, new1.contact_id)).tags


async def test_the_lead_follow_up_is_made_once_per_card_in_the_hubs_language_and_can_be_turned_off(
    session: AsyncSession,
) -> None:
    _, (anna, oleg), account = await team_with_agents(session, 2)
    english = InboxPolicy(gettext=translation("en").gettext, lead_follow_up=timedelta(hours=24))
    results, _ = await stage_batch(
        session,
        [
            message(account.id, "m1", ("email", "lead@example.com"), name=None),
            message(account.id, "m2", ("email", "quiet@example.com")),
        ],
        english,
    )
    await session.commit()
    lead, quiet = (r for r in results if not isinstance(r, Exception))
    conv = await session.get_one(Conversation, lead.conversation_id)
    _, events = await add_reply(
        session, conv, await session.get_one(Agent, anna.id), "Hello!", policy=english
    )
    await session.commit()
    (task,) = await session.scalars(select(Task).where(Task.contact_id == lead.contact_id))
    assert (task.kind, task.assignee_id, task.status) == ("follow_up", anna.id, "open")
    assert task.title == "Follow up with the new client"
    assert task.due_at is not None and task.due_at - task.created_at == timedelta(hours=24)
    assert [e.data["task_id"] for e in events if e.type == "task.created"] == [task.id]
    assert may_see_event(
        Viewer(anna.id, "agent", frozenset()), next(e for e in events if e.type == "task.created")
    )

    # The owner leaves the card and a colleague answers: the card gets its new owner, no second task.
    card = await session.get_one(Contact, lead.contact_id)
    card.owner_id = None
    await session.commit()
    await add_reply(session, conv, await session.get_one(Agent, oleg.id), "I'll help", policy=english)
    await session.commit()
    assert (await session.get_one(Contact, lead.contact_id, populate_existing=True)).owner_id == oleg.id
    assert len(list(await session.scalars(select(Task).where(Task.contact_id == lead.contact_id)))) == 1

    # lead_follow_up_hours = 0: the owner is set, no task.
    quiet_conv = await session.get_one(Conversation, quiet.conversation_id)
    off = InboxPolicy(lead_follow_up=None)
    await add_reply(session, quiet_conv, await session.get_one(Agent, oleg.id), "Hi", policy=off)
    await session.commit()
    assert (await session.get_one(Contact, quiet.contact_id)).owner_id == oleg.id
    assert list(await session.scalars(select(Task).where(Task.contact_id == quiet.contact_id))) == []


async def test_two_agents_answering_a_new_lead_at_once_make_one_owner_and_one_follow_up(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    _, agents, account = await team_with_agents(session, 2)
    results, _ = await stage_batch(
        session, [message(account.id, "m1", ("email", "lead@example.com"))], InboxPolicy()
    )
    await session.commit()
    lead = results[0]
    assert not isinstance(lead, Exception)

    async def answer(agent_id: int) -> None:
        async with sessionmaker() as own:
            conv = await own.get_one(Conversation, lead.conversation_id)
            await add_reply(
                own, conv, await own.get_one(Agent, agent_id), "Добрый день!", policy=InboxPolicy()
            )
            await own.commit()

    await asyncio.gather(*(answer(a.id) for a in agents))
    tasks = list(await session.scalars(select(Task).where(Task.contact_id == lead.contact_id)))
    owner = (await session.get_one(Contact, lead.contact_id, populate_existing=True)).owner_id
    assert len(tasks) == 1 and owner in {a.id for a in agents} and tasks[0].assignee_id == owner
