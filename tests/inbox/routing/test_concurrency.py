"""Two hub processes ingesting and routing into one team at once never exceed an agent's capacity and
never assign one dialog twice (SQLite: the write lock; PostgreSQL: row locks and SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import AuditLog, Conversation, utcnow
from tests.inbox.routing.setup import assignment_counts, online, team_with_agents
from tests.waiting import resolved

ROOT = Path(__file__).resolve().parents[3]
AGENTS, CAPACITY, PER_PROCESS = 4, 25, 80


async def test_two_processes_ingesting_at_once_stay_within_capacity_and_assign_each_dialog_once(
    session: AsyncSession, database_url: str
) -> None:
    _, agents, account = await team_with_agents(session, AGENTS, capacity=CAPACITY)
    for agent in agents:
        await online(session, agent, utcnow())
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.inbox.routing.ingest_process",
            database_url,
            str(account.id),
            str(first),
            str(PER_PROCESS),
            cwd=ROOT,
            env=env,
        )
        for first in (0, PER_PROCESS)
    ]
    codes = [await resolved(p.wait(), "an ingesting process ends") for p in processes]
    assert codes == [0, 0]

    counts = await assignment_counts(session)
    assert sum(counts.values()) == 2 * PER_PROCESS
    assert {counts[a.id] for a in agents} == {CAPACITY}  # everyone full, nobody over
    assert counts[None] == 2 * PER_PROCESS - AGENTS * CAPACITY
    assigns = Counter(
        await session.scalars(select(AuditLog.entity_id).where(AuditLog.action == "conversation.assign"))
    )
    assert len(assigns) == AGENTS * CAPACITY and set(assigns.values()) == {1}  # each dialog assigned once
    queued = await session.scalar(
        select(func.count()).where(Conversation.assignee_id.is_(None), Conversation.queued_at.is_not(None))
    )
    assert queued == counts[None]
