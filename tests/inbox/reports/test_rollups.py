"""The day roll-ups answer every wait report exactly as the waits themselves do: each report, grouping,
filter, clock and SLA book, across a DST change, with waits still open, dropped, ended since the last
roll-up pass, and rolled up twice over (a pass that finds nothing to do changes nothing)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.business_hours import BusinessHours, Calendars
from inbox.models import (
    Agent,
    ChannelAccount,
    Contact,
    Conversation,
    ReportRollup,
    ReportRollupState,
    ReportWait,
    Team,
)
from inbox.reports.build import GROUPS, WAIT_REPORTS, ReportRequest, build_report
from inbox.reports.figures import SlaBook, SlaTargets
from inbox.reports.rollup import RollupWorker, roll_up, rollup_zone
from tests.waiting import eventually

ZONE = "Europe/Berlin"  # the clocks go forward on Sunday 29 March 2026
FIRST = date(2026, 3, 23)
LAST = date(2026, 4, 3)
NOW = datetime(2026, 4, 4, 12, 0, tzinfo=UTC)
WORKDAYS = {d: "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")}
CHANNELS = ("email", "telegram", "webchat")


async def make_waits(sessionmaker: async_sessionmaker[AsyncSession], seed: int = 7) -> None:
    """~600 waits over twelve days in three teams (one with none), four agents and three channels: ended,
    open, dropped; a few with no working-time value; starts at every hour, around the DST change too."""
    rng = random.Random(seed)
    async with sessionmaker() as session:
        teams = [Team(name=name) for name in ("Support", "Sales", "Night")]
        agents = [Agent(email=f"a{i}@example.com", name=f"A{i}", password_hash="-") for i in range(4)]
        account = ChannelAccount(name="shop", kind="api")
        contact = Contact(name="x", tags=[], custom_fields={})
        session.add_all([*teams, *agents, account, contact])
        await session.flush()
        conv = Conversation(contact_id=contact.id, account_id=account.id, channel_kind="api")
        session.add(conv)
        await session.flush()
        start = datetime(2026, 3, 22, 20, 0, tzinfo=UTC)  # a day before the period
        for _ in range(600):
            kind = rng.choice(list(WAIT_REPORTS.values()))
            started = start + timedelta(minutes=rng.randrange(13 * 24 * 60))
            team = rng.choice([*teams, None])
            roll = rng.random()
            outcome = "replied" if roll < 0.7 else ("dropped" if roll < 0.8 else None)
            if kind == "resolution" and outcome == "replied":
                outcome = "resolved"
            measured = outcome not in (None, "dropped")
            value = float(rng.choice([0, 30, 600, 3600, rng.randrange(1, 90_000)])) if measured else None
            business = None if value is None or rng.random() < 0.05 else value * rng.random()
            agent = rng.choice([*agents, None]) if outcome is not None else None
            session.add(
                ReportWait(
                    kind=kind,
                    conversation_id=conv.id,
                    channel_kind=rng.choice(CHANNELS),
                    team_id=None if team is None else team.id,
                    agent_id=None if agent is None else agent.id,
                    started_at=started,
                    ended_at=None if outcome is None else started + timedelta(seconds=value or 0),
                    outcome=outcome,
                    value_seconds=value,
                    business_seconds=business,
                )
            )
        await session.commit()


BOOKS = {
    "no-sla": SlaBook(SlaTargets()),
    "wall": SlaBook(
        SlaTargets(first_response=3600, reply=1800, resolution=86400),
        {"Sales": SlaTargets(first_response=600, reply=600, resolution=3600)},
    ),
    "working-hours": SlaBook(
        SlaTargets(first_response=3600, reply=1800, resolution=86400, business_hours=True),
        {"Night": SlaTargets(first_response=7200)},
    ),
}
CALENDARS = Calendars(
    BusinessHours.from_config(ZONE, WORKDAYS, []),
    {"Night": BusinessHours.from_config(ZONE, {d: "18:00-23:59" for d in WORKDAYS}, [])},
)


async def every_report(
    sessionmaker: async_sessionmaker[AsyncSession],
    team_ids: dict[str, int],
    agent_id: int,
    *,
    few: bool = False,
) -> dict[str, list[dict[str, Any]]]:
    """Every wait report in every grouping, both clocks, each SLA book, each filter (`few`: a sample)."""
    found: dict[str, list[dict[str, Any]]] = {}
    filters: dict[str, dict[str, Any]] = {
        "all": {},
        "two-teams": {"team_ids": frozenset((team_ids["Support"], team_ids["Night"]))},
        "channel": {"channel": "telegram"},
        "agent": {"agent_id": agent_id},
    }
    async with sessionmaker() as session:
        for name in WAIT_REPORTS:
            for by in (None, *(g for g in GROUPS if g != "source")):
                for business_hours in (False, True):
                    for book_name, book in BOOKS.items():
                        for filter_name, options in filters.items():
                            if by is not None and filter_name != "all" and book_name != "wall":
                                continue  # enough to show filters and groups combine
                            if few and (book_name != "wall" or filter_name != "all" or business_hours):
                                continue
                            request = ReportRequest(
                                name=name,
                                start=FIRST,
                                end=LAST,
                                timezone=ZONE,
                                by=by,
                                business_hours=business_hours,
                                **options,
                            )
                            report = await build_report(session, request, sla=book, hours=CALENDARS, now=NOW)
                            key = f"{name} by {by} bh={business_hours} {book_name} {filter_name}"
                            found[key] = report.rows
    return found


@pytest.fixture
async def ids(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[dict[str, int], int]:
    await make_waits(sessionmaker)
    async with sessionmaker() as session:
        teams = {name: i for i, name in await session.execute(select(Team.id, Team.name))}
        agent_id = await session.scalar(select(func.min(Agent.id)))
    assert agent_id is not None
    return teams, agent_id


async def test_every_wait_report_reads_the_same_from_the_roll_ups_as_from_the_waits(
    sessionmaker: async_sessionmaker[AsyncSession], ids: tuple[dict[str, int], int]
) -> None:
    from_waits = await every_report(sessionmaker, *ids)
    assert await roll_up(sessionmaker, ZONE) > 0
    async with sessionmaker() as session:
        assert await rollup_zone(session) == ZONE
        assert await session.scalar(select(func.count()).select_from(ReportRollup)) > 0
    from_rollups = await every_report(sessionmaker, *ids)
    for key, rows in from_waits.items():
        assert from_rollups[key] == rows, key


async def test_waits_ended_after_a_pass_count_beside_the_roll_ups_and_join_them_on_the_next(
    sessionmaker: async_sessionmaker[AsyncSession], ids: tuple[dict[str, int], int]
) -> None:
    assert await roll_up(sessionmaker, ZONE) > 0
    # Some open waits end after the pass (as replies would end them): not rolled up yet.
    async with sessionmaker() as session:
        open_ids = list(
            await session.scalars(select(ReportWait.id).where(ReportWait.outcome.is_(None)).limit(40))
        )
        await session.execute(
            update(ReportWait)
            .where(ReportWait.id.in_(open_ids))
            .values(outcome="replied", value_seconds=900.0, business_seconds=300.0)
        )
        await session.commit()
    assert len(open_ids) == 40
    truth = await reports_from_the_waits(sessionmaker, ids)
    assert await every_report(sessionmaker, *ids, few=True) == truth
    assert await roll_up(sessionmaker, ZONE) == 40  # the next pass takes exactly those
    assert await roll_up(sessionmaker, ZONE) == 0
    assert await every_report(sessionmaker, *ids, few=True) == truth


async def reports_from_the_waits(
    sessionmaker: async_sessionmaker[AsyncSession], ids: tuple[dict[str, int], int]
) -> dict[str, list[dict[str, Any]]]:
    """The reports as the waits alone give them: the roll-ups' zone made another for the while."""
    async with sessionmaker() as session:
        await session.execute(update(ReportRollupState).values(zone="UTC"))
        await session.commit()
    try:
        return await every_report(sessionmaker, *ids, few=True)
    finally:
        async with sessionmaker() as session:
            await session.execute(update(ReportRollupState).values(zone=ZONE))
            await session.commit()


async def test_another_zone_rebuilds_the_roll_ups_and_a_report_in_another_zone_reads_the_waits(
    sessionmaker: async_sessionmaker[AsyncSession], ids: tuple[dict[str, int], int]
) -> None:
    truth = await every_report(sessionmaker, *ids, few=True)
    await roll_up(sessionmaker, "Europe/Moscow")
    assert (
        await every_report(sessionmaker, *ids, few=True) == truth
    )  # Berlin reports: the roll-ups are Moscow's
    await roll_up(sessionmaker, ZONE)
    async with sessionmaker() as session:
        assert await rollup_zone(session) == ZONE
    assert await every_report(sessionmaker, *ids, few=True) == truth


async def test_the_worker_rolls_up_in_the_background(
    sessionmaker: async_sessionmaker[AsyncSession], ids: tuple[dict[str, int], int]
) -> None:
    worker = RollupWorker(sessionmaker, ZONE, interval=3600)
    await worker.start()
    try:

        async def nothing_left() -> bool:
            async with sessionmaker() as session:
                left = await session.scalar(
                    select(func.count()).where(ReportWait.outcome.is_not(None), ~ReportWait.rolled)
                )
            return left == 0

        await eventually(nothing_left, "every ended wait rolled up")
    finally:
        await worker.stop()
