"""`okno import history` and `okno report`, run as real subprocesses against the test database."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.models import Agent, ChannelAccount, Team
from tests.hub.test_cli import okno

WEEK = [
    {
        "type": "message",
        "conversation": "q1",
        "direction": "in",
        "account": "shop",
        "contact": {"name": "Иван", "email": "ivan@example.ru"},
        "at": "2026-03-02T10:00:00+03:00",
        "text": "Где заказ?",
    },
    {
        "type": "message",
        "conversation": "q1",
        "direction": "out",
        "agent": "anna@example.com",
        "at": "2026-03-02T10:20:00+03:00",
        "text": "В пути",
    },
    {"type": "resolve", "conversation": "q1", "at": "2026-03-02T11:00:00+03:00"},
    {
        "type": "message",
        "conversation": "q2",
        "direction": "in",
        "account": "shop",
        "contact": {"phone": "+79161234567"},
        "at": "2026-03-03T23:30:00+03:00",
        "text": "Ночью пишу",
    },
    {
        "type": "message",
        "conversation": "q2",
        "direction": "out",
        "agent": "anna@example.com",
        "at": "2026-03-04T09:30:00+03:00",
        "text": "Доброе утро",
    },
]


async def seed(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        team = Team(name="Support")
        session.add(team)
        await session.flush()
        session.add_all(
            [
                ChannelAccount(name="shop", kind="api", team_id=team.id),
                Agent(email="anna@example.com", name="Анна", password_hash="-"),
            ]
        )
        await session.commit()


async def test_history_import_then_report_as_json_and_as_excel_csv(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str, tmp_path: Path
) -> None:
    await seed(sessionmaker)
    week = tmp_path / "week.jsonl"
    lines = [json.dumps(line, ensure_ascii=False) for line in WEEK]
    week.write_text("\n".join([*lines[:2], '{"type": "resolve"}', *lines[2:]]) + "\n", encoding="utf-8")

    first = await okno("import", "history", str(week), database_url=database_url, cwd=tmp_path)
    assert first.code == 1  # one bad line; the rest is imported
    assert first.err_lines == [f"{week}:3: conversation: Field required"]
    assert json.loads(first.lines[-1]) == {"imported": 5, "already_imported": 0, "refused": 1}
    again = await okno("import", "history", str(week), database_url=database_url, cwd=tmp_path)
    assert json.loads(again.lines[-1]) == {"imported": 0, "already_imported": 5, "refused": 1}

    run = await okno(
        "report",
        "first_response",
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-08",
        "--by",
        "day",
        database_url=database_url,
        cwd=tmp_path,
    )
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert (report["report"], report["from"], report["to"], report["timezone"]) == (
        "first_response",
        "2026-03-02",
        "2026-03-08",
        "Europe/Moscow",
    )
    days = {row["group"]: row for row in report["rows"]}
    assert days["2026-03-02"]["median"] == 1200.0
    assert days["2026-03-03"]["median"] == 36000.0  # the night message belongs to Tuesday, its wait's start

    business = await okno(
        "report",
        "first_response",
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-08",
        "--business-hours",
        "--format",
        "csv",
        "--delimiter",
        ";",
        database_url=database_url,
        cwd=tmp_path,
    )
    assert business.code == 0, business.err
    assert business.out.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(business.out.lstrip("\ufeff")), delimiter=";"))
    assert rows == [{"group": "", "count": "2", "avg": "1500.0", "median": "1500.0", "p90": "1740.0"}]


async def test_a_report_names_a_wrong_option(database_url: str, tmp_path: Path) -> None:
    run = await okno(
        "report",
        "first_response",
        "--from",
        "2026-03-08",
        "--to",
        "2026-03-02",
        database_url=database_url,
        cwd=tmp_path,
    )
    assert run.code == 2 and "--to: the period ends before it starts" in run.err
    run = await okno(
        "report",
        "volume",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-02",
        "--team",
        "Nobody",
        database_url=database_url,
        cwd=tmp_path,
    )
    assert run.code == 2 and "--team: no team named 'Nobody'" in run.err
