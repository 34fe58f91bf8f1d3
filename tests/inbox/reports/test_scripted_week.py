"""A scripted week imported as history, and its figures worked out by hand.

The week (local times, business hours Mon–Fri 09:00–18:00):
* A (e-mail, Support): Mon 10:00 in; 10:30 Anna replies; 11:00 and 11:05 in; 11:20 Boris's note (no reply);
  11:40 Anna replies; 12:00 resolved. Tue 09:00 in (reopens: a new cycle); 09:10 an auto-reply (no reply);
  09:30 Boris replies; 10:00 resolved.
* B (API, Support): Fri 17:00 in; Sat 12:00 in again (the same wait); Sat 12:05 transferred to Sales;
  next Mon 09:30 Vera replies; next Mon 10:00 in — never answered.
* C (API, Sales): Wed 14:00 in — never answered, never resolved.

first_response: A1 1800 s, A2 1800 s, B Fri 17:00 → Mon 09:30 (business 3600 + 1800 = 5400 s); C open.
reply_time: A 1800, A 2400 (from 11:00, not 11:05), A2 1800, B (as first response); two open.
resolution: A1 7200, A2 3600.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.business_hours import BusinessHours
from inbox.history import HistoryError, HistoryImport, parse_line
from inbox.models import Agent, ChannelAccount, Team
from inbox.policy import InboxPolicy
from inbox.reports.build import ReportRequest, build_report
from inbox.reports.figures import SlaTargets

WORKDAYS = {d: "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")}
NOW = datetime(2026, 6, 1, tzinfo=UTC)  # long after the week: open waits are past every SLA
SLA = SlaTargets(first_response=3600, reply=3600, resolution=4 * 3600)

# (time zone, the week's Monday, B's wait Fri 17:00 → Mon 09:30 in wall-clock seconds)
WEEKS = [
    ("Europe/Moscow", date(2026, 3, 2), 232_200),  # no DST
    ("Europe/Berlin", date(2026, 3, 23), 228_600),  # clocks go forward on Sun 29 March: one hour less
]


def script(zone: str, monday: date) -> list[dict[str, Any]]:
    def at(day: int, hh: int, mm: int) -> str:
        local = datetime.combine(monday + timedelta(days=day), datetime.min.time(), ZoneInfo(zone))
        return local.replace(hour=hh, minute=mm).isoformat()

    ivan = {"name": "Иван", "email": "ivan@example.ru"}
    return [
        {
            "type": "message",
            "conversation": "A",
            "direction": "in",
            "account": "mail",
            "contact": ivan,
            "at": at(0, 10, 0),
            "text": "Где мой заказ 1042?",
        },
        {
            "type": "message",
            "conversation": "A",
            "direction": "out",
            "agent": "anna@example.com",
            "at": at(0, 10, 30),
            "text": "Уже в пути.",
        },
        {"type": "message", "conversation": "A", "direction": "in", "at": at(0, 11, 0), "text": "А когда?"},
        {"type": "message", "conversation": "A", "direction": "in", "at": at(0, 11, 5), "text": "Ау"},
        {"type": "note", "conversation": "A", "agent": "boris@example.com", "at": at(0, 11, 20), "text": "?"},
        {
            "type": "message",
            "conversation": "A",
            "direction": "out",
            "agent": "anna@example.com",
            "at": at(0, 11, 40),
            "text": "Завтра.",
        },
        {"type": "resolve", "conversation": "A", "agent": "anna@example.com", "at": at(0, 12, 0)},
        {"type": "message", "conversation": "A", "direction": "in", "at": at(1, 9, 0), "text": "Не пришло"},
        {"type": "auto_reply", "conversation": "A", "at": at(1, 9, 10), "text": "Мы ответим скоро"},
        {
            "type": "message",
            "conversation": "A",
            "direction": "out",
            "agent": "boris@example.com",
            "at": at(1, 9, 30),
            "text": "Проверим.",
        },
        {"type": "resolve", "conversation": "A", "agent": "boris@example.com", "at": at(1, 10, 0)},
        {
            "type": "message",
            "conversation": "B",
            "direction": "in",
            "account": "shop",
            "contact": {"name": "Ольга", "phone": "+79161234567"},
            "at": at(4, 17, 0),
            "text": "Счёт?",
        },
        {"type": "message", "conversation": "B", "direction": "in", "at": at(5, 12, 0), "text": "Жду счёт"},
        {"type": "assign", "conversation": "B", "agent": None, "team": "Sales", "at": at(5, 12, 5)},
        {
            "type": "message",
            "conversation": "B",
            "direction": "out",
            "agent": "vera@example.com",
            "at": at(7, 9, 30),
            "text": "Отправила.",
        },
        {
            "type": "message",
            "conversation": "B",
            "direction": "in",
            "at": at(7, 10, 0),
            "text": "Спасибо, а ещё",
        },
        {
            "type": "message",
            "conversation": "C",
            "direction": "in",
            "account": "shop",
            "contact": {"email": "petr@example.ru"},
            "at": at(2, 14, 0),
            "text": "Есть размер M?",
        },
    ]


async def seed(session: AsyncSession) -> None:
    support, sales = Team(name="Support"), Team(name="Sales")
    session.add_all([support, sales])
    await session.flush()
    session.add_all(
        [
            ChannelAccount(name="mail", kind="email", team_id=support.id),
            ChannelAccount(name="shop", kind="api", team_id=support.id),
            Agent(email="anna@example.com", name="Анна", password_hash="-"),
            Agent(email="boris@example.com", name="Борис", password_hash="-"),
            Agent(email="vera@example.com", name="Вера", password_hash="-"),
        ]
    )
    await session.commit()


async def run_script(
    sessionmaker: async_sessionmaker[AsyncSession], lines: list[dict[str, Any]], zone: str
) -> None:
    importer = HistoryImport(InboxPolicy(business_hours=BusinessHours.from_config(zone, WORKDAYS)))
    for line in lines:
        event, digest = parse_line(json.dumps(line, ensure_ascii=False))
        async with sessionmaker() as session:
            await importer.apply(session, event, digest)


async def report(
    sessionmaker: async_sessionmaker[AsyncSession], name: str, zone: str, monday: date, **options: Any
) -> list[dict[str, Any]]:
    request = ReportRequest(name=name, start=monday, end=monday + timedelta(days=7), timezone=zone, **options)
    async with sessionmaker() as session:
        built = await build_report(
            session, request, sla=SLA, hours=BusinessHours.from_config(zone, WORKDAYS), now=NOW
        )
    return built.rows


@pytest.fixture(params=WEEKS, ids=[w[0] for w in WEEKS])
async def week(
    request: pytest.FixtureRequest, sessionmaker: async_sessionmaker[AsyncSession]
) -> tuple[str, date, int]:
    zone, monday, b_wait = request.param
    async with sessionmaker() as session:
        await seed(session)
    await run_script(sessionmaker, script(zone, monday), zone)
    return zone, monday, b_wait


async def test_first_response_per_cycle_with_reopen_weekend_and_an_unanswered_dialog(
    sessionmaker: async_sessionmaker[AsyncSession], week: tuple[str, date, int]
) -> None:
    zone, monday, b_wait = week
    [row] = await report(sessionmaker, "first_response", zone, monday)
    values = sorted([1800.0, 1800.0, float(b_wait)])
    assert row["count"] == 3
    assert row["avg"] == round(sum(values) / 3, 1)
    assert row["median"] == 1800.0
    assert row["p90"] == round(1800 * 0.2 + b_wait * 0.8, 1)  # rank 0.9 × 2 = 1.8: between the 2nd and 3rd
    # A1 and A2 within the hour; B late; C still open long past its due time.
    assert (row["sla_met"], row["sla_missed"], row["sla_pct"]) == (2, 2, 50.0)


async def test_business_hours_skip_the_night_and_the_weekend(
    sessionmaker: async_sessionmaker[AsyncSession], week: tuple[str, date, int]
) -> None:
    zone, monday, _ = week
    [row] = await report(sessionmaker, "first_response", zone, monday, business_hours=True)
    assert (row["count"], row["median"], row["avg"]) == (3, 1800.0, 3000.0)  # B: Fri 17–18 + Mon 9–9:30


async def test_reply_time_counts_from_the_first_unanswered_message_and_ignores_notes_and_auto_replies(
    sessionmaker: async_sessionmaker[AsyncSession], week: tuple[str, date, int]
) -> None:
    zone, monday, b_wait = week
    [row] = await report(sessionmaker, "reply_time", zone, monday)
    assert row["count"] == 4
    assert row["median"] == 2100.0  # (1800 + 2400) / 2
    assert row["avg"] == round((1800 + 2400 + 1800 + b_wait) / 4, 1)
    assert row["p90"] == round(2400 * 0.3 + b_wait * 0.7, 1)


async def test_resolution_per_resolved_cycle(
    sessionmaker: async_sessionmaker[AsyncSession], week: tuple[str, date, int]
) -> None:
    zone, monday, _ = week
    [row] = await report(sessionmaker, "resolution", zone, monday)
    assert (row["count"], row["avg"], row["median"], row["p90"]) == (2, 5400.0, 5400.0, 6840.0)
    # A1 and A2 within four hours; B's and C's cycles are still open long past their due time: misses.
    assert (row["sla_met"], row["sla_missed"]) == (2, 2)


async def test_a_figure_belongs_to_the_day_its_wait_started_and_the_team_of_then(
    sessionmaker: async_sessionmaker[AsyncSession], week: tuple[str, date, int]
) -> None:
    zone, monday, b_wait = week
    by_day = {r["group"]: r for r in await report(sessionmaker, "first_response", zone, monday, by="day")}
    assert len(by_day) == 8 and all(
        r["count"] == 0 for d, r in by_day.items() if d not in _days(monday, 0, 1, 4)
    )
    assert by_day[_day(monday, 0)]["median"] == 1800.0
    assert by_day[_day(monday, 4)]["median"] == float(b_wait)  # B's wait began on Friday
    assert by_day[_day(monday, 2)]["sla_missed"] == 1  # C: open past due, counted on Wednesday
    by_team = {r["group"]: r for r in await report(sessionmaker, "first_response", zone, monday, by="team")}
    assert by_team["Support"]["count"] == 3  # B was transferred to Sales after its wait began
    by_agent = {
        r["group"]: r["count"] for r in await report(sessionmaker, "first_response", zone, monday, by="agent")
    }
    assert by_agent == {"anna@example.com": 1, "boris@example.com": 1, "vera@example.com": 1, None: 0}


async def test_importing_the_week_again_adds_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], week: tuple[str, date, int]
) -> None:
    zone, monday, _ = week
    before = await report(sessionmaker, "reply_time", zone, monday)
    await run_script(sessionmaker, script(zone, monday), zone)
    assert await report(sessionmaker, "reply_time", zone, monday) == before
    volume = await report(sessionmaker, "volume", zone, monday)
    assert volume == [
        {"group": None, "new_conversations": 3, "inbound": 8, "outbound": 5}
    ]  # the auto-reply is outbound


async def test_an_outbound_message_counts_for_the_team_it_was_sent_for(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Volume files a reply under the conversation's team when it was sent, not the team it was later handed
    to (a Sales supervisor's report would otherwise lose Sales' replies)."""
    zone, monday = "Europe/Moscow", date(2026, 3, 2)
    async with sessionmaker() as session:
        await seed(session)
    at = datetime.combine(monday, datetime.min.time(), ZoneInfo(zone)).replace(hour=10)
    lines: list[dict[str, Any]] = [
        {
            "type": "message",
            "conversation": "D",
            "direction": "in",
            "account": "shop",
            "contact": {"email": "dina@example.ru"},
            "at": at.isoformat(),
            "text": "Счёт, пожалуйста",
        },
        {
            "type": "message",
            "conversation": "D",
            "direction": "out",
            "agent": "anna@example.com",
            "at": (at + timedelta(minutes=10)).isoformat(),
            "text": "Готовлю.",
        },
        {"type": "assign", "conversation": "D", "agent": None, "team": "Sales", "at": at.isoformat()},
    ]
    await run_script(sessionmaker, lines, zone)
    rows = await report(sessionmaker, "volume", zone, monday, by="team")
    assert {r["group"]: r["outbound"] for r in rows} == {"Support": 1}
    async with sessionmaker() as session:
        sales = await session.scalar(select(Team.id).where(Team.name == "Sales"))
    assert sales is not None
    [row] = await report(sessionmaker, "volume", zone, monday, team_ids=frozenset({sales}))
    assert row["outbound"] == 0


def test_a_bad_line_names_what_is_wrong() -> None:
    with pytest.raises(HistoryError, match="direction must be"):
        parse_line(
            '{"type": "message", "conversation": "A", "direction": "sideways", "at": "x", "text": "t"}'
        )
    with pytest.raises(HistoryError, match="at: Input should"):
        parse_line('{"type": "resolve", "conversation": "A", "at": "2026-03-02T10:00:00"}')  # no offset
    with pytest.raises(HistoryError, match="unknown type"):
        parse_line('{"type": "call", "conversation": "A"}')
    with pytest.raises(HistoryError, match="not valid JSON"):
        parse_line("{")


def _day(monday: date, offset: int) -> str:
    return (monday + timedelta(days=offset)).isoformat()


def _days(monday: date, *offsets: int) -> set[str]:
    return {_day(monday, o) for o in offsets}
