"""The drill-down of a wait report: the waits behind one bar or row — which conversations, whose client, on
which channel, answered by whom, when each began, how long it lasted, and whether it met the SLA.

The waits are chosen exactly as the report chose them (the same period, filters and scope, see
:mod:`inbox.reports.build`), narrowed to one group: an agent's e-mail, a team's name, a channel kind, a local
day (YYYY-MM-DD), hour (0–23) or weekday (mon–sun); a null group is the rows the report printed as "none".
A wait is held to the SLA of its team (the team of its start), on that team's clock and calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.business_hours import Calendars
from inbox.models import Agent, Contact, ReportWait, Team
from inbox.reports.build import WAIT_REPORTS, WEEKDAYS, ReportError, ReportRequest
from inbox.reports.figures import SlaBook
from inbox.reports.sql import local_bucket

MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class DrillRow:
    wait_id: int
    conversation_id: int
    contact_id: int | None
    client: str | None
    channel: str
    agent: str | None  # the e-mail of who ended the wait
    team: str | None
    started_at: datetime
    ended_at: datetime | None
    seconds: float | None  # wall-clock or working seconds, as the report; None while still open
    sla: str | None  # "met", "missed", "pending" (open, not yet due); None: no target for its team


@dataclass(frozen=True, slots=True)
class DrillPage:
    total: int
    rows: list[DrillRow]


async def _group_filter(session: AsyncSession, req: ReportRequest, group: str | None) -> list[Any]:
    """The conditions that keep one group of the report `req`."""
    w = ReportWait
    by = req.by
    if by is None:
        if group is not None:
            raise ReportError("a group needs a grouping (by)", "group")
        return []
    if by == "agent":
        if group is None:
            return [w.agent_id.is_(None)]
        agent_id = await session.scalar(select(Agent.id).where(Agent.email == group))
        if agent_id is None:
            raise ReportError(f"no agent with the e-mail {group!r}", "group")
        return [w.agent_id == agent_id]
    if by == "team":
        if group is None:
            return [w.team_id.is_(None)]
        team_id = await session.scalar(select(Team.id).where(Team.name == group))
        if team_id is None:
            raise ReportError(f"no team named {group!r}", "group")
        return [w.team_id == team_id]
    if by == "channel":
        return [w.channel_kind.is_(None) if group is None else w.channel_kind == group]
    if group is None:
        raise ReportError(f"a {by} is never empty: name one", "group")
    if by == "day":
        try:
            day = date.fromisoformat(group)
        except ValueError:
            raise ReportError("a day is YYYY-MM-DD", "group") from None
        first = datetime.combine(day, time(0), req.zone).astimezone(UTC)
        after = datetime.combine(day + timedelta(days=1), time(0), req.zone).astimezone(UTC)
        return [w.started_at >= first, w.started_at < after]
    if by == "hour":
        if not group.isdigit() or not 0 <= int(group) <= 23:
            raise ReportError("an hour is 0–23", "group")
        return [local_bucket(session, w.started_at, "hour", req.zone, *req.window()) == int(group)]
    if by == "weekday":
        if group not in WEEKDAYS:
            raise ReportError(f"a weekday is one of {', '.join(WEEKDAYS)}", "group")
        bucket = local_bucket(session, w.started_at, "weekday", req.zone, *req.window())
        return [bucket == WEEKDAYS.index(group)]
    raise ReportError(f"the {req.name} report cannot be grouped by {by}", "by")


async def drill_down(
    session: AsyncSession,
    req: ReportRequest,
    group: str | None,
    *,
    sla: SlaBook,
    calendars: Calendars,
    now: datetime,
    limit: int = 50,
    offset: int = 0,
) -> DrillPage:
    """One page of the waits behind `group` of the report `req` (oldest first), and how many there are."""
    if req.name not in WAIT_REPORTS:
        raise ReportError(
            f"the conversations behind a report are listed for {', '.join(WAIT_REPORTS)}", "name"
        )
    kind = WAIT_REPORTS[req.name]
    start, end = req.window()
    w = ReportWait
    where: list[Any] = [
        w.kind == kind,
        w.started_at >= start,
        w.started_at < end,
        or_(w.outcome.is_(None), w.outcome != "dropped"),
        *await _group_filter(session, req, group),
    ]
    if req.team_ids is not None:
        where.append(w.team_id.in_(req.team_ids))
    if req.channel is not None:
        where.append(w.channel_kind == req.channel)
    if req.agent_id is not None:
        where.append(w.agent_id == req.agent_id)
    total = int(await session.scalar(select(func.count()).select_from(w).where(*where)) or 0)
    query = (
        select(w, Contact.name, Agent.email, Team.name)
        .outerjoin(Contact, Contact.id == w.contact_id)
        .outerjoin(Agent, Agent.id == w.agent_id)
        .outerjoin(Team, Team.id == w.team_id)
        .where(*where)
        .order_by(w.started_at, w.id)
        .limit(max(1, min(limit, MAX_PAGE)))
        .offset(max(0, offset))
    )
    rows = []
    for wait, client, agent, team in await session.execute(query):
        measured = wait.business_seconds if req.business_hours else wait.value_seconds
        rows.append(
            DrillRow(
                wait_id=wait.id,
                conversation_id=wait.conversation_id,
                contact_id=wait.contact_id,
                client=client,
                channel=wait.channel_kind,
                agent=agent,
                team=team,
                started_at=wait.started_at,
                ended_at=wait.ended_at,
                seconds=None if wait.outcome is None else measured,
                sla=_sla_of(wait, team, kind, sla, calendars, now),
            )
        )
    return DrillPage(total, rows)


def _sla_of(
    wait: ReportWait, team: str | None, kind: str, sla: SlaBook, calendars: Calendars, now: datetime
) -> str | None:
    """Met, missed or pending by the rule the report counts with (its team's threshold and clock)."""
    targets = sla.of(team)
    threshold = targets.for_kind(kind)
    if threshold is None:
        return None
    if wait.outcome is not None:
        clock = wait.business_seconds if targets.business_hours else wait.value_seconds
        return "met" if (clock or 0.0) <= threshold else "missed"
    if targets.business_hours:
        elapsed = calendars.of(team).seconds_between(wait.started_at, now)
    else:
        elapsed = (now - wait.started_at).total_seconds()
    return "missed" if elapsed > threshold else "pending"
