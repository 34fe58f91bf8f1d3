"""The queues' channel filter offers the kinds of the accounts there are, each once; each queue's count is
what its list holds; a list's rows get their places in their team's line."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.conversations import Viewer
from inbox.models import ChannelAccount, Conversation, utcnow
from inbox.queues import channel_kinds, list_queue, queue_counts, queue_places, queues_for
from inbox.routing.router import queue_positions
from tests.inbox.routing.setup import dialogs, route, team_with_agents


async def test_channel_filter_offers_each_configured_kind_once(session: AsyncSession) -> None:
    assert await channel_kinds(session) == []
    session.add_all(
        [
            ChannelAccount(name="mail", kind="email"),
            ChannelAccount(name="site", kind="webchat"),
            ChannelAccount(name="support", kind="email"),
        ]
    )
    await session.commit()
    assert await channel_kinds(session) == ["email", "webchat"]


async def test_each_queue_counts_what_its_list_holds(session: AsyncSession) -> None:
    """All the queues are counted in one statement: each count is the length of that queue's list, for an
    admin and a team agent, under a status and a channel filter."""
    team, agents, account = await team_with_agents(session, 2)
    other = ChannelAccount(name="site", kind="webchat")
    session.add(other)
    await session.flush()
    ids = await dialogs(session, account, 0, 6) + await dialogs(session, other, 6, 2)
    convs = [await session.get_one(Conversation, c) for c in ids]
    convs[0].assignee_id = convs[1].assignee_id = convs[6].assignee_id = agents[0].id
    convs[2].assignee_id = agents[1].id
    convs[3].team_id = convs[7].team_id = team.id
    convs[4].status = "pending"
    await session.commit()
    admin = Viewer(agent_id=agents[1].id, role="admin", team_ids=frozenset())
    agent = Viewer(agent_id=agents[0].id, role="agent", team_ids=frozenset({team.id}))
    seen = set()
    for viewer in (admin, agent):
        for status, channel in (("open", None), ("pending", None), (None, None), ("open", "webchat")):
            counts = await queue_counts(session, viewer, status=status, channel=channel)
            lists = {
                q: len(await list_queue(session, viewer, q, status=status, channel=channel))
                for q in queues_for(viewer)
            }
            assert counts == lists, (viewer.role, status, channel)
            seen.add(tuple(counts.values()))
    assert len(seen) > 4  # the cases differ


async def test_queue_places_of_listed_rows_match_the_whole_line(session: AsyncSession) -> None:
    """The inbox page asks only for its rows' places: the same places and waits as the whole line gives,
    a higher priority ahead, and nothing for a row that is not waiting."""
    team, _agents, account = await team_with_agents(session, 1, capacity=2)
    now = utcnow()
    waiting: list[int] = []
    for n in range(5):
        waiting += await dialogs(session, account, n, 1)
        now += timedelta(seconds=10)
        await route(session, team.id, now)  # nobody online: each joins the queue in turn
        await session.commit()
    (await session.get_one(Conversation, waiting[3])).priority = 1
    gone = await session.get_one(Conversation, waiting[4])
    gone.status = "resolved"
    await session.commit()
    whole = {p["conversation_id"]: p for p in await queue_positions(session, {team.id}, now)}
    assert [whole[c]["position"] for c in waiting[:4]] == [2, 3, 4, 1]
    listed = [waiting[1], waiting[3], waiting[4]]
    assert await queue_places(session, {team.id}, listed, now) == {c: whole[c] for c in listed[:2]}
    assert await queue_places(session, None, listed, now) == {c: whole[c] for c in listed[:2]}
    assert await queue_places(session, {team.id + 1}, listed, now) == {}
    assert await queue_places(session, {team.id}, [], now) == {}
