"""What supervisors see of routing: each agent's status, presence, load and capacity, and the queues.

Scoped like everything else: an admin sees every agent, a supervisor the agents who share a team with
them (and the queues of their teams); an agent sees no board, only the queues of their own teams.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from inbox.conversations import Viewer
from inbox.models import Agent, Team, agent_teams
from inbox.routing.availability import presence_of
from inbox.routing.capacity import capacity_of, loads


async def availability_board(session: AsyncSession, viewer: Viewer, now: datetime) -> list[dict[str, Any]]:
    """Every agent the viewer supervises, with status, presence, open load and capacity."""
    stmt = select(Agent).where(Agent.is_active).options(selectinload(Agent.teams)).order_by(Agent.id)
    if not viewer.is_admin:
        shared = select(agent_teams.c.agent_id).where(agent_teams.c.team_id.in_(sorted(viewer.team_ids)))
        stmt = stmt.where(Agent.id.in_(shared))
    agents = list(await session.scalars(stmt))
    presence = await presence_of(session, now, (a.id for a in agents))
    load = await loads(session, agents, None)
    teams: dict[int, Team] = {t.id: t for a in agents for t in a.teams}
    board = []
    for agent in agents:
        team = next((teams[t.id] for t in agent.teams if t.agent_capacity is not None), None)
        board.append(
            {
                "agent_id": agent.id,
                "name": agent.name,
                "status": agent.status,
                "presence": presence.get(agent.id, "offline"),
                "open": load[agent.id].open_total,
                "capacity": capacity_of(agent, team),
                "channel_capacity": load[agent.id].channel_capacity,
                "team_ids": sorted(t.id for t in agent.teams),
                "last_assigned_at": agent.last_assigned_at,
            }
        )
    return board
