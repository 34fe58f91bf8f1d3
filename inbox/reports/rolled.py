"""A wait report computed from the day roll-ups (:mod:`inbox.reports.rollup`) and the period's waits not yet
rolled up — the same figures as the SQL path of :mod:`inbox.reports.build`, read from a few thousand rows.

Each roll-up row holds one team, agent, channel and local day, so grouping by any of those (or by weekday)
moves whole arrays; grouping by hour moves each value by its hour byte. Per group the values are joined and
sorted (the rows' arrays are already in wall-clock order, so the sort mostly merges runs), then count,
average, median and p90 are taken as ``percentile_cont`` takes them. SLA hits and late ends are counted per
row against the threshold and clock of the row's team; open waits past their due time are counted from the
waits themselves, as the SQL path does.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import ReportRollup, ReportWait
from inbox.reports.figures import SlaTargets, Summary, percentile
from inbox.reports.rollup import Values, rollup_key

WEEKDAY_OF: dict[str, int] = {}


@dataclass(slots=True)
class Tally:
    """One group's values (of the measure asked for) and SLA counts."""

    values: list[float] = field(default_factory=list)
    met: int = 0
    missed: int = 0
    timed: bool = False  # an ended wait or an overdue one counted for the SLA

    def summary(self) -> Summary:
        known = [v for v in self.values if not math.isnan(v)]
        if not known:
            return Summary(0, None, None, None)
        known.sort()
        return Summary(
            len(known), math.fsum(known) / len(known), percentile(known, 0.5), percentile(known, 0.9)
        )


def _weekday(day: str) -> int:
    found = WEEKDAY_OF.get(day)
    if found is None:
        found = WEEKDAY_OF[day] = date.fromisoformat(day).weekday()
    return found


def _row_group(by: str | None, day: str, team_id: int, agent_id: int, channel: str) -> Any:
    """The group of a whole roll-up row (every grouping but the hour), keyed as the SQL path keys it."""
    if by is None:
        return None
    if by == "day":
        return day
    if by == "weekday":
        return _weekday(day)
    if by == "team":
        return team_id or None
    if by == "agent":
        return agent_id or None
    if by == "channel":
        return channel
    return None  # a dimension waits do not have (source): one group of unknowns


def _count_sla(tally: Tally, clock: Any, threshold: float, *, sorted_clock: bool) -> None:
    """Hits (≤ threshold) and late ends (>) among ended waits' `clock` values (NaN: neither)."""
    n = len(clock)
    if sorted_clock:
        while n and math.isnan(clock[n - 1]):  # unknown values sort last
            n -= 1
        hits = bisect_right(clock, threshold, 0, n)
        tally.met += hits
        tally.missed += n - hits
    else:
        for v in clock:
            if v <= threshold:
                tally.met += 1
            elif v > threshold:
                tally.missed += 1
    if len(clock):
        tally.timed = True


async def rolled_figures(
    session: AsyncSession,
    *,
    kind: str,
    by: str | None,
    zone_name: str,
    start: datetime,
    end: datetime,
    team_ids: frozenset[int] | None,
    channel: str | None,
    agent_id: int | None,
    business_hours: bool,
    targets_of: Callable[[int | None], SlaTargets],
    has_target: bool,
    overdue_seconds: Callable[[int | None, datetime], float],
) -> dict[Any, Tally]:
    """Per group: the measured values and SLA counts of the waits of `kind` started in [start, end).

    `targets_of(team_id)` gives a team's SLA; `overdue_seconds(team_id, started_at)` how long an open wait
    has lasted on its team's SLA clock."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(zone_name)
    first_day = start.astimezone(zone).date().isoformat()
    last_day = (end.astimezone(zone)).date().isoformat()
    r = ReportRollup
    query = select(r.day, r.team_id, r.agent_id, r.channel_kind, r.wall, r.business, r.hours).where(
        r.kind == kind, r.day >= first_day, r.day < last_day
    )
    if team_ids is not None:
        query = query.where(r.team_id.in_(team_ids))
    if channel is not None:
        query = query.where(r.channel_kind == channel)
    if agent_id is not None:
        query = query.where(r.agent_id == agent_id)
    tallies: dict[Any, Tally] = defaultdict(Tally)
    for day, team_id, agent, channel_kind, wall, business, hours in await session.execute(query):
        values = Values.unpack(wall, business, hours)
        threshold = targets_of(team_id or None).for_kind(kind) if has_target else None
        on_business = targets_of(team_id or None).business_hours
        measure = values.business if business_hours else values.wall
        if by == "hour":
            _by_hour(tallies, values, measure, threshold, on_business)
            continue
        tally = tallies[_row_group(by, day, team_id, agent, channel_kind)]
        tally.values.extend(measure)
        if threshold is not None:
            clock = values.business if on_business else values.wall
            _count_sla(tally, clock, threshold, sorted_clock=not on_business)
    await _add_unrolled(
        session,
        tallies,
        kind=kind,
        by=by,
        zone=zone,
        start=start,
        end=end,
        team_ids=team_ids,
        channel=channel,
        agent_id=agent_id,
        business_hours=business_hours,
        targets_of=targets_of,
        has_target=has_target,
        overdue_seconds=overdue_seconds,
    )
    return tallies


def _by_hour(
    tallies: dict[Any, Tally], values: Values, measure: Any, threshold: float | None, on_business: bool
) -> None:
    clock = values.business if on_business else values.wall
    for hour, v, c in zip(values.hours, measure, clock, strict=True):
        tally = tallies[hour]
        tally.values.append(v)
        if threshold is not None:
            tally.timed = True
            if c <= threshold:
                tally.met += 1
            elif c > threshold:
                tally.missed += 1


async def _add_unrolled(
    session: AsyncSession,
    tallies: dict[Any, Tally],
    *,
    kind: str,
    by: str | None,
    zone: Any,
    start: datetime,
    end: datetime,
    team_ids: frozenset[int] | None,
    channel: str | None,
    agent_id: int | None,
    business_hours: bool,
    targets_of: Callable[[int | None], SlaTargets],
    has_target: bool,
    overdue_seconds: Callable[[int | None, datetime], float],
) -> None:
    """The period's waits the roll-ups do not hold yet: ended ones count as the roll-ups would count them;
    open ones only for the SLA, when past their due time."""
    w = ReportWait
    query = select(
        w.started_at, w.team_id, w.agent_id, w.channel_kind, w.outcome, w.value_seconds, w.business_seconds
    ).where(w.kind == kind, ~w.rolled, w.started_at >= start, w.started_at < end)
    if team_ids is not None:
        query = query.where(w.team_id.in_(team_ids))
    if channel is not None:
        query = query.where(w.channel_kind == channel)
    if agent_id is not None:
        query = query.where(w.agent_id == agent_id)
    rows: Iterable[Any] = await session.execute(query)
    for started_at, team_id, agent, channel_kind, outcome, value, business in rows:
        if outcome == "dropped":
            continue
        (_, day, team_key, agent_key, _), hour = rollup_key(
            kind, started_at, team_id, agent, channel_kind, zone
        )
        group = hour if by == "hour" else _row_group(by, day, team_key, agent_key, channel_kind)
        targets = targets_of(team_id)
        threshold = targets.for_kind(kind) if has_target else None
        if outcome is None:  # still open: a miss once past its due time, no figure yet
            if threshold is not None and overdue_seconds(team_id, started_at) > threshold:
                tally = tallies[group]
                tally.missed += 1
                tally.timed = True
            continue
        tally = tallies[group]
        measured = business if business_hours else value
        tally.values.append(math.nan if measured is None else float(measured))
        if threshold is not None:
            clock = business if targets.business_hours else value
            tally.timed = True
            if clock is not None and clock <= threshold:
                tally.met += 1
            elif clock is not None and clock > threshold:
                tally.missed += 1
