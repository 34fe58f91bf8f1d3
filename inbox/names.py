"""Display names by id — of agents, teams and client cards — for lists that show who, without whole rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Agent, Contact, Team


class AgentName(NamedTuple):
    id: int
    name: str


async def agent_names(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    """The names of these agents, by id (None and unknown ids are skipped)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(wanted)))
    return {agent_id: name for agent_id, name in rows}


async def team_names(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    """The names of these teams, by id (None and unknown ids are skipped)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(Team.id, Team.name).where(Team.id.in_(wanted)))
    return {team_id: name for team_id, name in rows}


async def contact_names(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    """The names of these cards, by id; a card without a name maps to "" (the caller shows a stand-in)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(Contact.id, Contact.name).where(Contact.id.in_(wanted)))
    return {contact_id: name or "" for contact_id, name in rows}


async def every_agent_name(session: AsyncSession) -> list[AgentName]:
    """Every agent, active or not, by name: what an agent filter offers."""
    rows = await session.execute(select(Agent.id, Agent.name).order_by(Agent.name, Agent.id))
    return [AgentName(agent_id, name) for agent_id, name in rows]
