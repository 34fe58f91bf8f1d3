"""The reports' arithmetic done by the database: local-time buckets and percentiles, on SQLite and PostgreSQL.

Reading every fact of a month into Python and sorting it there costs seconds at 100,000 conversations; the
database does it in a fraction. Two pieces make that portable:

* :func:`local_bucket` turns a UTC timestamp column into the local day, hour or weekday of the configured
  time zone. PostgreSQL converts with ``AT TIME ZONE``; SQLite has no time zones, so the UTC offset — constant
  between the zone's transitions — is chosen by a CASE over the few transitions inside the period.
* :func:`figures` (and :func:`summaries`, without extra counts) computes count, average, ``percentile_cont``
  (median, p90) and any extra counts (SLA hits …) per group in one pass over the period's rows, which a
  covering index holds (migration 0011_report_speed): PostgreSQL with its own ``percentile_cont``; SQLite,
  which has none, reads only the rows at the ranks each side of each percentile — from an index in value
  order when the period is most of the history (no sort), else through one ``row_number()`` window — and the
  interpolation between them is done here, as ``percentile_cont`` does it.
* :func:`walk` (SQLite, a grouped report over most of the history): one walk of an index in value order, a
  Python function defined on the connection filing each value under its group as SQLite reads it — every
  group's values come sorted, with no GROUP BY sort and no window; local days and hours are the pieces of
  the period (:func:`local_starts`) a balanced CASE of time comparisons finds (:func:`piece_of`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Float, Integer, case, cast, column, func, literal, literal_column, select, true
from sqlalchemy import values as values_of
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from inbox.models import UtcDateTime
from inbox.reports.figures import Summary

FRACTIONS = (0.5, 0.9)  # median and p90 (the 5 and 9 tenths in summaries' integer arithmetic)


def offsets(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offset in minutes over [start, end): the first offset, then each change and when."""
    return list(_offsets(zone, start, end))


@lru_cache(maxsize=256)
def _offsets(zone: ZoneInfo, start: datetime, end: datetime) -> tuple[tuple[datetime, int], ...]:
    """:func:`offsets`, kept for the next call: a report by day asks up to seven times for its period's, and
    the hour-by-hour walk of a month costs 1-3 ms each time (half the Python time of reply_time by day)."""
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
    return tuple(changes)


def local_bucket(
    session: AsyncSession, column: Any, by: str, zone: ZoneInfo, start: datetime, end: datetime
) -> ColumnElement[Any]:
    """The local "day" (YYYY-MM-DD), "hour" (0–23) or "weekday" (0 = Monday) of a UTC timestamp column.

    Both backends shift the UTC time by the zone's offset, chosen by a CASE over the few transitions inside
    the period: PostgreSQL's own conversion (``AT TIME ZONE``) costs more than the rest of a month's
    aggregate at 100,000 conversations. PostgreSQL gives the day as a DATE (its text is YYYY-MM-DD).
    """
    steps = offsets(zone, start, end)

    def by_offset(unit: int) -> ColumnElement[Any]:
        """The offset in `unit`s of the minute (1: minutes, 60: seconds) at each row's time."""
        if len(steps) == 1:
            return literal(steps[0][1] * unit)
        return case(
            *[
                (column < literal(at, UtcDateTime), previous * unit)
                for (at, _), (_, previous) in zip(steps[1:], steps, strict=False)
            ],
            else_=steps[-1][1] * unit,
        )

    if session.get_bind().dialect.name == "postgresql":
        local = func.date_part("epoch", column) + by_offset(60)  # local seconds since 1970-01-01
        days = cast(func.floor(local / literal(86400.0, Float)), Integer)  # float: no NUMERIC division
        if by == "day":
            return literal_column("DATE '1970-01-01'") + days
        if by == "hour":
            return cast(func.floor(local / literal(3600.0, Float)), Integer) % 24
        return (days + 3) % 7  # 1970-01-01 was a Thursday
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


Counts = tuple[int, ...]


async def summaries(
    session: AsyncSession,
    value: Any,
    group: ColumnElement[Any] | None,
    where: Sequence[Any],
    *,
    in_value_order: bool = False,
) -> dict[Any, Summary]:
    """count, avg, median and p90 of `value` per `group` (None: one group) over the rows `where` selects."""
    found = await figures(session, value, group, where, (), in_value_order=in_value_order)
    return {g: summary for g, (summary, _) in found.items()}


async def figures(
    session: AsyncSession,
    value: Any,
    group: ColumnElement[Any] | None,
    where: Sequence[Any],
    counts: Sequence[ColumnElement[Any]],
    *,
    in_value_order: bool = False,
    pieces: tuple[Any, Sequence[datetime]] | None = None,
) -> dict[Any, tuple[Summary, Counts]]:
    """Per `group` (None: one group) over the rows `where` selects: count, avg, median and p90 of `value`
    (rows where it is null are not counted), and each of `counts` (SQL aggregates over every row, e.g. SLA
    hits), in one pass over the rows.

    On PostgreSQL, `pieces` — a timestamp column and the edges of consecutive spans of time — groups by span
    instead (the groups are the spans' indexes): one aggregate per span over its own index range (LATERAL),
    so each sorts only its own rows and no row computes a bucket.

    PostgreSQL computes the percentiles itself (``percentile_cont``, one sort per group for both). SQLite
    has none: the same pass gives each group's size, then only the two rows each side of each percentile's
    rank are read — from an index in `value` order when `in_value_order` says one leads with the query's
    equality filters (the median's rank counted from the bottom, the p90's from the top: no sort at all),
    else from one ``row_number()`` window over the period's rows.
    """
    key = group if group is not None else literal(0)
    aggregates: list[Any] = [func.count(value), func.avg(value), *counts]
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:
        aggregates.append(func.percentile_cont(array(list(FRACTIONS))).within_group(value))
    if postgresql and pieces is not None:
        at, edges = pieces
        spans = values_of(
            column("i", Integer()),
            column("lo", UtcDateTime()),
            column("hi", UtcDateTime()),
            name="spans",
        ).data([(i, edges[i], edges[i + 1]) for i in range(len(edges) - 1)])
        each = select(*aggregates).where(*where, at >= spans.c.lo, at < spans.c.hi).lateral("figures")
        rows = list(await session.execute(select(spans.c.i, each).select_from(spans.join(each, true()))))
        group = spans.c.i  # groups: the spans
    else:
        query = select(key, *aggregates).where(*where)
        # No GROUP BY for one group: SQLite would sort every row by the constant.
        rows = list(await session.execute(query if group is None else query.group_by(key)))
    out: dict[Any, tuple[Summary, Counts]] = {}
    sizes: dict[Any, int] = {}
    for row in rows:
        g = None if group is None else row[0]
        n, mean = int(row[1] or 0), row[2]
        extra = tuple(int(c or 0) for c in row[3 : 3 + len(counts)])
        quantiles: list[float | None] = [None, None]
        if postgresql and n:
            quantiles = [float(q) for q in row[-1]]
        out[g] = (Summary(n, None if mean is None else float(mean), *quantiles), extra)
        if n and not postgresql:
            sizes[g] = n
    if sizes:
        picked = await _sqlite_ranks(session, value, group, where, sizes, in_value_order=in_value_order)
        for g, n in sizes.items():
            summary, extra = out[g]
            quantiles = []
            for fraction in FRACTIONS:
                rank = fraction * (n - 1)
                low = int(rank)
                high = min(low + 1, n - 1)
                values = picked[g]
                quantiles.append(values[low] + (values[high] - values[low]) * (rank - low))
            out[g] = (Summary(n, summary.avg, quantiles[0], quantiles[1]), extra)
    return out


def rank_pairs(n: int) -> list[tuple[int, int]]:
    """The 0-based ranks each percentile (FRACTIONS) interpolates between, in a group of n values."""
    pairs = []
    for fraction in FRACTIONS:
        low = int(fraction * (n - 1))
        pairs.append((low, min(low + 1, n - 1)))
    return pairs


def _ranks(n: int) -> set[int]:
    return {rank for pair in rank_pairs(n) for rank in pair}


async def _sqlite_ranks(
    session: AsyncSession,
    value: Any,
    group: ColumnElement[Any] | None,
    where: Sequence[Any],
    sizes: dict[Any, int],
    *,
    in_value_order: bool,
) -> dict[Any, dict[int, float]]:
    """The values at the ranks the percentiles need, per group: {group: {rank: value}}."""
    picked: dict[Any, dict[int, float]] = defaultdict(dict)
    if group is None and in_value_order:
        [n] = sizes.values()
        present = [*where, value.is_not(None)]  # lets SQLite walk the index in value order
        for fraction in FRACTIONS:
            low = int(fraction * (n - 1))
            high = min(low + 1, n - 1)
            # From whichever end is nearer: the p90's two values are read from the top, a tenth of the way.
            if low <= (n - 1) - high:
                query = select(value).where(*present).order_by(value).offset(low)
                ranks = [low, high]
            else:
                query = select(value).where(*present).order_by(value.desc()).offset((n - 1) - high)
                ranks = [high, low]
            for rank, found in zip(ranks, await session.scalars(query.limit(2)), strict=False):
                picked[None][rank] = float(found)
        return picked
    key = group if group is not None else literal(0)
    # `value + 0`: an expression, so SQLite reads the period's rows by time (its index on started_at) and
    # sorts them, rather than walking every row of the kind in value order.
    base = select(key.label("g"), value.label("v")).where(*where, (value + 0).is_not(None)).subquery()
    ranked = select(
        base.c.g,
        base.c.v,
        (func.row_number().over(partition_by=base.c.g, order_by=base.c.v) - 1).label("i"),
    ).subquery()
    wanted = sorted(set().union(*(_ranks(n) for n in sizes.values())))
    rows = await session.execute(select(ranked.c.g, ranked.c.i, ranked.c.v).where(ranked.c.i.in_(wanted)))
    for g, i, v in rows:
        picked[None if group is None else g][int(i)] = float(v)
    return picked


async def most_of_history(
    session: AsyncSession, at: Any, kind: Sequence[Any], start: datetime, end: datetime
) -> bool:
    """On SQLite: whether [start, end) spans a fifth or more of the time between the first and the last fact
    of `kind` (two index seeks).

    Then walking that kind's rows in value order to a percentile's rank reads about as many rows as the
    period holds, and sorts none; for a short period of a long history, sorting the period's rows costs less.
    """
    if session.get_bind().dialect.name != "sqlite":
        return False  # PostgreSQL sorts within percentile_cont either way
    first = await session.scalar(select(func.min(at)).where(*kind))
    last = await session.scalar(select(func.max(at)).where(*kind))
    if first is None or last is None:
        return False
    history: timedelta = last - first
    overlap: timedelta = min(end, last) - max(start, first)
    return bool(history <= timedelta(0) or overlap * 5 >= history)


def local_starts(zone: ZoneInfo, by: str, start: datetime, end: datetime) -> tuple[list[datetime], list[Any]]:
    """The period [start, end) cut at each local day's (by "day" or "weekday") or hour's ("hour") start in
    `zone`: the UTC instants of the cuts inside it, and the local bucket of each piece (len(cuts) + 1 of
    them: the day YYYY-MM-DD, the hour 0–23 or the weekday 0 = Monday)."""

    def bucket(at: datetime) -> Any:
        local = at.astimezone(zone)
        return local.date().isoformat() if by == "day" else local.hour if by == "hour" else local.weekday()

    cuts: list[datetime] = []
    pieces: list[Any] = [bucket(start)]
    if by == "hour":
        # Offsets are whole quarters of an hour: a local hour starts on a UTC quarter.
        at = start.replace(minute=start.minute - start.minute % 15, second=0, microsecond=0)
        last = start.astimezone(zone).replace(minute=0, second=0, microsecond=0, tzinfo=None)
        while (at := at + timedelta(minutes=15)) < end:
            hour = at.astimezone(zone).replace(minute=0, second=0, microsecond=0, tzinfo=None)
            if hour != last:  # the local hour changed (a repeated hour after a DST change counts once)
                cuts.append(at)
                pieces.append(bucket(at))
                last = hour
        return cuts, pieces
    day = start.astimezone(zone).date()
    while True:
        day += timedelta(days=1)
        # The first instant of the next local date (a midnight skipped by DST: the hour after it).
        cut = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        if cut >= end:
            return cuts, pieces
        cuts.append(cut)
        pieces.append(bucket(cut))


def piece_of(column: Any, cuts: Sequence[datetime]) -> ColumnElement[Any]:
    """The index of the piece of [cuts) a timestamp lies in (0 before the first cut), as a balanced tree of
    CASE comparisons: log2(pieces) comparisons of the stored time a row, no date arithmetic."""

    def between(low: int, high: int) -> ColumnElement[Any]:
        if low == high:
            return literal(low)
        middle = (low + high + 1) // 2
        return case(
            (column < literal(cuts[middle - 1], UtcDateTime), between(low, middle - 1)),
            else_=between(middle, high),
        )

    return between(0, len(cuts))


async def walk(
    session: AsyncSession,
    value: Any,
    key: ColumnElement[Any] | None,
    where: Sequence[Any],
    *,
    pieces: int | None = None,
    hit: ColumnElement[Any] | None = None,
) -> tuple[dict[Any, list[float]], dict[Any, list[int]]]:
    """SQLite only: every non-null `value` of the rows `where` selects, per group, ascending, in one walk of
    an index in `value` order (`where` must lead with its equality filters): ({group: values}, {group:
    [hits, misses]}).

    `key` is the group's SQL expression (None: one group); with `pieces`, `key` is a number 0 … pieces-1
    (:func:`piece_of`). `hit` (an SQL value: 1 a hit, 2 a miss, 0 neither) is counted per group when
    given. A Python function registered on the connection for this walk files each value as SQLite reads
    it: no sort, and a group's percentiles are list lookups.
    """
    lists: Any = [[] for _ in range(pieces)] if pieces is not None else defaultdict(list)
    counts: dict[Any, list[int]] = {}
    function: Any
    if hit is None:

        def function(k: Any, v: float, lists: Any = lists) -> None:
            lists[k].append(v)

        columns = [(key if key is not None else literal(None)).label("k"), value.label("v")]
    else:

        def function(k: Any, v: float, h: int, lists: Any = lists) -> None:
            lists[k].append(v)
            if h:
                found = counts.get(k)
                if found is None:
                    found = counts[k] = [0, 0]
                found[h - 1] += 1

        columns = [(key if key is not None else literal(None)).label("k"), value.label("v"), hit.label("h")]
    # In value order (SQLite walks the index rather than sort), each row then given to the function.
    rows = select(*columns).where(*where, value.is_not(None)).order_by(value).subquery()
    connection = await session.connection()
    await connection.run_sync(_define, "okno_collect", len(columns), function)
    try:
        await session.execute(select(func.count(func.okno_collect(*rows.c))).select_from(rows))
    finally:  # the connection goes back to the pool: it keeps no reference to the lists
        await connection.run_sync(_define, "okno_collect", len(columns), None)
    if pieces is not None:
        return {i: values for i, values in enumerate(lists) if values}, counts
    return dict(lists), counts


def _define(connection: Any, name: str, arguments: int, function: Any) -> None:
    connection.connection.dbapi_connection.create_function(name, arguments, function)


def summary_of(values: Sequence[float]) -> Summary:
    """count, avg, median and p90 of values sorted ascending, as :func:`figures` interpolates them."""
    n = len(values)
    if not n:
        return Summary(0, None, None, None)
    quantiles = []
    for fraction in FRACTIONS:
        rank = fraction * (n - 1)
        low = int(rank)
        high = min(low + 1, n - 1)
        quantiles.append(values[low] + (values[high] - values[low]) * (rank - low))
    return Summary(n, math.fsum(values) / n, quantiles[0], quantiles[1])
