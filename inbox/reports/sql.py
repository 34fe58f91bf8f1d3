"""The reports' arithmetic done by the database: local-time buckets and percentiles, on SQLite and PostgreSQL.

Reading every fact of a month into Python and sorting it there costs seconds at 100,000 conversations; the
database does it in a fraction. Two pieces make that portable:

* :func:`local_bucket` turns a UTC timestamp column into the local day, hour or weekday of the configured
  time zone. PostgreSQL converts with ``AT TIME ZONE``; SQLite has no time zones, so the UTC offset — constant
  between the zone's transitions — is chosen by a CASE over the few transitions inside the period.
* :func:`summaries` computes count, average and ``percentile_cont`` (median, p90) per group with window
  functions: each group's values are ranked once, only the rows next to each percentile's rank come back,
  and the interpolation between them is done here, identically for both backends.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_, case, cast, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from inbox.models import UtcDateTime
from inbox.reports.figures import Summary

FRACTIONS = (0.5, 0.9)  # median and p90 (the 5 and 9 tenths in summaries' integer arithmetic)


def offsets(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offset in minutes over [start, end): the first offset, then each change and when."""
    changes: list[tuple[datetime, int]] = []
    moment = start - timedelta(days=1)
    last = None
    while moment <= end + timedelta(days=1):
        offset = int((moment.astimezone(zone).utcoffset() or timedelta()).total_seconds() // 60)
        if offset != last:
            if last is not None:
                # The change happened within the last hour stepped over: find the minute.
                probe = moment - timedelta(hours=1)
                while int((probe.astimezone(zone).utcoffset() or timedelta()).total_seconds() // 60) == last:
                    probe += timedelta(minutes=15)
                changes.append((probe, offset))
            else:
                changes.append((moment, offset))
            last = offset
        moment += timedelta(hours=1)
    return changes


def local_bucket(
    session: AsyncSession, column: Any, by: str, zone: ZoneInfo, start: datetime, end: datetime
) -> ColumnElement[Any]:
    """The local "day" (YYYY-MM-DD), "hour" (0–23) or "weekday" (0 = Monday) of a UTC timestamp column."""
    if session.get_bind().dialect.name == "postgresql":
        local = func.timezone(zone.key, column)
        if by == "day":
            return func.to_char(local, "YYYY-MM-DD")
        if by == "hour":
            return cast(func.extract("hour", local), Integer)
        return cast(func.extract("isodow", local), Integer) - 1
    steps = offsets(zone, start, end)
    modifier: ColumnElement[Any] = literal(f"{steps[-1][1]:+d} minutes")
    if len(steps) > 1:
        modifier = case(
            *[
                (column < literal(at, UtcDateTime), f"{previous:+d} minutes")
                for (at, _), (_, previous) in zip(steps[1:], steps, strict=False)
            ],
            else_=f"{steps[-1][1]:+d} minutes",
        )
    shifted = func.datetime(column, modifier)
    if by == "day":
        return func.date(shifted)
    if by == "hour":
        return cast(func.strftime("%H", shifted), Integer)
    return (cast(func.strftime("%w", shifted), Integer) + 6) % 7  # %w: 0 = Sunday


async def summaries(
    session: AsyncSession, value: Any, group: ColumnElement[Any] | None, where: Sequence[Any]
) -> dict[Any, Summary]:
    """count, avg, median and p90 of `value` per `group` (None: one group) over the rows `where` selects."""
    key = group if group is not None else literal(0)
    base = select(key.label("g"), value.label("v")).where(*where, value.is_not(None)).subquery()
    ranked = select(
        base.c.g,
        base.c.v,
        (func.row_number().over(partition_by=base.c.g, order_by=base.c.v) - 1).label("i"),
        func.count().over(partition_by=base.c.g).label("n"),
        func.avg(base.c.v).over(partition_by=base.c.g).label("mean"),
    ).subquery()
    n1, i = ranked.c.n - 1, ranked.c.i
    # The ranks each side of (n - 1) × fraction, in integer arithmetic only (a division's type differs
    # between the backends): i×10 − 10 ≤ (n − 1)×k ≤ i×10 + 9 holds for i = floor((n − 1)×k/10) and the next.
    near = [and_(i * 10 - 10 <= n1 * k, n1 * k <= i * 10 + 9) for k in (5, 9)]
    rows = await session.execute(
        select(ranked.c.g, i, ranked.c.v, ranked.c.n, ranked.c.mean).where(or_(*near))
    )
    picked: dict[Any, dict[int, float]] = defaultdict(dict)
    sizes: dict[Any, tuple[int, float]] = {}
    for g, i, v, n, mean in rows:
        picked[g][int(i)] = float(v)
        sizes[g] = (int(n), float(mean))
    out = {}
    for g, (n, mean) in sizes.items():
        values = picked[g]
        quantiles = []
        for fraction in FRACTIONS:
            rank = fraction * (n - 1)
            low = int(rank)
            high = min(low + 1, n - 1)
            quantiles.append(values[low] + (values[high] - values[low]) * (rank - low))
        out[None if group is None else g] = Summary(n, mean, quantiles[0], quantiles[1])
    return out
