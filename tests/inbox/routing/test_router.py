"""The routing decision: each strategy, capacity, sticky owner, the queue and manual take."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.ingest import stage_batch
from inbox.models import Agent, AgentPresence, Contact, Conversation, utcnow
from inbox.policy import InboxPolicy
from inbox.presence import record_sockets
from inbox.routing.router import RoutingError, queue_positions, take
from tests.inbox.helpers import message
from tests.inbox.routing.setup import assignment_counts, dialogs, offline, online, route, team_with_agents


async def test_round_robin_splits_1000_dialogs_among_5_agents_within_5_percent(session: AsyncSession) -> None:
    team, agents, account = await team_with_agents(session, 5, capacity=1000)
    now = utcnow()
    for agent in agents:
        await online(session, agent, now)
    for first in range(0, 1000, 50):  # dialogs keep arriving while routing runs
        await dialogs(session, account, first, 50)
        now += timedelta(seconds=1)
        await route(session, team.id, now, limit=50)
        await session.commit()
    counts = await assignment_counts(session)
    assert counts[None] == 0
    for agent in agents:
        assert 190 <= counts[agent.id] <= 210, counts


async def test_least_busy_goes_to_the_agent_with_fewest_open_and_never_over_capacity(
    session: AsyncSession,
) -> None:
    team, agents, account = await team_with_agents(session, 3, strategy="least_busy", capacity=4)
    now = utcnow()
    for agent in agents:
        await online(session, agent, now)
    busy = await dialogs(session, account, 0, 3)
    for conv_id in busy:  # agent 0 already holds three dialogs
        conv = await session.get_one(Conversation, conv_id)
        conv.assignee_id = agents[0].id
    await session.commit()
    new = await dialogs(session, account, 100, 2)
    await route(session, team.id, now)
    await session.commit()
    first_two = {(await session.get_one(Conversation, c)).assignee_id for c in new}
    assert first_two == {agents[1].id, agents[2].id}
    await dialogs(session, account, 200, 20)
    await route(session, team.id, now)
    await session.commit()
    counts = await assignment_counts(session)
    assert all(counts[a.id] == 4 for a in agents), counts  # everyone full, nobody over
    assert counts[None] == 3 + 2 + 20 - 12


async def test_sticky_owner_gets_their_client_when_online_and_yields_when_offline_or_full(
    session: AsyncSession,
) -> None:
    team, agents, account = await team_with_agents(session, 3, capacity=2)
    owner = agents[2]
    now = utcnow()
    for agent in agents:
        await online(session, agent, now)
    (first,) = await dialogs(session, account, 0, 1)
    conv = await session.get_one(Conversation, first)
    contact = await session.get_one(Contact, conv.contact_id)
    contact.owner_id = owner.id
    conv.status = "resolved"
    await session.commit()

    async def again(n: int) -> int:
        results, _ = await stage_batch(
            session, [message(account.id, f"again{n}", ("email", "client0@example.com"))], InboxPolicy()
        )
        await session.commit()
        result = results[0]
        assert not isinstance(result, Exception)
        return result.conversation_id

    async def route_now() -> None:
        await route(session, team.id, now)
        await session.commit()

    # Round robin would pick agents[0] (never assigned); the owner wins.
    conv_id = await again(1)
    await route_now()
    assert (await session.get_one(Conversation, conv_id)).assignee_id == owner.id

    # Owner offline: the dialog goes round robin.
    (await session.get_one(Conversation, conv_id)).status = "resolved"
    await session.commit()
    await offline(session, owner)
    conv_id = await again(2)
    await route_now()
    assert (await session.get_one(Conversation, conv_id)).assignee_id in {agents[0].id, agents[1].id}

    # Owner online but full: it goes to someone else.
    (await session.get_one(Conversation, conv_id)).status = "resolved"
    await session.commit()
    await online(session, owner, now)
    filler = await dialogs(session, account, 500, 2)
    for c in filler:
        (await session.get_one(Conversation, c)).assignee_id = owner.id
    await session.commit()
    conv_id = await again(3)
    await route_now()
    assert (await session.get_one(Conversation, conv_id)).assignee_id not in {owner.id, None}


async def test_the_queue_drains_oldest_first_when_an_agent_arrives(session: AsyncSession) -> None:
    team, agents, account = await team_with_agents(session, 1, capacity=2)
    now = utcnow()
    waiting: list[int] = []
    for n in range(4):
        waiting += await dialogs(session, account, n, 1)
        now += timedelta(seconds=10)
        await route(session, team.id, now)  # nobody online: each joins the queue in turn
        await session.commit()
    positions = await queue_positions(session, {team.id}, now)
    assert [p["conversation_id"] for p in positions] == waiting
    assert [p["position"] for p in positions] == [1, 2, 3, 4]
    assert positions[0]["waiting_seconds"] > positions[3]["waiting_seconds"]

    await online(session, agents[0], now)
    await route(session, team.id, now)
    await session.commit()
    assigned = [(await session.get_one(Conversation, c)).assignee_id for c in waiting]
    assert assigned == [agents[0].id, agents[0].id, None, None]  # the two oldest, up to capacity


async def test_busy_and_idle_agents_and_agents_without_a_socket_get_no_new_dialogs(
    session: AsyncSession,
) -> None:
    team, agents, account = await team_with_agents(session, 3)
    now = utcnow()
    await online(session, agents[0], now, status="busy")
    (await session.get_one(Agent, agents[1].id)).status = "online"  # online, but no socket
    await session.commit()
    await online(session, agents[2], now)
    presence = await session.get_one(AgentPresence, (agents[2].id, "test-process"))
    presence.idle_sockets = 1  # their only tab is idle: away
    await session.commit()
    await dialogs(session, account, 0, 3)
    await route(session, team.id, now)
    await session.commit()
    assert (await assignment_counts(session))[None] == 3
    presence = await session.get_one(AgentPresence, (agents[2].id, "test-process"))
    presence.idle_sockets = 0
    await record_sockets(session, agent_id=agents[2].id, process_id="test-process", sockets=1, now=now)
    await session.commit()
    await route(session, team.id, now)
    await session.commit()
    assert (await assignment_counts(session))[agents[2].id] == 3


async def test_manual_take_is_atomic_when_two_agents_take_at_once(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    team, agents, account = await team_with_agents(session, 2, strategy="manual")
    now = utcnow()
    for agent in agents:
        await online(session, agent, now)
    (conv_id,) = await dialogs(session, account, 0, 1)
    await route(session, team.id, now)  # manual: it waits in the queue
    await session.commit()
    assert (await session.get_one(Conversation, conv_id)).queued_at is not None
    await session.commit()  # on SQLite an open transaction holds the write lock

    async def taker(agent_id: int) -> str:
        async with sessionmaker() as own:
            try:
                await take(own, conv_id, agent_id, now)
                await own.commit()
                return "won"
            except RoutingError as exc:
                assert exc.conflict
                return "lost"

    outcomes = await asyncio.gather(*(taker(a.id) for a in agents for _ in range(3)))
    assert sorted(outcomes) == ["lost"] * 5 + ["won"]
    async with sessionmaker() as fresh:
        conv = await fresh.get_one(Conversation, conv_id)
        assert conv.assignee_id in {a.id for a in agents} and conv.queued_at is None


async def test_a_dialog_enters_the_line_when_its_client_began_to_wait_not_when_the_router_saw_it(
    session: AsyncSession,
) -> None:
    # Nobody online: both wait. The router's pass comes an hour after the first client wrote (it was down,
    # or the dialog came from an import): the line says that client waits an hour and is first.
    team, _agents, account = await team_with_agents(session, 2, strategy="manual")
    early, late = await dialogs(session, account, 0, 2)
    now = utcnow() + timedelta(hours=1)
    conv = await session.get_one(Conversation, early)
    began = conv.waiting_since
    assert began is not None
    conv.waiting_since = began - timedelta(minutes=5)  # wrote a little before the second client
    await session.commit()
    team_id = team.id
    events = await route(session, team_id, now)
    await session.commit()
    session.expire_all()
    first = await session.get_one(Conversation, early)
    second = await session.get_one(Conversation, late)
    assert first.queued_at == began - timedelta(minutes=5) and second.queued_at is not None
    assert second.queued_at < now  # never later than the pass, and no later than its client's wait
    queued = {e.conversation_id: e.data["queued_at"] for e in events if e.type == "conversation.queued"}
    assert queued[early] == first.queued_at.isoformat()
    places = await queue_positions(session, {team_id}, now)
    assert [p["conversation_id"] for p in places] == [early, late]
    assert places[0]["waiting_seconds"] >= 3600
