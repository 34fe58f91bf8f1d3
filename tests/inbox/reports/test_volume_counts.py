"""Volume adds up the roll-ups (report_counts, kept by triggers on reporting_events) and answers what counting
the events answers: every grouping and filter, in a whole-hour zone across a DST change and in Kathmandu
(5:45 off UTC: the days' counts and the period's ragged ends), after events were moved and deleted."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from inbox.business_hours import BusinessHours
from inbox.models import Agent, ReportCount, ReportingEvent, Team
from inbox.reports.build import WEEKDAYS, ReportRequest, build_report
from inbox.reports.figures import SlaTargets
from tests.waiting import eventually, resolved

NAMES = ("conversation_opened", "message_received", "message_sent", "first_response")
FIELDS = {
    "conversation_opened": "new_conversations",
    "message_received": "inbound",
    "message_sent": "outbound",
}


async def hub_of_events(session: AsyncSession, first: date, days: int) -> None:
    """Events all through the period and two days each side; then a team deleted (its events' team_id set
    to NULL), an event moved to another team and time, and one deleted — as a hub's history goes."""
    teams = [Team(name=n) for n in ("Sales", "Support", "Gone")]
    agents = [Agent(email=f"a{i}@example.com", name=f"A{i}", password_hash="-") for i in range(3)]
    session.add_all([*teams, *agents])
    await session.flush()
    rnd = random.Random(13)
    t0 = datetime(first.year, first.month, first.day, tzinfo=UTC) - timedelta(days=2)
    for _ in range(1500):
        session.add(
            ReportingEvent(
                name=rnd.choice(NAMES),
                occurred_at=t0 + timedelta(seconds=rnd.randrange((days + 4) * 86400)),
                team_id=rnd.choice([None, *[t.id for t in teams]]),
                channel_kind=rnd.choice([None, "email", "telegram"]),
                agent_id=rnd.choice([None, *[a.id for a in agents]]),
            )
        )
    await session.commit()
    await session.delete(teams[2])
    await session.commit()
    e = ReportingEvent
    moved = await session.scalar(select(e.id).where(e.name == "message_sent").order_by(e.id).limit(1))
    gone = await session.scalar(select(e.id).where(e.name == "message_received").order_by(e.id).limit(1))
    await session.execute(
        update(e).where(e.id == moved).values(team_id=teams[0].id, occurred_at=t0 + timedelta(days=3))
    )
    await session.execute(delete(e).where(e.id == gone))
    await session.commit()


async def by_definition(session: AsyncSession, req: ReportRequest) -> dict[Any, tuple[int, int, int]]:
    """Volume counted from the events one by one, as docs/reports.md defines it."""
    teams = {i: n for i, n in await session.execute(select(Team.id, Team.name))}
    agents = {i: m for i, m in await session.execute(select(Agent.id, Agent.email))}
    start, end = req.window()
    counts: dict[Any, list[int]] = {}
    for name, at, team, channel, agent in await session.execute(
        select(
            ReportingEvent.name,
            ReportingEvent.occurred_at,
            ReportingEvent.team_id,
            ReportingEvent.channel_kind,
            ReportingEvent.agent_id,
        )
    ):
        if name not in FIELDS or not start <= at < end:
            continue
        if req.team_ids is not None and team not in req.team_ids:
            continue
        if req.channel is not None and channel != req.channel:
            continue
        if name == "message_sent" and req.agent_id is not None and agent != req.agent_id:
            continue
        local = at.astimezone(req.zone)
        key = {
            None: None,
            "team": teams.get(team),
            "agent": agents.get(agent),
            "channel": channel,
            "day": local.date().isoformat(),
            "hour": local.hour,
            "weekday": WEEKDAYS[local.weekday()],
        }[req.by]
        counts.setdefault(key, [0, 0, 0])[list(FIELDS).index(name)] += 1
    return {k: (o, i, s) for k, (o, i, s) in counts.items()}


@pytest.mark.parametrize(
    ("zone", "first"),
    [("America/New_York", date(2026, 3, 5)), ("Asia/Kathmandu", date(2026, 3, 1))],
    ids=["new-york-dst", "kathmandu"],
)
async def test_volume_from_the_roll_ups_equals_the_events_counted_one_by_one(
    session: AsyncSession, zone: str, first: date
) -> None:
    await hub_of_events(session, first, days=10)
    sales = await session.scalar(select(Team.id).where(Team.name == "Sales"))
    agent = await session.scalar(select(Agent.id).where(Agent.email == "a1@example.com"))
    assert sales is not None and agent is not None
    filters: list[dict[str, Any]] = [{}, {"team_ids": frozenset({sales})}, {"channel": "email"}]
    filters.append({"agent_id": agent})
    for by in (None, "team", "channel", "agent", "day", "hour", "weekday"):
        for chosen in filters:
            req = ReportRequest(
                name="volume", start=first, end=first + timedelta(days=9), timezone=zone, by=by, **chosen
            )
            report = await build_report(
                session, req, sla=SlaTargets(), hours=BusinessHours.from_config(zone, {})
            )
            got = {
                r["group"]: (r["new_conversations"], r["inbound"], r["outbound"])
                for r in report.rows
                if r["new_conversations"] or r["inbound"] or r["outbound"]
            }
            assert got == await by_definition(session, req), (by, chosen)


async def test_two_transactions_counting_the_same_hours_in_opposite_orders_do_not_deadlock(
    engine: AsyncEngine,
) -> None:
    """PostgreSQL: a statement's counts are taken in key order, so a batch that names B before A waits for
    A (held by another transaction) holding nothing — that one can still count B and commit."""
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks of concurrent writers: SQLite has one writer at a time")
    events = ReportingEvent.__table__
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    a, b = ({"name": "message_received", "occurred_at": at, "channel_kind": c} for c in ("email", "telegram"))
    async with engine.connect() as first, engine.connect() as second, engine.connect() as watcher:
        await first.begin()
        await second.begin()
        await first.execute(insert(events).values([a]))  # holds A's hour and day
        pid = await second.scalar(text("SELECT pg_backend_pid()"))
        blocked = asyncio.create_task(second.execute(insert(events).values([b, a])))

        async def waits_for_a_lock() -> bool:
            found = await watcher.scalar(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
            await watcher.rollback()  # a fresh snapshot of pg_stat_activity on each look
            return found == "Lock"

        await eventually(waits_for_a_lock, "the second batch to wait for A")
        await first.execute(insert(events).values([b]))  # B is free: the second batch holds nothing yet
        await first.commit()
        await resolved(blocked, "the second batch, once A is free")
        await second.commit()
        counts = await watcher.execute(select(ReportCount.width, ReportCount.channel_kind, ReportCount.n))
        assert sorted(tuple(r) for r in counts) == [
            ("d", "email", 2),
            ("d", "telegram", 2),
            ("h", "email", 2),
            ("h", "telegram", 2),
        ]
