"""Capacity: an agent's own capacity overrides their team's default, a limit per channel kind caps that
kind while other kinds still come (3 chats but 20 e-mails), and snoozed or resolved dialogs do not count."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.ingest import stage_batch
from inbox.models import Agent, ChannelAccount, Conversation, utcnow
from inbox.policy import InboxPolicy
from tests.inbox.helpers import message
from tests.inbox.routing.setup import assignment_counts, dialogs, online, route, team_with_agents


async def test_an_agents_own_capacity_overrides_the_teams_and_a_per_kind_limit_caps_only_that_kind(
    session: AsyncSession,
) -> None:
    team, (anna, boris), mail = await team_with_agents(session, 2, capacity=2)
    chat = ChannelAccount(name="site", kind="webchat", team_id=team.id)
    session.add(chat)
    row = await session.get_one(Agent, anna.id)
    row.capacity, row.channel_capacity = 5, {"webchat": 1}
    await session.commit()
    now = utcnow()
    await online(session, anna, now)
    chats = [message(chat.id, f"w{i}", ("webchat", f"visitor-{i}"), text="hi") for i in range(3)]
    await stage_batch(session, chats, InboxPolicy())
    await session.commit()
    await dialogs(session, mail, 0, 6)
    await route(session, team.id, now)
    await session.commit()
    assert (await assignment_counts(session))[anna.id] == 5  # her own 5, not the team's 2
    held = Counter(
        c.channel_kind
        for c in await session.scalars(select(Conversation).where(Conversation.assignee_id == anna.id))
    )
    assert held == {"webchat": 1, "api": 4}  # one chat at most; the other kind filled the rest

    # Boris has no capacity of his own: the team's 2.
    await online(session, boris, now)
    await route(session, team.id, now + timedelta(seconds=1))
    await session.commit()
    assert (await assignment_counts(session))[boris.id] == 2


async def test_snoozed_and_resolved_dialogs_leave_room_for_new_ones(session: AsyncSession) -> None:
    team, (anna,), account = await team_with_agents(session, 1, capacity=2)
    now = utcnow()
    await online(session, anna, now)
    first = await dialogs(session, account, 0, 4)
    await route(session, team.id, now)
    await session.commit()
    assert (await assignment_counts(session))[anna.id] == 2
    held = [await session.get_one(Conversation, c) for c in first[:2]]
    held[0].status, held[0].snoozed_until = "snoozed", now + timedelta(days=1)
    held[1].status = "pending"  # pending still counts
    await session.commit()
    await route(session, team.id, now + timedelta(seconds=1))
    await session.commit()
    assert (await assignment_counts(session))[anna.id] == 3
    held[1].status = "resolved"
    await session.commit()
    await route(session, team.id, now + timedelta(seconds=2))
    await session.commit()
    assert (await assignment_counts(session))[anna.id] == 4
