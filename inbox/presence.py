"""Agent presence shared by every hub process: which agents have a live socket somewhere.

Each process keeps one row per agent it holds sockets for (``agent_presence``: agent, process, sockets,
seen_at), written when a socket opens or closes and refreshed by the process's heartbeat. An agent is
online while any row with sockets is fresher than the TTL, so an agent with tabs on two processes stays
online when one closes, and the rows of a process that died without cleaning up stop counting after the
TTL (and are deleted by the next heartbeat of any process). Routing reads :func:`online_agents`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Agent, AgentPresence, utcnow

PRESENCE_TTL = timedelta(seconds=90)


async def record_sockets(
    session: AsyncSession, *, agent_id: int, process_id: str, sockets: int, now: datetime, idle: int = 0
) -> None:
    """Store how many sockets `process_id` holds for the agent and how many of them are idle (an idle
    tab: away); 0 sockets removes its row and notes when the agent's socket closed. The caller commits."""
    row = await session.get(AgentPresence, (agent_id, process_id))
    idle = max(0, min(idle, sockets))
    if sockets <= 0:
        if row is not None:
            await session.delete(row)
        await session.execute(
            update(Agent).where(Agent.id == agent_id).values(last_socket_at=now),
            execution_options={"synchronize_session": False},
        )
    elif row is None:
        session.add(
            AgentPresence(
                agent_id=agent_id, process_id=process_id, sockets=sockets, idle_sockets=idle, seen_at=now
            )
        )
    else:
        row.sockets, row.idle_sockets, row.seen_at = sockets, idle, now
    await session.flush()


async def heartbeat(
    session: AsyncSession, *, process_id: str, now: datetime, ttl: timedelta = PRESENCE_TTL
) -> None:
    """Refresh this process's rows and delete the expired rows of dead processes; the caller commits."""
    await session.execute(
        update(AgentPresence).where(AgentPresence.process_id == process_id).values(seen_at=now),
        execution_options={"synchronize_session": False},
    )
    await session.execute(
        delete(AgentPresence).where(AgentPresence.seen_at < now - ttl),
        execution_options={"synchronize_session": False},
    )


async def forget_process(session: AsyncSession, process_id: str) -> None:
    """A process stopping cleanly: its sockets are gone; the caller commits."""
    await session.execute(
        delete(AgentPresence).where(AgentPresence.process_id == process_id),
        execution_options={"synchronize_session": False},
    )


async def online_agents(
    session: AsyncSession, *, now: datetime | None = None, ttl: timedelta = PRESENCE_TTL
) -> set[int]:
    """The agents with a live socket in any hub process."""
    fresh_since = (now or utcnow()) - ttl
    rows = await session.scalars(
        select(AgentPresence.agent_id)
        .where(AgentPresence.sockets > 0, AgentPresence.seen_at >= fresh_since)
        .distinct()
    )
    return set(rows)
