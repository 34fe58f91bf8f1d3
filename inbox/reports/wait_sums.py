"""Wait reports from the roll-ups (`report_wait_sums`, migration 0018_wait_rollups) instead of every wait.

Triggers on report_waits keep, in the wait's own transaction, how many ended, measured waits of each kind
have a value in each bucket (:func:`bucket_of`: the whole seconds below 8, then eight equal buckets an
octave), and the sum of their values: per UTC hour of their start, and per UTC day and team, channel or
agent. A report takes each group's count, average and the SLA's hits below the threshold's bucket from the
sums; a percentile's rank falls in one bucket, and only that bucket's waits are read (an index in value
order holds them, a range of it); so is the threshold's own bucket, and the open waits past their due time
come from an index of the open waits.

* Not grouped, or by day, hour or weekday: the period's hours, when the zone is a whole number of hours off
  UTC all through it (each hour goes to its local group).
* By team, channel or agent: the UTC days of the period, and its ragged ends summed from the waits
  themselves — added, or taken off a day, whichever is shorter (as inbox.reports.counts does).

It answers wall-clock figures with no team, channel or agent filter and one SLA threshold on the wall clock
for every team; anything else (business hours, filters, teams with their own targets, time groups in zones a
half hour off) is read from the waits as before (:mod:`inbox.reports.build`). The figures are exact either
way: the percentiles' values are the waits' own, the counts and sums the same waits added up earlier.
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

from sqlalchemy import BigInteger, Integer, case, cast, func, literal, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import ReportWait, ReportWaitSum, UtcDateTime
from inbox.reports.counts import day_span
from inbox.reports.figures import Summary
from inbox.reports.sql import FRACTIONS, local_bucket, local_starts, offsets, piece_of, rank_pairs, walk

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


def bucket_sql(session: AsyncSession, value: str) -> Any:
    """:func:`bucket_of` as SQL over the column named `value`, as the migration's triggers compute it."""
    floor = "CAST({} AS INTEGER)"
    if session.get_bind().dialect.name == "postgresql":
        floor = "CAST(floor({}) AS INTEGER)"
    arms = [f"WHEN {value} < 8 THEN {floor.format(value)}"]
    for e in range(3, OCTAVES):
        step = floor.format(f"({value} - {2**e}) / {2 ** (e - 3)}")
        arms.append(f"WHEN {value} < {2 ** (e + 1)} THEN {8 * (e - 2)} + {step}")
    return literal_column(f"(CASE {' '.join(arms)} ELSE {LAST} END)", Integer())


DIMENSIONS = {"team": ("t", "team_id"), "channel": ("c", "channel_kind"), "agent": ("a", "agent_id")}


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
    """count, avg, median and p90 of the wall-clock values of the waits of `kind` started in [start, end),
    per group `by` (None, "day", "hour" or "weekday" in `zone` — then [start, end) is whole UTC hours — or
    "team", "channel" or "agent"), and with a `threshold` the SLA's hits and misses (late ends and open
    waits past their due time)."""
    w = ReportWait
    if by in DIMENSIONS:
        hist, totals = await _day_sums(session, kind, start, end, by)
    else:
        hist, totals = await _hour_sums(session, kind, start, end, by, zone)
    # Each rank the percentiles need: the bucket that holds it and its rank within the bucket.
    where_rank: dict[Any, dict[int, tuple[int, int]]] = {}
    wanted: dict[int, set[int]] = defaultdict(set)  # bucket → ranks within it (of any group)
    for k, buckets in hist.items():
        needed = sorted({r for pair in rank_pairs(sum(buckets.values())) for r in pair})
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
        for fraction, (low_rank, high_rank) in zip(FRACTIONS, rank_pairs(n), strict=True):
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
    gkey = _raw_key(session, by, zone, start, end)
    for g, count in await session.execute(_grouped(select(gkey, func.count()).where(*overdue), by, gkey)):
        if count:
            k = None if by is None else _norm(g)
            met.setdefault(k, 0)
            missed[k] = missed.get(k, 0) + int(count)
    return stats, met, missed


Sums = tuple[dict[Any, dict[int, int]], dict[Any, float]]  # per group: {bucket: count}, sum of values


async def _hour_sums(
    session: AsyncSession, kind: str, start: datetime, end: datetime, by: str | None, zone: ZoneInfo
) -> Sums:
    s = ReportWaitSum
    query = select(s.bucket, _count(s.n), func.sum(s.total)).where(
        s.width == "h", s.kind == kind, s.start >= start, s.start < end
    )
    if by is not None:
        hour_key = local_bucket(session, s.start, by, zone, start, end)
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
    return hist, totals


async def _day_sums(session: AsyncSession, kind: str, start: datetime, end: datetime, by: str) -> Sums:
    """Per team, channel or agent: the sums of the UTC days of the period, and of its ragged ends the waits
    themselves summed per bucket, added (a part of the period outside those days) or taken off (a part of
    those days outside the period), whichever is shorter."""
    s, w = ReportWaitSum, ReportWait
    width, name = DIMENSIONS[by]
    low_day, high_day, ends = day_span(start, end)
    hist: dict[Any, dict[int, int]] = defaultdict(dict)
    totals: dict[Any, float] = defaultdict(float)

    def add(key: Any, bucket: int, n: int, total: float) -> None:
        k = key or None  # no team, channel or agent: 0 or '' in the sums, NULL in the waits
        hist[k][bucket] = hist[k].get(bucket, 0) + n
        totals[k] += total

    if low_day < high_day:
        column = getattr(s, name)
        query = select(column, s.bucket, _count(s.n), func.sum(s.total)).where(
            s.width == width, s.kind == kind, s.start >= low_day, s.start < high_day
        )
        for key, bucket, n, total in await session.execute(query.group_by(column, s.bucket)):
            add(key, int(bucket), int(n or 0), float(total or 0.0))
    column = getattr(w, name)
    bucket_of_row = bucket_sql(session, f"{ReportWait.__tablename__}.value_seconds")
    measured = [w.value_seconds.is_not(None), or_(w.outcome.is_(None), w.outcome != "dropped")]
    for low, high, sign in ends:
        query = select(column, bucket_of_row, func.count(), func.sum(w.value_seconds)).where(
            w.kind == kind, w.started_at >= low, w.started_at < high, *measured
        )
        for key, bucket, n, total in await session.execute(query.group_by(column, bucket_of_row)):
            add(key, int(bucket), sign * int(n or 0), sign * float(total or 0.0))
    for k in list(hist):
        hist[k] = {b: n for b, n in hist[k].items() if n}
        if not hist[k]:
            del hist[k], totals[k]
    return hist, totals


def _count(n: Any) -> Any:
    """The sum of the counts `n` as a bigint: PostgreSQL sums bigints as numeric, which arrives as Decimal
    (3,200 agent-and-bucket rows of a month by agent: 14 against 5-9 ms of Python time)."""
    return cast(func.sum(n), BigInteger)


def _raw_key(session: AsyncSession, by: str | None, zone: ZoneInfo, start: datetime, end: datetime) -> Any:
    """The group of a wait row: its team, channel or agent column, or its local day, hour or weekday."""
    if by is None:
        return literal(0)
    if by in DIMENSIONS:
        return getattr(ReportWait, DIMENSIONS[by][1])
    return local_bucket(session, ReportWait.started_at, by, zone, start, end)


class _Bucket:
    """The waits of one value bucket in the period, per group: the values at some ranks within the bucket,
    and how many are at or under a threshold. SQLite walks the bucket's range of the index in value order,
    each value filed under its piece of the period (:func:`inbox.reports.sql.walk`); PostgreSQL gathers the
    range's values per group into an array, sorted here."""

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
            if self.by in DIMENSIONS:
                key = getattr(w, DIMENSIONS[self.by][1])
            elif self.by == "hour":  # the UTC hour (a prefix of the stored time) and the zone's whole hours
                groups = list(range(24))
                key = (cast(func.substr(w.started_at, 12, 2), Integer) + self.offset_hours() + 24) % 24
            elif self.by is not None:
                cuts, groups = local_starts(self.zone, self.by, self.start, self.end)
                key = piece_of(w.started_at, cuts)
            pieces = None if groups is None else len(groups)
            walked, _ = await walk(self.session, w.value_seconds, key, where, pieces=pieces)
            if groups is None:  # one group, or a team, channel or agent a row: the walk's keys are the groups
                return {(None if self.by is None else k): found for k, found in walked.items()}
            merged: dict[Any, list[list[float]]] = defaultdict(list)
            for piece, found in walked.items():
                merged[groups[piece]].append(found)
            return {k: p[0] if len(p) == 1 else sorted(chain(*p)) for k, p in merged.items()}
        # PostgreSQL: each group's values as one array, sorted here. The index range comes in value order and
        # a hash aggregate keeps it, so the sort finds runs already in order; an ORDER BY in the aggregate
        # sorted each group again after the plan's sort by group (35,000 waits of the p90's bucket by agent:
        # 57 against 22-36 ms in psql). Sorting here keeps the values exact whatever plan PostgreSQL picks.
        values: Any = func.array_agg(w.value_seconds)
        if self.by is None:
            row = (await self.session.execute(select(values).where(*where))).one()
            return {None: _ascending(row[0])} if row[0] else {}
        gkey = _raw_key(self.session, self.by, self.zone, self.start, self.end)
        rows = await self.session.execute(select(gkey, values).where(*where).group_by(gkey))
        return {_norm(g): _ascending(found) for g, found in rows}


def _ascending(values: list[Any]) -> list[float]:
    """An array's values as floats in ascending order."""
    return sorted(map(float, values))


def _grouped(query: Any, by: str | None, key: Any) -> Any:
    return query if by is None else query.group_by(key)


def _norm(key: Any) -> Any:
    """A group key as inbox.reports.build normalizes it (days as text, hours and weekdays as ints)."""
    if isinstance(key, date):
        return key.isoformat()
    return int(key) if isinstance(key, float | Decimal) else key
