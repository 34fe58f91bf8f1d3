"""The database computes the same figures as the definition: percentile_cont on SQLite and PostgreSQL alike,
and local days and hours across a DST change."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Integer, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.business_hours import BusinessHours
from inbox.models import ChannelAccount, Contact, Conversation, ReportWait
from inbox.reports import sql
from inbox.reports.build import ReportRequest, build_report
from inbox.reports.figures import SlaTargets, Summary, percentile
from inbox.reports.sql import local_bucket, offsets, summaries

T0 = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)  # Berlin: the clocks go forward at 01:00 UTC on 29 March


def test_percentile_interpolates_between_closest_ranks_like_percentile_cont() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([10.0, 20.0], 0.9) == 19.0
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([], 0.5) is None


async def waits(session: AsyncSession, values: list[float]) -> None:
    account = ChannelAccount(name="shop", kind="api")
    contact = Contact(name="x", tags=[], custom_fields={})
    session.add_all([account, contact])
    await session.flush()
    conv = Conversation(contact_id=contact.id, account_id=account.id, channel_kind="api")
    session.add(conv)
    await session.flush()
    for n, value in enumerate(values):
        session.add(
            ReportWait(
                kind="reply",
                conversation_id=conv.id,
                channel_kind="api",
                team_id=None,
                started_at=T0 + timedelta(minutes=30 * n),
                outcome="replied",
                value_seconds=value,
            )
        )
    await session.commit()


@pytest.mark.parametrize("in_value_order", [False, True], ids=["ranked", "value-order"])
@pytest.mark.parametrize("size", [1, 2, 3, 4, 10, 37])
async def test_summaries_in_sql_equal_the_definition(
    session: AsyncSession, size: int, in_value_order: bool
) -> None:
    values = [float(random.Random(size).randrange(1, 100_000)) for _ in range(size)]
    values = [v + i for i, v in enumerate(values)]
    await waits(session, values)
    where = [ReportWait.kind == "reply"]
    found = await summaries(session, ReportWait.value_seconds, None, where, in_value_order=in_value_order)
    [(key, got)] = found.items()
    want = Summary.of(values)
    assert key is None and got.count == want.count
    assert got.avg == pytest.approx(want.avg)
    assert got.median == pytest.approx(want.median)
    assert got.p90 == pytest.approx(want.p90)


async def test_summaries_per_group_pick_each_groups_own_ranks(session: AsyncSession) -> None:
    # Groups of 1, 12 and 40 values: the ranks one group needs are other groups' ranks too.
    values = [float(n * 7 % 101) + n / 1000 for n in range(53)]
    sizes = {0: 1, 1: 12, 2: 40}
    group_of = [g for g, size in sizes.items() for _ in range(size)]
    await waits(session, values)
    group = cast(ReportWait.started_at > T0 + timedelta(minutes=15), Integer) + cast(
        ReportWait.started_at > T0 + timedelta(minutes=30 * 12 + 15), Integer
    )
    got = await summaries(session, ReportWait.value_seconds, group, [ReportWait.kind == "reply"])
    assert sorted(got) == [0, 1, 2]
    for g in sizes:
        want = Summary.of([v for v, of in zip(values, group_of, strict=True) if of == g])
        assert got[g].count == want.count and got[g].avg == pytest.approx(want.avg)
        assert got[g].median == pytest.approx(want.median) and got[g].p90 == pytest.approx(want.p90)


async def test_local_hours_follow_the_zone_across_a_dst_change(session: AsyncSession) -> None:
    await waits(session, [1.0] * 12)  # every half hour from 21:00 Berlin time on Saturday
    zone = ZoneInfo("Europe/Berlin")
    start, end = T0 - timedelta(days=1), T0 + timedelta(days=1)
    assert [o for _, o in offsets(zone, start, end)] == [60, 120]
    hour = local_bucket(session, ReportWait.started_at, "hour", zone, start, end)
    day = local_bucket(session, ReportWait.started_at, "day", zone, start, end)
    got = [
        (str(d), int(h)) for d, h in await session.execute(select(day, hour).order_by(ReportWait.started_at))
    ]
    want = [
        (t.astimezone(zone).date().isoformat(), t.astimezone(zone).hour)
        for t in (T0 + timedelta(minutes=30 * n) for n in range(12))
    ]
    assert got == want and ("2026-03-29", 3) in got and ("2026-03-29", 2) not in got  # 02:00 never happened


@pytest.mark.parametrize("zone_name", ["Europe/Berlin", "Asia/Kathmandu"])
async def test_wait_reports_by_day_hour_and_weekday_equal_the_definition(
    session: AsyncSession, zone_name: str
) -> None:
    # Three days of waits across Berlin's DST change (Kathmandu: a zone 5:45 off UTC), a wait every half
    # hour: each group's figures and SLA hits as the definition gives them from the values in Python.
    rnd = random.Random(5)
    values = [float(rnd.randrange(1, 7200)) + n / 100 for n in range(150)]
    await waits(session, values)
    zone = ZoneInfo(zone_name)
    first = T0.astimezone(zone).date()
    last = (T0 + timedelta(minutes=30 * 149)).astimezone(zone).date()
    for by in ("day", "hour", "weekday"):
        request = ReportRequest(name="reply_time", start=first, end=last, timezone=zone_name, by=by)
        built = await build_report(
            session, request, sla=SlaTargets(reply=3600), hours=BusinessHours.from_config(zone_name, {})
        )
        grouped: dict[object, list[float]] = {}
        for n, value in enumerate(values):
            local = (T0 + timedelta(minutes=30 * n)).astimezone(zone)
            key = {"day": local.date().isoformat(), "hour": local.hour}.get(by)
            key = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()] if key is None else key
            grouped.setdefault(key, []).append(value)
        got = {row["group"]: row for row in built.rows if row["count"]}
        assert sorted(got, key=str) == sorted(grouped, key=str), by
        for key, group in grouped.items():
            want = Summary.of(group)
            row = got[key]
            assert row["count"] == want.count, (by, key)
            assert (row["avg"], row["median"], row["p90"]) == tuple(
                round(x, 1) for x in (want.avg or 0, want.median or 0, want.p90 or 0)
            ), (by, key)
            hits = sum(v <= 3600 for v in group)
            assert (row["sla_met"], row["sla_missed"]) == (hits, len(group) - hits), (by, key)


def test_a_periods_offsets_are_walked_once_and_each_caller_gets_its_own_list() -> None:
    zone = ZoneInfo("America/New_York")
    start, end = datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 3, 31, tzinfo=UTC)
    first = offsets(zone, start, end)
    walked = sql._offsets.cache_info().misses
    first.append((end, 0))  # a caller's list is its own
    again = offsets(zone, start, end)
    assert sql._offsets.cache_info().misses == walked
    assert again == first[:-1] and [o for _, o in again] == [-300, -240]
