"""The drill-down of the volume, leads and calls reports: the facts behind each group, counted exactly as the
report counts them (every grouping, the scripted week in two time zones), and what each row tells."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.business_hours import BusinessHours
from inbox.calls import CallSettings, ingest_call
from inbox.items import CallEvent
from inbox.models import Agent, ChannelAccount, Contact, Conversation, Team
from inbox.reports.build import GROUPS, ReportRequest, build_report
from inbox.reports.drill import DrillPage, drill_down
from inbox.reports.figures import SlaBook
from tests.inbox.reports.test_scripted_week import NOW, SLA, WEEKS, WORKDAYS, run_script, script, seed

DID = "+74951234567"
SETTINGS = CallSettings.from_options({"did_sources": {DID: "Яндекс.Директ"}})
COUNTED = {"volume": "new_conversations", "leads": "new_leads", "calls": "count"}


def call(account: ChannelAccount, call_id: str, stage: str, at: datetime, **fields: Any) -> CallEvent:
    data: dict[str, Any] = {
        "direction": "inbound",
        "from_number": "+79139097332",
        "to_number": DID,
        "did": DID,
    }
    data.update(fields)
    return CallEvent(
        account_id=account.id, call_id=call_id, event_id=f"{call_id}-{stage}", stage=stage, at=at, **data
    )  # type: ignore[arg-type]


async def calls_on(session: AsyncSession, zone: str, day: date) -> None:
    """On `day` at 15:00 local: a missed call (rang 20 s), called back 40 min later by Boris (ext. 101);
    at 17:00 another number's missed call, never called back."""
    sales = await session.scalar(select(Team).where(Team.name == "Sales"))
    assert sales is not None
    account = ChannelAccount(name="pbx", kind="sip", team_id=sales.id)
    session.add(account)
    boris = await session.scalar(select(Agent).where(Agent.email == "boris@example.com"))
    assert boris is not None
    boris.extension = "101"
    await session.commit()
    missed = datetime.combine(day, time(15), ZoneInfo(zone)).astimezone(UTC)
    other = missed + timedelta(hours=2)
    for item in [
        call(account, "c1", "hangup", missed, started_at=missed - timedelta(seconds=20)),
        call(
            account,
            "c2",
            "ring",
            missed + timedelta(minutes=40),
            direction="outbound",
            from_number=DID,
            to_number="+79139097332",
            extension="101",
        ),
        call(
            account,
            "c2",
            "answer",
            missed + timedelta(minutes=40, seconds=5),
            direction="outbound",
            from_number=DID,
            to_number="+79139097332",
            extension="101",
        ),
        call(
            account,
            "c2",
            "hangup",
            missed + timedelta(minutes=45, seconds=5),
            direction="outbound",
            from_number=DID,
            to_number="+79139097332",
            extension="101",
        ),
        call(
            account,
            "c3",
            "hangup",
            other,
            started_at=other - timedelta(seconds=30),
            from_number="+79160000001",
        ),
    ]:
        await ingest_call(session, item, settings=SETTINGS)
        await session.commit()


@pytest.fixture(params=WEEKS, ids=[w[0] for w in WEEKS])
async def week(
    request: pytest.FixtureRequest, sessionmaker: async_sessionmaker[AsyncSession]
) -> tuple[str, date]:
    zone, monday, _ = request.param
    async with sessionmaker() as session:
        await seed(session)
    await run_script(sessionmaker, script(zone, monday), zone)
    async with sessionmaker() as session:
        await calls_on(session, zone, monday + timedelta(days=2))
        first = await session.scalar(select(Contact).order_by(Contact.id))
        assert first is not None
        first.kind = "client"  # Иван, of conversation A
        await session.commit()
    return zone, monday


def request_for(name: str, zone: str, monday: date, **options: Any) -> ReportRequest:
    return ReportRequest(name=name, start=monday, end=monday + timedelta(days=7), timezone=zone, **options)


async def drill(
    sessionmaker: async_sessionmaker[AsyncSession], req: ReportRequest, group: str | None, limit: int = 200
) -> DrillPage:
    async with sessionmaker() as session:
        return await drill_down(
            session, req, group, sla=SlaBook.of_targets(SLA), calendars=_calendars(req), now=NOW, limit=limit
        )


def _calendars(req: ReportRequest) -> Any:
    from inbox.business_hours import Calendars

    return Calendars(BusinessHours.from_config(req.timezone, WORKDAYS))


@pytest.mark.parametrize("name", list(COUNTED))
async def test_every_group_drills_down_to_exactly_as_many_facts_as_the_report_counts(
    sessionmaker: async_sessionmaker[AsyncSession], week: tuple[str, date], name: str
) -> None:
    zone, monday = week
    groupings = [None, *(g for g in GROUPS if g != "source" or name == "leads")]
    checked = 0
    for by in groupings:
        req = request_for(name, zone, monday, by=by)
        async with sessionmaker() as session:
            report = await build_report(
                session, req, sla=SLA, hours=BusinessHours.from_config(zone, WORKDAYS), now=NOW
            )
        for row in report.rows:
            group = None if row["group"] is None else str(row["group"])
            page = await drill(sessionmaker, req, group)
            assert (by, group, page.total) == (by, group, row[COUNTED[name]])
            assert len(page.rows) == page.total  # all on one page of 200
            checked += page.total
    assert checked > 0


async def test_the_volume_drill_down_lists_the_new_conversations_of_a_day_with_their_team(
    sessionmaker: async_sessionmaker[AsyncSession], week: tuple[str, date]
) -> None:
    zone, monday = week
    page = await drill(sessionmaker, request_for("volume", zone, monday, by="day"), monday.isoformat())
    assert page.total == 1  # A opens on Monday (its reopening on Tuesday is not a new conversation)
    [row] = page.rows
    async with sessionmaker() as session:
        conversation = await session.get(Conversation, row.conversation_id)
    assert conversation is not None and conversation.contact_id == row.contact_id
    assert (row.client, row.channel, row.team, row.wait_id) == ("Иван", "email", "Support", None)
    api = await drill(sessionmaker, request_for("volume", zone, monday, by="channel"), "api")
    assert api.total == 2 and {r.channel for r in api.rows} == {"api"}  # B and C


async def test_the_leads_drill_down_tells_the_source_the_first_conversation_and_who_became_a_client(
    sessionmaker: async_sessionmaker[AsyncSession], week: tuple[str, date]
) -> None:
    zone, monday = week
    directed = await drill(sessionmaker, request_for("leads", zone, monday, by="source"), "Яндекс.Директ")
    assert directed.total == 2  # the two callers
    assert {r.source for r in directed.rows} == {"Яндекс.Директ"}
    assert [r.became_client for r in directed.rows] == [False, False]
    everyone = await drill(sessionmaker, request_for("leads", zone, monday), None)
    ivan = next(r for r in everyone.rows if r.client == "Иван")
    assert ivan.became_client is True and ivan.conversation_id is not None
    async with sessionmaker() as session:
        first = await session.scalar(
            select(Conversation.id)
            .where(Conversation.contact_id == ivan.contact_id)
            .order_by(Conversation.id)
        )
    assert ivan.conversation_id == first
    # A supervisor of Sales: only the cards with a conversation in Sales; their first one there.
    async with sessionmaker() as session:
        sales = await session.scalar(select(Team.id).where(Team.name == "Sales"))
    assert sales is not None
    scoped = await drill(sessionmaker, request_for("leads", zone, monday, team_ids=frozenset({sales})), None)
    assert "Иван" not in {r.client for r in scoped.rows}
    assert {r.team for r in scoped.rows if r.conversation_id is not None} <= {"Sales"}


async def test_the_calls_drill_down_tells_answered_missed_times_and_the_callback(
    sessionmaker: async_sessionmaker[AsyncSession], week: tuple[str, date]
) -> None:
    zone, monday = week
    page = await drill(sessionmaker, request_for("calls", zone, monday, by="hour"), "15")
    assert page.total == 1  # the callback at 15:40 (the missed call rang from 14:59:40)
    [back] = page.rows
    assert (back.direction, back.disposition, back.agent) == ("outbound", "answered", "boris@example.com")
    assert (back.talking_seconds, back.callback_seconds) == (300.0, None)
    whole = await drill(sessionmaker, request_for("calls", zone, monday), None)
    assert [(r.direction, r.disposition) for r in whole.rows] == [
        ("inbound", "missed"),
        ("outbound", "answered"),
        ("inbound", "missed"),
    ]
    first, _, never = whole.rows
    assert (first.waiting_seconds, first.callback_seconds) == (20.0, 40 * 60 + 5.0)
    assert (never.waiting_seconds, never.callback_seconds) == (30.0, None)
    assert {r.team for r in whole.rows} == {"Sales"} and {r.channel for r in whole.rows} == {"sip"}
    # Calls have no team dimension: by team, every call is in the "none" row, as the report prints it.
    assert (await drill(sessionmaker, request_for("calls", zone, monday, by="team"), None)).total == 3
    assert (await drill(sessionmaker, request_for("calls", zone, monday, by="team"), "Sales")).total == 0


async def test_a_page_of_a_drill_down_is_the_next_facts_in_time_order(
    sessionmaker: async_sessionmaker[AsyncSession], week: tuple[str, date]
) -> None:
    zone, monday = week
    req = request_for("calls", zone, monday)
    async with sessionmaker() as session:
        pages = [
            await drill_down(
                session,
                req,
                None,
                sla=SlaBook.of_targets(SLA),
                calendars=_calendars(req),
                now=NOW,
                limit=2,
                offset=offset,
            )
            for offset in (0, 2)
        ]
    assert [p.total for p in pages] == [3, 3]
    ids = [r.call_id for p in pages for r in p.rows]
    assert len(ids) == len(set(ids)) == 3
    assert [r.started_at for p in pages for r in p.rows] == sorted(
        r.started_at for p in pages for r in p.rows
    )
