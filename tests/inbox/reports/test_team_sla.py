"""Teams with their own business hours and SLA in one report: each wait is measured on the calendar, and
held to the targets, of the team it belonged to when it began (configured in `[business_hours.teams]` and
`[sla.teams]`).

Two teams, Moscow time, Monday 2 March 2026:
* Support keeps the hub's hours (Mon–Fri 09:00–18:00) and SLA (first response 60 min, wall clock).
* Night works 18:00–23:00 on weekdays and answers first within 50 working minutes.
* A (mail, Support) and N (shop, Night): in at Mon 17:30, answered at 18:45 — 4500 s on the wall clock both,
  1800 working seconds for Support (17:30–18:00), 2700 for Night (18:00–18:45). A misses, N hits.
* D (mail, Support) and C (shop, Night): in at Tue 22:50, never answered. At Wed 00:30 (100 minutes later)
  D is past Support's hour; C has waited 600 working seconds of Night's 3000: not yet late.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.settings import Settings, load
from inbox.history import HistoryImport, parse_line
from inbox.models import Agent, ChannelAccount, Team
from inbox.reports.build import ReportRequest, build_report
from inbox.reports.figures import SlaBook, SlaTargets

ZONE = "Europe/Moscow"
MONDAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 4, 0, 30, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)

CONFIG = """
first_response_sla_minutes = 60
[business_hours]
timezone = "Europe/Moscow"
[business_hours.teams."Night"]
mon = "18:00-23:00"
tue = "18:00-23:00"
wed = "18:00-23:00"
thu = "18:00-23:00"
fri = "18:00-23:00"
[sla]
business_hours = false
[sla.teams."Night"]
first_response_minutes = 50
business_hours = true
"""


def at(day: int, hh: int, mm: int) -> str:
    return datetime(2026, 3, 2 + day, hh, mm, tzinfo=ZoneInfo(ZONE)).isoformat()


def script() -> list[dict[str, Any]]:
    def inbound(key: str, account: str, email: str, when: str) -> dict[str, Any]:
        return {
            "type": "message",
            "conversation": key,
            "direction": "in",
            "account": account,
            "contact": {"email": email},
            "at": when,
            "text": "Здравствуйте",
        }

    def reply(key: str, when: str) -> dict[str, Any]:
        return {
            "type": "message",
            "conversation": key,
            "direction": "out",
            "agent": "anna@example.com",
            "at": when,
            "text": "Добрый вечер",
        }

    return [
        inbound("A", "mail", "a@example.ru", at(0, 17, 30)),
        inbound("N", "shop", "n@example.ru", at(0, 17, 30)),
        reply("A", at(0, 18, 45)),
        reply("N", at(0, 18, 45)),
        inbound("D", "mail", "d@example.ru", at(1, 22, 50)),
        inbound("C", "shop", "c@example.ru", at(1, 22, 50)),
    ]


def settings(tmp_path: Path) -> Settings:
    path = tmp_path / "okno.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return load(path)


async def import_week(sessionmaker: async_sessionmaker[AsyncSession], config: Settings) -> None:
    async with sessionmaker() as session:
        support, night = Team(name="Support"), Team(name="Night")
        session.add_all([support, night])
        await session.flush()
        session.add_all(
            [
                ChannelAccount(name="mail", kind="email", team_id=support.id),
                ChannelAccount(name="shop", kind="api", team_id=night.id),
                Agent(email="anna@example.com", name="Анна", password_hash="-"),
            ]
        )
        await session.commit()
    importer = HistoryImport(config.policy())
    for line in script():
        event, digest = parse_line(json.dumps(line, ensure_ascii=False))
        async with sessionmaker() as session:
            await importer.apply(session, event, digest)


async def report(
    sessionmaker: async_sessionmaker[AsyncSession],
    config: Settings,
    sla: SlaBook | None = None,
    **options: Any,
) -> dict[Any, dict[str, Any]]:
    request = ReportRequest(
        name="first_response", start=MONDAY, end=date(2026, 3, 3), timezone=ZONE, **options
    )
    async with sessionmaker() as session:
        built = await build_report(
            session, request, sla=sla or config.sla_book(), hours=config.calendars(), now=NOW
        )
    return {row["group"]: row for row in built.rows}


async def test_each_team_is_measured_on_its_own_calendar_and_held_to_its_own_sla(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    config = settings(tmp_path)
    await import_week(sessionmaker, config)
    wall = await report(sessionmaker, config, by="team")
    assert (wall["Support"]["count"], wall["Support"]["median"]) == (1, 4500.0)
    assert (wall["Night"]["count"], wall["Night"]["median"]) == (1, 4500.0)
    # Support: A late on the wall clock, D open past its hour. Night: N within 50 working minutes, C not due.
    assert (wall["Support"]["sla_met"], wall["Support"]["sla_missed"]) == (0, 2)
    assert (wall["Night"]["sla_met"], wall["Night"]["sla_missed"], wall["Night"]["sla_pct"]) == (1, 0, 100.0)
    working = await report(sessionmaker, config, by="team", business_hours=True)
    assert working["Support"]["median"] == 1800.0  # 17:30–18:00 on the hub's hours
    assert working["Night"]["median"] == 2700.0  # 18:00–18:45 on Night's own
    [everyone] = (await report(sessionmaker, config)).values()
    assert (everyone["count"], everyone["sla_met"], everyone["sla_missed"]) == (2, 1, 2)


async def test_wall_clock_targets_per_team_count_open_waits_past_their_own_due_time(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    config = settings(tmp_path)
    await import_week(sessionmaker, config)
    # Night on the wall clock with 70 minutes: N (75 min) is late, and so is C (open for 100 min).
    book = SlaBook(SlaTargets(first_response=3600), {"Night": SlaTargets(first_response=4200)})
    rows = await report(sessionmaker, config, sla=book, by="team")
    assert (rows["Support"]["sla_met"], rows["Support"]["sla_missed"]) == (0, 2)
    assert (rows["Night"]["sla_met"], rows["Night"]["sla_missed"]) == (0, 2)
    # Only Night has a first-response target: Support's waits are neither hits nor misses.
    book = SlaBook(SlaTargets(), {"Night": SlaTargets(first_response=86400)})
    rows = await report(sessionmaker, config, sla=book, by="team")
    assert (rows["Night"]["sla_met"], rows["Night"]["sla_missed"]) == (1, 0)
    assert (rows["Support"]["sla_met"], rows["Support"]["sla_missed"]) == (0, 0)


def test_a_team_section_inherits_what_it_leaves_out(tmp_path: Path) -> None:
    config = settings(tmp_path)
    book, calendars = config.sla_book(), config.calendars()
    assert book.of("Night") == SlaTargets(first_response=3000.0, business_hours=True)
    assert book.of("Support") == book.default == SlaTargets(first_response=3600.0)
    night = calendars.of("Night")
    assert night.timezone == ZONE and night.week[5] == [] and calendars.of("Support") is calendars.default
