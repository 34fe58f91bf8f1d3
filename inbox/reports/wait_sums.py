"""Wait reports from the roll-ups (`report_wait_sums`, migration 0018_wait_rollups) instead of every wait.

Triggers on report_waits keep, in the wait's own transaction, how many ended, measured waits of each kind
started in each UTC hour with a value in each bucket (:func:`bucket_of`: the whole seconds below 8, then
eight equal buckets an octave), and the sum of their values. A report over whole UTC hours (a zone a whole
number of hours off UTC all through the period) then takes each group's count, average and the SLA's hits
below the threshold's bucket from the sums of its hours; a percentile's rank falls in one bucket, and only
that bucket's waits are read (an index in value order holds them, a range of it), ranked within the bucket.
The threshold's own bucket is counted the same way, and the open waits past their due time from an index of
the open waits.

It answers the wall-clock figures of reports with no team, channel or agent filter, ungrouped or by day,
hour or weekday, with one SLA threshold on the wall clock for every team; anything else (business hours,
filters, groups by agent, team or channel, teams with their own targets, zones a half hour off) is read
from the waits as before (:mod:`inbox.reports.build`). The figures are exact either way: percentile_cont's
values are the waits' own, the counts the same waits added up earlier.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, case, cast, func, literal, literal_column, or_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import ReportWait, ReportWaitSum, UtcDateTime
from inbox.reports.figures import Summary
from inbox.reports.sql import FRACTIONS, local_bucket, local_starts, offsets, piece_of, walk

OCTAVES = 32  # as the migration: values of 2**32 s and more share the last bucket
LAST = 8 * (OCTAVES - 2)
Figures = tuple[dict[Any, Summary], dict[Any, int], dict[Any, int]]  # per group: summary, SLA met, missed


def bucket_of(value: float) -> int:
    """The bucket the triggers file a value (seconds ≥ 0) under, computed as they compute it."""
    if value < 8:
        return int(value)
    for e in range(3, OCTAVES):
        if value < 2 ** (e + 1):
            return 8 * (e - 2) + math.floor((value - 2.0**e) / 2.0 ** (e - 3))
    return LAST


def edges(bucket: int) -> tuple[float, float]:
    """The values a bucket holds: [low, high) (high is infinite for the last)."""
    if bucket < 8:
        return float(bucket), float(bucket + 1)
    if bucket >= LAST:
        return float(2**OCTAVES), math.inf
    e, step = bucket // 8 + 2, bucket % 8
    width = 2 ** (e - 3)
    return float(2**e + step * width), float(2**e + (step + 1) * width)


def _ranks(n: int) -> list[tuple[int, int]]:
    """The 0-based ranks each percentile interpolates between, in a group of n values."""
    out = []
    for fraction in FRACTIONS:
        low = int(fraction * (n - 1))
        out.append((low, min(low + 1, n - 1)))
    return out


async def rolled_wait_figures(
    session: AsyncSession,
    *,
    kind: str,
    start: datetime,
    end: datetime,
    by: str | None,
    zone: ZoneInfo,
    threshold: float | None,
    now: datetime,
) -> Figures:
    """count, avg, median and p90 of the wall-clock values of the waits of `kind` started in [start, end)
    (whole UTC hours), per group `by` (None, "day", "hour" or "weekday" in `zone`), and with a `threshold`
    the SLA's hits and misses (late ends and open waits past their due time)."""
    s, w = ReportWaitSum, ReportWait
    query = select(s.bucket, func.sum(s.n), func.sum(s.total)).where(
        s.kind == kind, s.hour >= start, s.hour < end
    )
    if by is not None:
        hour_key = local_bucket(session, s.hour, by, zone, start, end)
        query = query.add_columns(hour_key).group_by(hour_key, s.bucket)
    else:
        query = query.group_by(s.bucket)
    hist: dict[Any, dict[int, int]] = defaultdict(dict)
    totals: dict[Any, float] = defaultdict(float)
    rows: Any = await session.execute(query)  # (bucket, n, total[, group])
    for row in rows:
        bucket, n = int(row[0]), int(row[1] or 0)
        if n:
            k = None if by is None else _norm(row[3])
            hist[k][bucket] = hist[k].get(bucket, 0) + n
            totals[k] += float(row[2] or 0.0)
    # Each rank the percentiles need: the bucket that holds it and its rank within the bucket.
    where_rank: dict[Any, dict[int, tuple[int, int]]] = {}
    wanted: dict[int, set[int]] = defaultdict(set)  # bucket → ranks within it (of any group)
    for k, buckets in hist.items():
        needed = sorted({r for pair in _ranks(sum(buckets.values())) for r in pair})
        found: dict[int, tuple[int, int]] = {}
        below, i = 0, 0
        for bucket in sorted(buckets):
            size = buckets[bucket]
            while i < len(needed) and needed[i] < below + size:
                found[needed[i]] = (bucket, needed[i] - below)
                wanted[bucket].add(needed[i] - below)
                i += 1
            below += size
        where_rank[k] = found
    edge = bucket_of(threshold) if threshold is not None else None
    reader = _Bucket(session, kind, start, end, by, zone)
    values: dict[Any, dict[tuple[int, int], float]] = defaultdict(dict)
    near: dict[Any, int] = {}  # per group: the waits of the threshold's bucket at or under it
    for bucket in sorted({*wanted, *([edge] if edge is not None else [])}):
        ranks = wanted.get(bucket, set())
        got, under = await reader.read(bucket, ranks, threshold if bucket == edge else None)
        for k, picked in got.items():
            for i, v in picked.items():
                values[k][(bucket, i)] = v
        near.update(under)
    stats: dict[Any, Summary] = {}
    for k, buckets in hist.items():
        n = sum(buckets.values())
        quantiles = []
        for fraction, (low_rank, high_rank) in zip(FRACTIONS, _ranks(n), strict=True):
            lo_v = values[k][where_rank[k][low_rank]]
            hi_v = values[k][where_rank[k][high_rank]]
            quantiles.append(lo_v + (hi_v - lo_v) * (fraction * (n - 1) - low_rank))
        stats[k] = Summary(n, totals[k] / n, quantiles[0], quantiles[1])
    met: dict[Any, int] = {}
    missed: dict[Any, int] = {}
    if threshold is None or edge is None:
        return stats, met, missed
    for k, buckets in hist.items():
        met[k] = sum(n for b, n in buckets.items() if b < edge) + near.get(k, 0)
        missed[k] = sum(buckets.values()) - met[k]
    # Open waits past their due time: misses too. On SQLite the period goes with a unary plus (it reads the
    # open waits, with no value yet, from the front of the index in value order); on PostgreSQL a partial
    # index holds the open waits.
    at: Any = w.started_at
    if session.get_bind().dialect.name == "sqlite":
        at = literal_column(f"+{ReportWait.__tablename__}.started_at", UtcDateTime())
    due = now - timedelta(seconds=threshold)
    overdue = [
        w.kind == kind,
        at >= start,
        at < end,
        w.value_seconds.is_(None),
        w.outcome.is_(None),
        at < due,
    ]
    gkey = local_bucket(session, w.started_at, by, zone, start, end) if by is not None else literal(0)
    for g, count in await session.execute(_grouped(select(gkey, func.count()).where(*overdue), by, gkey)):
        if count:
            k = None if by is None else _norm(g)
            met.setdefault(k, 0)
            missed[k] = missed.get(k, 0) + int(count)
    return stats, met, missed


class _Bucket:
    """The waits of one value bucket in the period, per group: the values at some ranks within the bucket,
    and how many are at or under a threshold. SQLite walks the bucket's range of the index in value order,
    each value filed under its piece of the period (:func:`inbox.reports.sql.walk`); PostgreSQL ranks the
    range's rows per group with a window and counts them."""

    def __init__(
        self, session: AsyncSession, kind: str, start: datetime, end: datetime, by: str | None, zone: ZoneInfo
    ) -> None:
        self.session, self.kind, self.start, self.end, self.by, self.zone = (
            session,
            kind,
            start,
            end,
            by,
            zone,
        )
        self.sqlite = session.get_bind().dialect.name == "sqlite"

    def where(self, low: float, high: float) -> list[Any]:
        w = ReportWait
        where = [w.kind == self.kind, w.value_seconds >= low]
        if high != math.inf:
            where.append(w.value_seconds < high)
        measured = or_(w.outcome.is_(None), w.outcome != "dropped")
        return [*where, w.started_at >= self.start, w.started_at < self.end, measured]

    def offset_hours(self) -> Any:
        """The zone's offset from UTC in hours at each wait's start (a CASE over the period's changes)."""
        steps = offsets(self.zone, self.start, self.end)
        if len(steps) == 1:
            return literal(steps[0][1] // 60)
        at = ReportWait.started_at
        return case(
            *[
                (at < literal(moment, UtcDateTime), previous // 60)
                for (moment, _), (_, previous) in zip(steps[1:], steps, strict=False)
            ],
            else_=steps[-1][1] // 60,
        )

    async def read(
        self, bucket: int, ranks: set[int], threshold: float | None
    ) -> tuple[dict[Any, dict[int, float]], dict[Any, int]]:
        """The values at `ranks` (within the bucket) per group, and per group how many are at or under
        `threshold` (when given)."""
        picked: dict[Any, dict[int, float]] = defaultdict(dict)
        under: dict[Any, int] = {}
        for k, ordered in (await self.values(bucket)).items():
            for i in ranks:
                if i < len(ordered):
                    picked[k][i] = ordered[i]
            if threshold is not None:
                under[k] = bisect_right(ordered, threshold)
        return picked, under

    async def values(self, bucket: int) -> dict[Any, list[float]]:
        """The bucket's values in the period, ascending, per group."""
        low, high = edges(bucket)
        where = self.where(low, high)
        w = ReportWait
        if self.sqlite:
            key, groups = None, None
            if self.by == "hour":  # the UTC hour (a prefix of the stored time) and the zone's whole hours
                groups = list(range(24))
                key = (cast(func.substr(w.started_at, 12, 2), Integer) + self.offset_hours() + 24) % 24
            elif self.by is not None:
                cuts, groups = local_starts(self.zone, self.by, self.start, self.end)
                key = piece_of(w.started_at, cuts)
            pieces = None if groups is None else len(groups)
            walked, _ = await walk(self.session, w.value_seconds, key, where, pieces=pieces)
            merged: dict[Any, list[list[float]]] = defaultdict(list)
            for piece, found in walked.items():
                merged[None if groups is None else groups[piece]].append(found)
            return {k: p[0] if len(p) == 1 else sorted(chain(*p)) for k, p in merged.items()}
        # PostgreSQL: each group's values as one sorted array (a sort per group, no row per value).
        ordered: Any = func.array_agg(aggregate_order_by(w.value_seconds, w.value_seconds))
        if self.by is None:
            row = (await self.session.execute(select(ordered).where(*where))).one()
            return {None: [float(v) for v in row[0]]} if row[0] else {}
        gkey = local_bucket(self.session, w.started_at, self.by, self.zone, self.start, self.end)
        rows = await self.session.execute(select(gkey, ordered).where(*where).group_by(gkey))
        return {_norm(g): [float(v) for v in found] for g, found in rows}


def _grouped(query: Any, by: str | None, key: Any) -> Any:
    return query if by is None else query.group_by(key)


def _norm(key: Any) -> Any:
    """A group key as inbox.reports.build normalizes it (days as text, hours and weekdays as ints)."""
    if isinstance(key, date):
        return key.isoformat()
    return int(key) if isinstance(key, float | Decimal) else key
