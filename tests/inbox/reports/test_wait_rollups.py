"""The wait reports from the roll-ups (report_wait_sums, kept by triggers on report_waits) equal the same
reports read from the waits: random waits (open, ended, dropped, moved, reopened, deleted; values from
fractions of a second to weeks, on bucket edges and on the SLA threshold), every grouping and filter,
wall-clock and business-hours seconds, in a DST zone and in Kathmandu (5:45 off UTC: by day, hour or weekday
the waits are read; by team, channel or agent the days' sums and the ragged ends)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

import inbox.reports.build as build
from inbox.business_hours import BusinessHours
from inbox.models import Agent, ChannelAccount, Contact, Conversation, ReportWait, ReportWaitSum, Team
from inbox.reports.build import ReportRequest, build_report
from inbox.reports.figures import SlaBook, SlaTargets
from inbox.reports.wait_sums import bucket_of, edges

FIRST = date(2026, 3, 5)  # New York: the clocks go forward on 8 March
DAYS = 10
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
SLA = SlaTargets(first_response=600, reply=3600, resolution=86400)
KINDS = ("first_response", "reply", "resolution")


def _value(rnd: random.Random) -> float:
    pick = rnd.random()
    if pick < 0.1:
        return rnd.choice([0.0, 0.5, 7.99, 8.0, 3600.0, 3584.0, 4096.0, 600.0])  # edges and thresholds
    if pick < 0.2:
        return float(rnd.randrange(0, 8))
    if pick < 0.9:
        return round(rnd.uniform(8, 8000), 3)
    return round(rnd.uniform(8000, 3_000_000), 1)


async def hub_of_waits(session: AsyncSession) -> None:
    teams = [Team(name=n) for n in ("Sales", "Support")]
    agents = [Agent(email=f"a{i}@example.com", name=f"A{i}", password_hash="-") for i in range(3)]
    account = ChannelAccount(name="shop", kind="api")
    contact = Contact(name="x", tags=[], custom_fields={})
    session.add_all([*teams, *agents, account, contact])
    await session.flush()
    conv = Conversation(contact_id=contact.id, account_id=account.id, channel_kind="api")
    session.add(conv)
    await session.flush()
    rnd = random.Random(18)
    t0 = datetime(FIRST.year, FIRST.month, FIRST.day, tzinfo=UTC) - timedelta(days=2)
    rows: list[dict[str, Any]] = []
    for _ in range(1200):
        started = t0 + timedelta(seconds=rnd.randrange((DAYS + 4) * 86400))
        outcome = rnd.choice([None, "replied", "replied", "replied", "resolved", "dropped"])
        value = None if outcome in (None, "dropped") else _value(rnd)
        rows.append(
            {
                "kind": rnd.choice(KINDS),
                "conversation_id": conv.id,
                "channel_kind": rnd.choice(["email", "telegram"]),
                "team_id": rnd.choice([None, teams[0].id, teams[1].id]),
                "agent_id": None if outcome is None else rnd.choice([None, *[a.id for a in agents]]),
                "started_at": started,
                "outcome": outcome,
                "value_seconds": value,
                "business_seconds": None if value is None else value * rnd.choice([0.0, 0.5, 1.0]),
            }
        )
    await session.execute(insert(ReportWait), rows)
    await session.commit()
    w = ReportWait
    ids = list(await session.scalars(select(w.id).order_by(w.id)))
    # An open wait ends, an ended one is measured again (moved to another hour and value), one reopened
    # (its end undone), one dropped, one deleted — each in its own transaction, as a hub's history goes.
    opened = await session.scalar(select(w.id).where(w.outcome.is_(None)).order_by(w.id).limit(1))
    await session.execute(
        update(w).where(w.id == opened).values(outcome="replied", value_seconds=42.5, business_seconds=1.0)
    )
    await session.execute(
        update(w)
        .where(w.id == ids[1])
        .values(outcome="replied", value_seconds=3600.0, started_at=t0 + timedelta(days=5, minutes=7))
    )
    await session.execute(
        update(w).where(w.id == ids[2]).values(outcome=None, value_seconds=None, business_seconds=None)
    )
    await session.execute(update(w).where(w.id == ids[3]).values(outcome="dropped", value_seconds=None))
    await session.execute(delete(w).where(w.id == ids[4]))
    await session.commit()


async def test_the_sums_equal_the_waits_added_up(session: AsyncSession) -> None:
    await hub_of_waits(session)
    w = ReportWait
    want: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for kind, started, outcome, value, team, channel, agent in await session.execute(
        select(w.kind, w.started_at, w.outcome, w.value_seconds, w.team_id, w.channel_kind, w.agent_id)
    ):
        if value is not None and outcome != "dropped":
            hour = started.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
            day = hour.replace(hour=0)
            bucket = bucket_of(value)
            want[("h", kind, hour, 0, "", 0, bucket)].append(value)
            want[("t", kind, day, team or 0, "", 0, bucket)].append(value)
            want[("c", kind, day, 0, channel, 0, bucket)].append(value)
            want[("a", kind, day, 0, "", agent or 0, bucket)].append(value)
    s = ReportWaitSum
    got = {
        (width, kind, at.astimezone(UTC), team, channel, agent, bucket): (n, total)
        for width, kind, at, team, channel, agent, bucket, n, total in await session.execute(
            select(s.width, s.kind, s.start, s.team_id, s.channel_kind, s.agent_id, s.bucket, s.n, s.total)
        )
        if n
    }
    assert sorted(got) == sorted(want)
    for key, values in want.items():
        assert got[key][0] == len(values)
        assert got[key][1] == pytest.approx(sum(values))


def test_buckets_hold_the_values_between_their_edges() -> None:
    for value in [0.0, 0.99, 1.0, 7.999, 8.0, 9.0, 15.99, 16.0, 3584.0, 3600.0, 4095.9, 4096.0, 2.0**33]:
        low, high = edges(bucket_of(value))
        assert low <= value < high, value
    assert [bucket_of(v) for v in (7.5, 8.0, 9.0, 16.0, 18.0)] == [7, 8, 9, 16, 17]


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kathmandu"], ids=["new-york-dst", "kathmandu"])
async def test_wait_reports_from_the_roll_ups_equal_the_reports_from_the_waits(
    session: AsyncSession, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await hub_of_waits(session)
    sales = await session.scalar(select(Team.id).where(Team.name == "Sales"))
    agent = await session.scalar(select(Agent.id).where(Agent.email == "a1@example.com"))
    assert sales is not None and agent is not None
    hours = BusinessHours.from_config(zone, {d: "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")})
    filters: list[dict[str, Any]] = [{}, {"team_ids": frozenset({sales})}, {"channel": "email"}]
    filters.append({"agent_id": agent})
    books = [SLA, SlaTargets(reply=3600), SlaTargets(), SlaBook(SLA, {"Sales": SlaTargets(reply=60)})]
    for name in ("first_response", "reply_time", "resolution"):
        for by in (None, "team", "channel", "agent", "day", "hour", "weekday"):
            for chosen in [*filters, {"business_hours": True}]:
                for sla in books if not chosen and by in (None, "hour") else books[:1]:
                    req = ReportRequest(
                        name=name,
                        start=FIRST,
                        end=FIRST + timedelta(days=DAYS - 1),
                        timezone=zone,
                        by=by,
                        **chosen,
                    )
                    reports = []
                    for rolled in (True, False):
                        monkeypatch.setattr(build, "WAIT_ROLLUPS", rolled)
                        report = await build_report(session, req, sla=sla, hours=hours, now=NOW)
                        reports.append(report.rows)
                    assert reports[0] == reports[1], (name, by, chosen, sla)
                    assert any(r["count"] for r in reports[0]), (name, by, chosen)


async def test_postgresql_reads_the_wait_sums_from_their_key_index_alone(session: AsyncSession) -> None:
    """The key index of report_wait_sums carries n and total on PostgreSQL: a report's read of a period's
    sums is an index-only scan (SQLite's table is its key's index already)."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite keeps report_wait_sums in its key's order (WITHOUT ROWID)")
    definition = await session.scalar(text("SELECT pg_get_indexdef(to_regclass('pk_report_wait_sums'))"))
    assert definition is not None and definition.endswith("INCLUDE (n, total)"), definition
