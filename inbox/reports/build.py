"""The reports themselves: first_response, reply_time, resolution, calls, volume, leads.

Each reads the facts of its period (waits, calls, reporting events) in one query, groups them by what the
caller asked (agent, team, channel, day, hour, weekday; leads also by source) in the configured time zone,
and aggregates them with :mod:`inbox.reports.figures`. A figure belongs to the local day and hour its wait
started, and to the team the conversation belonged to then.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.business_hours import BusinessHours
from inbox.models import (
    Agent,
    Call,
    ChannelAccount,
    Contact,
    Conversation,
    Message,
    ReportingEvent,
    ReportWait,
    Team,
    utcnow,
)
from inbox.reports.figures import SlaCount, SlaTargets, Summary
from inbox.reports.waits import FIRST_RESPONSE, REPLY, RESOLUTION

WAIT_REPORTS: Mapping[str, str] = {
    "first_response": FIRST_RESPONSE,
    "reply_time": REPLY,
    "resolution": RESOLUTION,
}
REPORTS = (*WAIT_REPORTS, "calls", "volume", "leads")
GROUPS = ("agent", "team", "channel", "day", "hour", "weekday", "source")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MISSED = ("missed", "busy", "failed", "voicemail")


class ReportError(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """What a manager asks: a report, an inclusive range of local dates, a grouping and filters.

    `team_ids` limits the report to those teams (a supervisor's scope); None means every team.
    """

    name: str
    start: date
    end: date
    timezone: str = "Europe/Moscow"
    by: str | None = None
    team_ids: frozenset[int] | None = None
    channel: str | None = None
    agent_id: int | None = None
    business_hours: bool = False

    def __post_init__(self) -> None:
        if self.name not in REPORTS:
            raise ReportError(f"unknown report {self.name!r}; one of {', '.join(REPORTS)}", "name")
        if self.by is not None and self.by not in GROUPS:
            raise ReportError(f"cannot group by {self.by!r}; one of {', '.join(GROUPS)}", "by")
        if self.by == "source" and self.name != "leads":
            raise ReportError("only the leads report groups by source", "by")
        if self.end < self.start:
            raise ReportError("the period ends before it starts", "to")
        try:
            ZoneInfo(self.timezone)
        except (KeyError, ValueError) as exc:
            raise ReportError(f"unknown time zone {self.timezone!r}", "timezone") from exc

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def window(self) -> tuple[datetime, datetime]:
        """The period in UTC: from the first day's local midnight to the midnight after the last day."""
        first = datetime.combine(self.start, time(0), self.zone)
        after = datetime.combine(self.end + timedelta(days=1), time(0), self.zone)
        return first.astimezone(UTC), after.astimezone(UTC)


@dataclass(slots=True)
class Report:
    request: ReportRequest
    rows: list[dict[str, Any]] = field(default_factory=list)
    columns: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        req = self.request
        return {
            "report": req.name,
            "from": req.start.isoformat(),
            "to": req.end.isoformat(),
            "timezone": req.timezone,
            "business_hours": req.business_hours,
            "by": req.by,
            "rows": self.rows,
        }


class _Grouper:
    """Turns a fact into its group key, and keys into the labels reports print."""

    def __init__(self, req: ReportRequest, agents: Mapping[int, str], teams: Mapping[int, str]) -> None:
        self.req, self.agents, self.teams = req, agents, teams

    def key(self, at: datetime, *, team_id: int | None, agent_id: int | None, channel: str | None) -> Any:
        by = self.req.by
        if by is None:
            return None
        local = at.astimezone(self.req.zone)
        if by == "day":
            return local.date().isoformat()
        if by == "hour":
            return local.hour
        if by == "weekday":
            return WEEKDAYS[local.weekday()]
        if by == "agent":
            return self.agents.get(agent_id) if agent_id is not None else None
        if by == "team":
            return self.teams.get(team_id) if team_id is not None else None
        return channel

    def every_key(self, seen: Iterable[Any]) -> list[Any]:
        """Keys in print order; days, hours and weekdays are listed whole (a chart needs its zeros)."""
        seen = set(seen)
        by = self.req.by
        if by is None:
            return [None]
        if by == "day":
            days = (self.req.end - self.req.start).days + 1
            return [(self.req.start + timedelta(days=i)).isoformat() for i in range(days)]
        if by == "hour":
            return list(range(24))
        if by == "weekday":
            return list(WEEKDAYS)
        return sorted(seen, key=lambda k: (k is None, str(k)))


async def _names(session: AsyncSession) -> tuple[dict[int, str], dict[int, str]]:
    agents = {i: e for i, e in (await session.execute(select(Agent.id, Agent.email)))}
    teams = {i: n for i, n in (await session.execute(select(Team.id, Team.name)))}
    return agents, teams


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def build_report(
    session: AsyncSession,
    req: ReportRequest,
    *,
    sla: SlaTargets,
    hours: BusinessHours,
    now: datetime | None = None,
) -> Report:
    """The report `req` asks for, read in one transaction of `session` (which it does not commit)."""
    agents, teams = await _names(session)
    grouper = _Grouper(req, agents, teams)
    if req.name in WAIT_REPORTS:
        return await _wait_report(session, req, grouper, sla, hours, now or utcnow())
    builder: Callable[..., Any] = {"calls": _calls, "volume": _volume, "leads": _leads}[req.name]
    report: Report = await builder(session, req, grouper)
    return report


async def _wait_report(
    session: AsyncSession,
    req: ReportRequest,
    grouper: _Grouper,
    sla: SlaTargets,
    hours: BusinessHours,
    now: datetime,
) -> Report:
    kind = WAIT_REPORTS[req.name]
    start, end = req.window()
    query = select(
        ReportWait.started_at,
        ReportWait.outcome,
        ReportWait.value_seconds,
        ReportWait.business_seconds,
        ReportWait.team_id,
        ReportWait.agent_id,
        ReportWait.channel_kind,
    ).where(
        ReportWait.kind == kind,
        ReportWait.started_at >= start,
        ReportWait.started_at < end,
        or_(ReportWait.outcome.is_(None), ReportWait.outcome != "dropped"),
    )
    if req.team_ids is not None:
        query = query.where(ReportWait.team_id.in_(req.team_ids))
    if req.channel is not None:
        query = query.where(ReportWait.channel_kind == req.channel)
    if req.agent_id is not None:
        query = query.where(ReportWait.agent_id == req.agent_id)
    threshold = sla.for_kind(kind)
    values: dict[Any, list[float]] = defaultdict(list)
    counts: dict[Any, SlaCount] = defaultdict(SlaCount)
    for started, outcome, wall, business, team_id, agent_id, channel in await session.execute(query):
        key = grouper.key(started, team_id=team_id, agent_id=agent_id, channel=channel)
        ended = outcome is not None
        if ended:
            measured = business if req.business_hours else wall
            values[key].append(measured or 0.0)
        if threshold is not None:
            if ended:
                elapsed = (business if sla.business_hours else wall) or 0.0
            else:
                elapsed = (
                    hours.seconds_between(started, now)
                    if sla.business_hours
                    else (now - started).total_seconds()
                )
            counts[key].add(elapsed, threshold, ended=ended)
    rows = []
    for key in grouper.every_key([*values, *counts]):
        summary = Summary.of(values.get(key, []))
        row: dict[str, Any] = {
            "group": key,
            "count": summary.count,
            "avg": _rounded(summary.avg),
            "median": _rounded(summary.median),
            "p90": _rounded(summary.p90),
        }
        if threshold is not None:
            count = counts.get(key, SlaCount())
            row.update(sla_met=count.met, sla_missed=count.missed, sla_pct=count.pct)
        rows.append(row)
    return Report(req, rows)


def _empty_calls() -> dict[str, Any]:
    return {"calls": 0, "inbound": 0, "answered": 0, "missed": 0, "waits": [], "talks": [], "callbacks": []}


async def _calls(session: AsyncSession, req: ReportRequest, grouper: _Grouper) -> Report:
    start, end = req.window()
    query = (
        select(
            Call.started_at,
            Call.direction,
            Call.disposition,
            Call.wait_seconds,
            Call.talk_seconds,
            Call.agent_id,
            ChannelAccount.team_id,
            ChannelAccount.kind,
        )
        .join(ChannelAccount, ChannelAccount.id == Call.account_id)
        .where(Call.started_at >= start, Call.started_at < end, Call.direction != "internal")
    )
    if req.team_ids is not None:
        query = query.where(ChannelAccount.team_id.in_(req.team_ids))
    if req.agent_id is not None:
        query = query.where(Call.agent_id == req.agent_id)
    groups: dict[Any, dict[str, Any]] = defaultdict(
        lambda: {
            "calls": 0,
            "inbound": 0,
            "answered": 0,
            "missed": 0,
            "waits": [],
            "talks": [],
            "callbacks": [],
        }
    )
    for started, direction, disposition, wait, talk, agent_id, team_id, kind in await session.execute(query):
        if started is None:
            continue
        g = groups[grouper.key(started, team_id=team_id, agent_id=agent_id, channel=kind)]
        g["calls"] += 1
        if disposition == "answered":
            g["answered"] += 1
            g["talks"].append(float(talk or 0))
        if direction == "inbound":
            g["inbound"] += 1
            if disposition in MISSED or disposition is None:
                g["missed"] += 1
            if wait is not None:
                g["waits"].append(float(wait))
    # Callback time: from the missed call to the answered call back; it belongs to the missed call's day.
    callbacks = select(
        ReportingEvent.occurred_at,
        ReportingEvent.value_seconds,
        ReportingEvent.team_id,
        ReportingEvent.agent_id,
    ).where(ReportingEvent.name == "callback", ReportingEvent.value_seconds.is_not(None))
    if req.team_ids is not None:
        callbacks = callbacks.where(ReportingEvent.team_id.in_(req.team_ids))
    for at, value, team_id, agent_id in await session.execute(callbacks):
        missed_at = at - timedelta(seconds=value or 0.0)
        if start <= missed_at < end and (req.agent_id is None or agent_id == req.agent_id):
            key = grouper.key(missed_at, team_id=team_id, agent_id=agent_id, channel="sip")
            groups[key]["callbacks"].append(float(value or 0.0))
    rows = []
    for key in grouper.every_key(groups):
        g = groups[key] if key in groups else _empty_calls()
        waits, talks, backs = Summary.of(g["waits"]), Summary.of(g["talks"]), Summary.of(g["callbacks"])
        rows.append(
            {
                "group": key,
                "count": g["calls"],
                "inbound": g["inbound"],
                "answered": g["answered"],
                "missed": g["missed"],
                "missed_pct": round(g["missed"] * 100.0 / g["inbound"], 2) if g["inbound"] else None,
                "wait_avg": _rounded(waits.avg),
                "wait_median": _rounded(waits.median),
                "talk_avg": _rounded(talks.avg),
                "talk_median": _rounded(talks.median),
                "callbacks": backs.count,
                "callback_median": _rounded(backs.median),
                "callback_p90": _rounded(backs.p90),
            }
        )
    return Report(req, rows)


async def _volume(session: AsyncSession, req: ReportRequest, grouper: _Grouper) -> Report:
    start, end = req.window()
    counted: dict[Any, dict[str, int]] = defaultdict(
        lambda: {"new_conversations": 0, "inbound": 0, "outbound": 0}
    )
    events = select(
        ReportingEvent.name,
        ReportingEvent.occurred_at,
        ReportingEvent.team_id,
        ReportingEvent.agent_id,
        ReportingEvent.channel_kind,
    ).where(
        ReportingEvent.name.in_(("conversation_opened", "message_received")),
        ReportingEvent.occurred_at >= start,
        ReportingEvent.occurred_at < end,
    )
    if req.team_ids is not None:
        events = events.where(ReportingEvent.team_id.in_(req.team_ids))
    if req.channel is not None:
        events = events.where(ReportingEvent.channel_kind == req.channel)
    for name, at, team_id, agent_id, channel in await session.execute(events):
        key = grouper.key(at, team_id=team_id, agent_id=agent_id, channel=channel)
        counted[key]["new_conversations" if name == "conversation_opened" else "inbound"] += 1
    sent = (
        select(Message.created_at, Conversation.team_id, Message.agent_id, Conversation.channel_kind)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.direction == "out", Message.created_at >= start, Message.created_at < end)
    )
    if req.team_ids is not None:
        sent = sent.where(Conversation.team_id.in_(req.team_ids))
    if req.channel is not None:
        sent = sent.where(Conversation.channel_kind == req.channel)
    if req.agent_id is not None:
        sent = sent.where(Message.agent_id == req.agent_id)
    for at, team_id, agent_id, channel in await session.execute(sent):
        counted[grouper.key(at, team_id=team_id, agent_id=agent_id, channel=channel)]["outbound"] += 1
    rows = []
    for key in grouper.every_key(counted):
        row = counted.get(key, {"new_conversations": 0, "inbound": 0, "outbound": 0})
        rows.append({"group": key, **row})
    return Report(req, rows)


async def _leads(session: AsyncSession, req: ReportRequest, grouper: _Grouper) -> Report:
    start, end = req.window()
    query = select(
        Contact.created_at, Contact.kind, Contact.source_channel, Contact.source_detail, Contact.owner_id
    ).where(Contact.created_at >= start, Contact.created_at < end, Contact.merged_into_id.is_(None))
    if req.channel is not None:
        query = query.where(Contact.source_channel == req.channel)
    if req.agent_id is not None:
        query = query.where(Contact.owner_id == req.agent_id)
    if req.team_ids is not None:
        # A card is in a team's scope when one of its conversations is.
        query = query.where(
            Contact.id.in_(select(Conversation.contact_id).where(Conversation.team_id.in_(req.team_ids)))
        )
    counted: dict[Any, dict[str, int]] = defaultdict(lambda: {"new_leads": 0, "became_clients": 0})
    for created, kind, channel, detail, owner_id in await session.execute(query):
        if req.by == "source":
            key = detail or channel
        else:
            key = grouper.key(created, team_id=None, agent_id=owner_id, channel=channel)
        counted[key]["new_leads"] += 1
        if kind == "client":
            counted[key]["became_clients"] += 1
    rows = []
    for key in (
        grouper.every_key(counted)
        if req.by != "source"
        else sorted(counted, key=lambda k: (k is None, str(k)))
    ):
        row = counted.get(key, {"new_leads": 0, "became_clients": 0})
        rows.append({"group": key, **row})
    if not rows:
        rows.append({"group": None, "new_leads": 0, "became_clients": 0})
    return Report(req, rows)
