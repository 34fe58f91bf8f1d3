"""Volume's counts from the roll-ups (`report_counts`, migration 0016_report_rollups) instead of the events.

Triggers on reporting_events keep, in the event's own transaction, how many new conversations, inbound and
outbound messages fell in each UTC hour per team and channel, and in each UTC day per team, channel and
agent. A report adds them up:

* not per agent (no grouping, by team, channel, day, hour or weekday): the hours of the period, when the
  time zone is a whole number of hours off UTC all through it (then each local day and hour is made of
  whole UTC hours); by day, hour or weekday each UTC hour goes to its local bucket here;
* per agent (grouped by agent, or outbound messages of one agent), or not per agent in a zone a half or a
  quarter of an hour off: the UTC days of the period, and its ragged ends counted from the events
  themselves — the part of the period outside those days added, or the part of a day outside the period
  taken off, whichever is shorter (at most half a day at each end).

What the roll-ups cannot answer (outbound messages of one agent by day, hour or weekday) gets None, and the
report counts the events as before. The counts are exact either way: the same events, added up earlier.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import ReportCount, ReportingEvent
from inbox.reports.sql import offsets

TIME_GROUPS = ("day", "hour", "weekday")
Counted = dict[str, dict[Any, int]]  # event name → group key → count


def whole_hours(zone: Any, start: datetime, end: datetime) -> bool:
    """Whether the zone is a whole number of hours off UTC all through [start, end) (then a local day, hour
    and weekday are each made of whole UTC hours)."""
    return all(minutes % 60 == 0 for _, minutes in offsets(zone, start, end))


def _local_key(by: str, zone: Any, at: datetime) -> Any:
    local = at.astimezone(UTC).astimezone(zone)
    if by == "day":
        return local.date().isoformat()
    return local.hour if by == "hour" else local.weekday()


def _key(by: str | None, value: Any) -> Any:
    """A roll-up's key as the events' grouping gives it: no team, channel or agent is None."""
    if by in ("team", "agent"):
        return None if not value else int(value)
    if by == "channel":
        return value or None
    return value


async def rolled_counts(
    session: AsyncSession,
    *,
    names: Sequence[str],
    by: str | None,
    zone: Any,
    start: datetime,
    end: datetime,
    team_ids: frozenset[int] | None = None,
    channel: str | None = None,
    agent_id: int | None = None,
) -> Counted | None:
    """How many events of each of `names` fell in [start, end) per group `by` (None: one group, key None),
    within the teams, channel and agent given; None when the roll-ups cannot tell (see the module)."""
    per_agent = by == "agent" or agent_id is not None
    if per_agent and by in TIME_GROUPS:
        return None
    if not per_agent and whole_hours(zone, start, end):
        return await _hours(session, names, by, zone, start, end, team_ids, channel)
    if by in TIME_GROUPS:
        return None
    return await _days(session, names, by, start, end, team_ids, channel, agent_id)


def _filters(
    table: Any, team_ids: frozenset[int] | None, channel: str | None, agent_id: int | None
) -> list[Any]:
    where: list[Any] = []
    if team_ids is not None:
        where.append(table.team_id.in_(team_ids))
    if channel is not None:
        where.append(table.channel_kind == channel)
    if agent_id is not None:
        where.append(table.agent_id == agent_id)
    return where


def _column(table: Any, by: str | None) -> Any:
    return {"team": table.team_id, "agent": table.agent_id, "channel": table.channel_kind}.get(by or "")


async def _hours(
    session: AsyncSession,
    names: Sequence[str],
    by: str | None,
    zone: Any,
    start: datetime,
    end: datetime,
    team_ids: frozenset[int] | None,
    channel: str | None,
) -> Counted:
    c = ReportCount
    where = [c.width == "h", c.name.in_(names), c.bucket >= start, c.bucket < end]
    where += _filters(c, team_ids, channel, None)
    column = c.bucket if by in TIME_GROUPS else _column(c, by)
    counted: Counted = {name: {} for name in names}
    keys = [c.name] if column is None else [c.name, column]
    for row in await session.execute(select(*keys, func.sum(c.n)).where(*where).group_by(*keys)):
        name, n = row[0], int(row[-1] or 0)
        if by in TIME_GROUPS:
            key = _local_key(by, zone, row[1])
        else:
            key = None if column is None else _key(by, row[1])
        if n:
            into = counted[name]
            into[key] = into.get(key, 0) + n
    return counted


Ends = list[tuple[datetime, datetime, int]]  # (from, to, +1 add / -1 take off)


def day_span(start: datetime, end: datetime) -> tuple[datetime, datetime, Ends]:
    """A period as the UTC days a daily roll-up adds up, [low_day, high_day), and the ragged ends to count
    from the facts themselves, each added (a part of the period outside those days) or taken off (a part
    of those days outside the period): whichever is shorter — in Moscow the last local day ends at 21:00
    UTC, 3 hours before its UTC day. Less than a day or two: no days (low_day = high_day), the facts alone."""
    day = timedelta(days=1)
    first = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    last = end.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    low_day, high_day = first, last
    ends: Ends = []
    if first < start:
        if start - first > day / 2:
            low_day = first + day
            ends.append((start, low_day, 1))
        else:
            ends.append((first, start, -1))
    if last < end:
        if end - last > day / 2:
            high_day = last + day
            ends.append((end, high_day, -1))
        else:
            ends.append((last, end, 1))
    if low_day >= high_day:
        return start, start, [(start, end, 1)]
    return low_day, high_day, ends


async def _days(
    session: AsyncSession,
    names: Sequence[str],
    by: str | None,
    start: datetime,
    end: datetime,
    team_ids: frozenset[int] | None,
    channel: str | None,
    agent_id: int | None,
) -> Counted:
    c, e = ReportCount, ReportingEvent
    low_day, high_day, ends = day_span(start, end)
    counted: Counted = {name: {} for name in names}

    def add(name: str, key: Any, n: int) -> None:
        if n:
            into = counted[name]
            into[key] = into.get(key, 0) + n

    if low_day < high_day:
        column = _column(c, by)
        keys = [c.name] if column is None else [c.name, column]
        where = [c.width == "d", c.name.in_(names), c.bucket >= low_day, c.bucket < high_day]
        where += _filters(c, team_ids, channel, agent_id)
        for row in await session.execute(select(*keys, func.sum(c.n)).where(*where).group_by(*keys)):
            add(row[0], None if column is None else _key(by, row[1]), int(row[-1] or 0))
    column = _column(e, by)
    keys = [e.name] if column is None else [e.name, column]
    scope = _filters(e, team_ids, channel, agent_id)
    for low, high, sign in ends:
        where = [e.name.in_(names), e.occurred_at >= low, e.occurred_at < high, *scope]
        for row in await session.execute(select(*keys, func.count()).where(*where).group_by(*keys)):
            add(row[0], None if column is None else _key(by, row[1]), sign * int(row[-1] or 0))
    return {name: {k: n for k, n in found.items() if n} for name, found in counted.items()}
