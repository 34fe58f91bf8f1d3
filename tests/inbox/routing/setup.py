"""Builders for routing tests: a team with agents who are online (status and a live socket), an account
routed to the team, and dialogs from distinct senders. Plain functions over a session, no mocks."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.bus import Event
from inbox.business_hours import BusinessHours
from inbox.ingest import stage_batch
from inbox.models import Agent, ChannelAccount, Conversation, Team
from inbox.policy import InboxPolicy
from inbox.presence import record_sockets
from inbox.routing.router import route_team
from inbox.routing.rules import apply_rules
from tests.inbox.helpers import message

PROCESS = "test-process"


async def team_with_agents(
    session: AsyncSession,
    n: int,
    *,
    strategy: str = "round_robin",
    capacity: int | None = None,
    name: str = "Support",
) -> tuple[Team, list[Agent], ChannelAccount]:
    team = Team(name=name, strategy=strategy, agent_capacity=capacity)
    agents = [
        Agent(email=f"a{i}@{name.lower()}.example", name=f"Agent {i}", password_hash="x", status="offline")
        for i in range(n)
    ]
    team.agents = agents
    account = ChannelAccount(name=f"{name.lower()}-api", kind="api")
    session.add_all([team, account, *agents])
    await session.flush()
    account.team_id = team.id
    await session.commit()
    return team, agents, account


async def online(session: AsyncSession, agent: Agent, now: datetime, *, status: str = "online") -> None:
    """The agent says they are online and holds a live socket."""
    row = await session.get_one(Agent, agent.id)
    row.status = status
    await record_sockets(session, agent_id=agent.id, process_id=PROCESS, sockets=1, now=now)
    await session.commit()


async def offline(session: AsyncSession, agent: Agent) -> None:
    row = await session.get_one(Agent, agent.id)
    row.status = "offline"
    await session.commit()


async def dialogs(session: AsyncSession, account: ChannelAccount, first: int, count: int) -> list[int]:
    """`count` new dialogs from distinct senders, committed; their conversation ids."""
    items = [
        message(account.id, f"m{i}", ("email", f"client{i}@example.com"), text=f"hello {i}")
        for i in range(first, first + count)
    ]
    results, _ = await stage_batch(session, items, InboxPolicy())
    await session.commit()
    ids = []
    for r in results:
        assert not isinstance(r, Exception), r
        ids.append(r.conversation_id)
    return ids


async def assignment_counts(session: AsyncSession) -> Counter[int | None]:
    rows = await session.execute(
        select(Conversation.assignee_id, func.count()).group_by(Conversation.assignee_id)
    )
    return Counter({assignee: int(n) for assignee, n in rows})


async def route(session: AsyncSession, team_id: int, now: datetime, *, limit: int = 200) -> list[Event]:
    """One router step as the worker takes it: the rules look at new dialogs, then the team hands out."""
    events = await apply_rules(session, now, BusinessHours.always(), limit=limit)
    return events + await route_team(session, team_id, now, limit=limit)
