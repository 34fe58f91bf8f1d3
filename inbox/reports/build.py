"""The reports themselves: first_response, reply_time, resolution, calls, volume, leads.

Each reads the facts of its period (waits, calls, reporting events) in one query, groups them by what the
caller asked (agent, team, channel, day, hour, weekday; leads also by source) in the configured time zone,
and aggregates them with :mod:`inbox.reports.figures`. A figure belongs to the local day and hour its wait
started, and to the team the conversation belonged to then.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Float, and_, case, func, literal, literal_column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from inbox.business_hours import BusinessHours, Calendars
from inbox.models import (
    Agent,
    Call,
    ChannelAccount,
    Contact,
    Conversation,
    ReportingEvent,
    ReportWait,
    Team,
    UtcDateTime,
    utcnow,
)
from inbox.reports.counts import rolled_counts, whole_hours
from inbox.reports.figures import SlaBook, SlaCount, SlaTargets, Summary
from inbox.reports.sent import MESSAGE_SENT
from inbox.reports.sql import (
    figures,
    local_bucket,
    local_starts,
    most_of_history,
    piece_of,
    summaries,
    summary_of,
    walk,
)
from inbox.reports.wait_sums import rolled_wait_figures
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
ROLLUPS = True  # volume adds up report_counts; False counts the events as before (an A/B in one process)
WAIT_ROLLUPS = True  # wait reports add up report_wait_sums where they can; False reads the waits (an A/B)
MAX_DAYS = 400  # a year and a month: enough to compare with last year, and a bounded query


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
        if (self.end - self.start).days >= MAX_DAYS:
            raise ReportError(f"a report covers at most {MAX_DAYS} days", "from")
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
    """The SQL expression a report groups by, and the labels and print order of its groups."""

    def __init__(
        self, session: AsyncSession, req: ReportRequest, agents: Mapping[int, str], teams: Mapping[int, str]
    ) -> None:
        self.session, self.req, self.agents, self.teams = session, req, agents, teams

    def expr(
        self, *, at: Any, team: Any = None, agent: Any = None, channel: Any = None
    ) -> ColumnElement[Any] | None:
        by = self.req.by
        if by is None:
            return None
        if by in ("day", "hour", "weekday"):
            return local_bucket(self.session, at, by, self.req.zone, *self.req.window())
        chosen = {"team": team, "agent": agent, "channel": channel}.get(by)
        if chosen is None:  # the report has no such dimension (leads by team, …): one group of unknowns
            return literal(None)
        expression: ColumnElement[Any] = chosen
        return expression

    def label(self, key: Any) -> Any:
        by = self.req.by
        if by == "agent":
            return self.agents.get(key) if key is not None else None
        if by == "team":
            return self.teams.get(key) if key is not None else None
        if by == "weekday":
            return WEEKDAYS[int(key)]
        if by == "hour":
            return int(key)
        return key

    def every_key(self, seen: Iterable[Any]) -> list[Any]:
        """Keys in print order; days, hours and weekdays are listed whole (a chart needs its zeros)."""
        by = self.req.by
        if by is None:
            return [None]
        if by == "day":
            days = (self.req.end - self.req.start).days + 1
            return [(self.req.start + timedelta(days=i)).isoformat() for i in range(days)]
        if by == "hour":
            return list(range(24))
        if by == "weekday":
            return list(range(7))
        return sorted(set(seen), key=lambda k: (k is None, str(self.label(k))))


async def _names(session: AsyncSession) -> tuple[dict[int, str], dict[int, str]]:
    agents = {i: e for i, e in await session.execute(select(Agent.id, Agent.email))}
    teams = {i: n for i, n in await session.execute(select(Team.id, Team.name))}
    return agents, teams


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _norm(key: Any) -> Any:
    """Group keys as SQL returns them, comparable with :meth:`_Grouper.every_key` (hours come back as ints
    or strings, days as dates or strings, depending on the backend)."""
    if isinstance(key, date):  # a local day (PostgreSQL)
        return key.isoformat()
    return int(key) if isinstance(key, float | Decimal) else key


TIME_GROUPS = ("day", "hour", "weekday")


def _utc_hour(session: AsyncSession, at: Any) -> ColumnElement[Any]:
    """The UTC hour of a timestamp column, as cheap as the backend has it: SQLite keeps UTC as text
    ('YYYY-MM-DD HH:MM:SS…', so the first 13 characters), PostgreSQL truncates."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", at)
    return func.substr(at, 1, 13)


async def _grouped_counts(
    session: AsyncSession,
    group: ColumnElement[Any] | None,
    where: Sequence[Any],
    *columns: Any,
    req: ReportRequest | None = None,
    at: Any = None,
) -> dict[Any, tuple[Any, ...]]:
    """Sums (`columns`: counts and sums) per group. By day, hour or weekday in a zone a whole number of
    hours off UTC (`req` and `at` given), the database groups by the UTC hour — a prefix of the stored
    time, where the local bucket costs a conversion per row — and the hours are added up here."""
    if req is not None and at is not None and req.by in TIME_GROUPS and whole_hours(req.zone, *req.window()):
        hour = _utc_hour(session, at)
        totals: dict[Any, list[int]] = {}
        for row in await session.execute(select(hour, *columns).where(*where).group_by(hour)):
            if isinstance(row[0], datetime):
                utc = row[0].astimezone(UTC)
            else:
                utc = datetime.strptime(str(row[0])[:13], "%Y-%m-%d %H").replace(tzinfo=UTC)
            local = utc.astimezone(req.zone)
            bucket: str | int = (
                local.date().isoformat()
                if req.by == "day"
                else (local.hour if req.by == "hour" else local.weekday())
            )
            sums = totals.setdefault(bucket, [0] * len(columns))
            for i, value in enumerate(row[1:]):
                sums[i] += int(value or 0)
        return {bucket: tuple(sums) for bucket, sums in totals.items()}
    key = group if group is not None else literal(0)
    query = select(key, *columns).where(*where)
    # No GROUP BY for one group: SQLite would sort every row by the constant.
    rows = await session.execute(query if group is None else query.group_by(key))
    return {(None if group is None else _norm(row[0])): tuple(row[1:]) for row in rows}


async def _range_counts(
    session: AsyncSession, req: ReportRequest, group: ColumnElement[Any] | None, at: Any, where: Sequence[Any]
) -> dict[Any, int]:
    """How many rows `where` selects in the period (a timestamp column `at` in it) per group, without a
    GROUP BY (a sort on SQLite) or a bucket computed a row: by day, one count of an index range per local
    day (all in one statement); by agent, team or channel (SQLite only), SQLite hands each row's group to a
    list's append (a builtin: no Python code a row) and Python counts them."""
    start, end = req.window()
    if group is None:
        period = [*where, at >= start, at < end]
        return {None: int(await session.scalar(select(func.count()).where(*period)) or 0)}
    if req.by == "day":
        cuts, days = local_starts(req.zone, "day", start, end)
        edges = [start, *cuts, end]
        counts = [
            select(func.count()).where(*where, at >= edges[i], at < edges[i + 1]).scalar_subquery()
            for i in range(len(days))
        ]
        row = (await session.execute(select(*counts))).one()
        return {day: int(n) for day, n in zip(days, row, strict=True) if n}
    keys: list[Any] = []
    connection = await session.connection()
    await connection.run_sync(_define_function, "okno_key", 1, keys.append)
    try:
        await session.execute(select(func.count(func.okno_key(group))).where(*where, at >= start, at < end))
    finally:  # the pooled connection keeps no reference to the list
        await connection.run_sync(_define_function, "okno_key", 1, None)
    return {_norm(k): n for k, n in Counter(keys).items()}


def _define_function(connection: Any, name: str, arguments: int, function: Any) -> None:
    connection.connection.dbapi_connection.create_function(name, arguments, function)


async def build_report(
    session: AsyncSession,
    req: ReportRequest,
    *,
    sla: SlaTargets | SlaBook,
    hours: BusinessHours | Calendars,
    now: datetime | None = None,
) -> Report:
    """The report `req` asks for, read in one transaction of `session` (which it does not commit).

    `sla` and `hours` may carry the teams' own targets and calendars (by team name)."""
    if session.get_bind().dialect.name == "postgresql":
        # For this transaction: no JIT compilation (tens of ms a query, more than it saves on a month's
        # rows), and the sorts of percentile_cont and GROUP BY in memory rather than spilled to disk.
        await session.execute(
            text("SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)")
        )
    agents, teams = await _names(session)
    grouper = _Grouper(session, req, agents, teams)
    if req.name in WAIT_REPORTS:
        calendars = hours if isinstance(hours, Calendars) else Calendars(hours)
        return await _wait_report(session, req, grouper, SlaBook.of_targets(sla), calendars, now or utcnow())
    builder: Callable[..., Any] = {"calls": _calls, "volume": _volume, "leads": _leads}[req.name]
    report: Report = await builder(session, req, grouper)
    return report


@dataclass(frozen=True, slots=True)
class _TeamSla:
    """The SLA of one kind of wait as SQL sees it: the threshold and the clock of each wait's team."""

    default: SlaTargets
    own: Mapping[int, SlaTargets]  # team id → the targets of a team that sets its own
    kind: str

    def targets(self, team_id: int | None) -> SlaTargets:
        return self.own.get(team_id, self.default) if team_id is not None else self.default

    def per_team(self, pick: Callable[[SlaTargets], Any]) -> Any:
        if not self.own:
            return pick(self.default)
        w = ReportWait
        return case(*[(w.team_id == t, pick(v)) for t, v in self.own.items()], else_=pick(self.default))

    def threshold(self) -> Any:
        return self.per_team(lambda t: literal(t.for_kind(self.kind), Float))

    def clock(self) -> Any:
        w = ReportWait
        return self.per_team(lambda t: w.business_seconds if t.business_hours else w.value_seconds)

    def on_business_hours(self) -> bool:
        return any(
            t.business_hours and t.for_kind(self.kind) is not None for t in (self.default, *self.own.values())
        )

    def overdue(self, now: datetime) -> Any:
        """Open waits past their due time on the wall clock."""
        w = ReportWait
        terms = [
            and_(w.team_id == t, w.started_at < now - timedelta(seconds=v.for_kind(self.kind) or 0.0))
            for t, v in self.own.items()
            if v.for_kind(self.kind) is not None
        ]
        default = self.default.for_kind(self.kind)
        if default is not None:
            rest = w.started_at < now - timedelta(seconds=default)
            if self.own:
                rest = and_(or_(w.team_id.is_(None), w.team_id.not_in(list(self.own))), rest)
            terms.append(rest)
        return or_(*terms) if terms else literal(False)


async def _wait_report(
    session: AsyncSession,
    req: ReportRequest,
    grouper: _Grouper,
    sla: SlaBook,
    calendars: Calendars,
    now: datetime,
) -> Report:
    kind = WAIT_REPORTS[req.name]
    start, end = req.window()
    w = ReportWait
    where: list[Any] = [  # the kind and the period first (_walked_figures rewrites the period)
        w.kind == kind,
        w.started_at >= start,
        w.started_at < end,
        or_(w.outcome.is_(None), w.outcome != "dropped"),
    ]
    if req.team_ids is not None:
        where.append(w.team_id.in_(req.team_ids))
    if req.channel is not None:
        where.append(w.channel_kind == req.channel)
    if req.agent_id is not None:
        where.append(w.agent_id == req.agent_id)
    group = grouper.expr(at=w.started_at, team=w.team_id, agent=w.agent_id, channel=w.channel_kind)
    measure = w.business_seconds if req.business_hours else w.value_seconds
    own = {i: sla.teams[name] for i, name in grouper.teams.items() if name in sla.teams}
    team_sla = _TeamSla(sla.default, own, kind)
    has_target = any(t.for_kind(kind) is not None for t in (sla.default, *own.values()))
    stats, met, missed = await _sql_figures(
        session, req, where, group, measure, team_sla, calendars, grouper, now, has_target=has_target
    )
    rows = []
    for key in grouper.every_key([*stats, *met, *missed]):
        summary = stats.get(key, Summary(0, None, None, None))
        row: dict[str, Any] = {
            "group": grouper.label(key),
            "count": summary.count,
            "avg": _rounded(summary.avg),
            "median": _rounded(summary.median),
            "p90": _rounded(summary.p90),
        }
        if has_target:
            count = SlaCount(met.get(key, 0), missed.get(key, 0))
            row.update(sla_met=count.met, sla_missed=count.missed, sla_pct=count.pct)
        rows.append(row)
    return Report(req, rows)


Figures = tuple[dict[Any, Summary], dict[Any, int], dict[Any, int]]  # per group: summary, SLA met, missed


async def _sql_figures(
    session: AsyncSession,
    req: ReportRequest,
    where: list[Any],
    group: ColumnElement[Any] | None,
    measure: Any,
    team_sla: _TeamSla,
    calendars: Calendars,
    grouper: _Grouper,
    now: datetime,
    *,
    has_target: bool,
) -> Figures:
    kind = team_sla.kind
    start, end = req.window()
    w = ReportWait
    # One pass over the period's waits (a covering index holds them): the figures of the ended ones (an open
    # wait has no value yet), how many ended, and the SLA's hits, late ends and overdue open waits — each
    # wait against the threshold and clock of the team it started with.
    ended = w.outcome.is_not(None)
    counts: list[Any] = [func.count(w.outcome)]
    if has_target:
        clock, threshold = team_sla.clock(), team_sla.threshold()
        overdue = and_(w.outcome.is_(None), team_sla.overdue(now))
        counts += [
            func.sum(case((and_(ended, clock <= threshold), 1), else_=0)),
            func.sum(case((and_(ended, clock > threshold), 1), else_=0)),
            func.sum(case((overdue, 1), else_=0)) if not team_sla.on_business_hours() else literal(0),
        ]
    if WAIT_ROLLUPS and _rolled(session, req, team_sla):
        return await rolled_wait_figures(
            session,
            kind=kind,
            start=start,
            end=end,
            by=req.by,
            zone=req.zone,
            threshold=team_sla.default.for_kind(kind) if has_target else None,
            now=now,
        )
    in_value_order = not req.business_hours and await most_of_history(
        session, w.started_at, [w.kind == kind], start, end
    )
    stats: dict[Any, Summary] = {}
    met: dict[Any, int] = {}
    missed: dict[Any, int] = {}
    # Grouped only: for the whole period one aggregate and two short index walks to the percentiles' ranks
    # cost less than filing every value (0.20 s against 0.24 s for reply_time at full size).
    if in_value_order and group is not None and session.get_bind().dialect.name == "sqlite":
        stats, met, missed = await _walked_figures(
            session, req, where, group, measure, team_sla, now, has_target=has_target
        )
    else:
        days: list[Any] | None = None
        pieces = None
        if req.by == "day" and session.get_bind().dialect.name == "postgresql":
            cuts, days = local_starts(req.zone, "day", start, end)
            pieces = (w.started_at, [start, *cuts, end])
        found = await figures(
            session, measure, group, where, counts, in_value_order=in_value_order, pieces=pieces
        )
        for raw_key, (summary, (ended_count, *sla_counts)) in found.items():
            key = _norm(raw_key) if days is None else days[raw_key]
            if summary.count:
                stats[key] = summary
            if has_target and (ended_count or sla_counts[2]):
                hits, late, overdue_count = sla_counts
                met[key] = int(hits or 0)
                missed[key] = int(late or 0) + int(overdue_count or 0)
    if has_target and team_sla.on_business_hours():
        # Working time cannot be counted in SQL: open waits are few, count them here.
        key_col = group if group is not None else literal(0)
        still_open = [*where, w.outcome.is_(None)]
        query = select(key_col, w.team_id, w.started_at).where(*still_open)
        for key, team_id, started in await session.execute(query):
            targets = team_sla.targets(team_id)
            limit = targets.for_kind(kind)
            if limit is None:
                continue
            if targets.business_hours:
                team_name = grouper.teams.get(team_id) if team_id is not None else None
                elapsed = calendars.of(team_name).seconds_between(started, now)
            else:
                elapsed = (now - started).total_seconds()
            if elapsed > limit:
                k = None if group is None else _norm(key)
                missed[k] = missed.get(k, 0) + 1
    return stats, met, missed


def _rolled(session: AsyncSession, req: ReportRequest, team_sla: _TeamSla) -> bool:
    """Whether the roll-ups of the waits answer `req` (see inbox.reports.wait_sums)."""
    return (
        not req.business_hours
        and req.by in (None, *TIME_GROUPS, "team", "channel", "agent")
        and req.team_ids is None
        and req.channel is None
        and req.agent_id is None
        and not team_sla.own
        and not team_sla.default.business_hours
        and (req.by in ("team", "channel", "agent") or whole_hours(req.zone, *req.window()))
    )


async def _walked_figures(
    session: AsyncSession,
    req: ReportRequest,
    where: list[Any],
    group: ColumnElement[Any] | None,
    measure: Any,
    team_sla: _TeamSla,
    now: datetime,
    *,
    has_target: bool,
) -> Figures:
    """SQLite, a period that is most of the history: the ended waits' values per group in one walk of the
    index in value order (:func:`inbox.reports.sql.walk`) — no sort and, by day, hour or weekday, no date
    arithmetic per row — then the few open waits past their due time in a second query."""
    w = ReportWait
    key, buckets = group, None
    if req.by in TIME_GROUPS:
        cuts, buckets = local_starts(req.zone, req.by, *req.window())
        key = piece_of(w.started_at, cuts)
    # One threshold on the clock reported: the hits are counted by bisecting each group's sorted values.
    threshold = team_sla.default.for_kind(team_sla.kind)
    bisect_hits = has_target and not team_sla.own and not team_sla.default.business_hours
    hit = None
    if has_target and not bisect_hits:
        clock, limit = team_sla.clock(), team_sla.threshold()
        hit = case((clock <= limit, 1), (clock > limit, 2), else_=0)
    pieces = None if buckets is None else len(buckets)
    walked, counted = await walk(session, measure, key, where, pieces=pieces, hit=hit)
    parts: dict[Any, list[list[float]]] = defaultdict(list)
    tallies: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for raw_key, values in walked.items():
        k = _norm(raw_key) if buckets is None else buckets[raw_key]
        parts[k].append(values)  # by hour or weekday, several pieces of the period make one group
        tally = counted.get(raw_key, [0, 0])
        tallies[k][0] += tally[0]
        tallies[k][1] += tally[1]
    grouped = {k: (p[0] if len(p) == 1 else sorted(chain(*p)), tallies[k]) for k, p in parts.items()}
    stats: dict[Any, Summary] = {}
    met: dict[Any, int] = {}
    missed: dict[Any, int] = {}
    for k, (values, (hits, late)) in grouped.items():
        stats[k] = summary_of(values)
        if bisect_hits:
            hits = bisect_right(values, threshold) if threshold is not None else 0
            late = len(values) - hits
        if has_target:
            met[k], missed[k] = hits, late
    if has_target and not team_sla.on_business_hours():
        # Open waits have no value (the index keeps them first): those past their due time are misses.
        key_col = group if group is not None else literal(0)
        # The period with a unary plus, which SQLite cannot seek by: it reads the open waits (no value yet)
        # from the front of the index in value order, not every wait of the period by time (75 ms).
        start, end = req.window()
        at = literal_column(f"+{ReportWait.__tablename__}.started_at", UtcDateTime())
        period = [where[0], at >= start, at < end, *where[3:]]
        overdue = [*period, w.value_seconds.is_(None), w.outcome.is_(None), team_sla.overdue(now)]
        query = select(key_col, func.count()).where(*overdue)
        for raw_key, count in await session.execute(query if group is None else query.group_by(key_col)):
            if count:
                k = None if group is None else _norm(raw_key)
                met.setdefault(k, 0)
                missed[k] = missed.get(k, 0) + int(count)
    return stats, met, missed


async def _calls(session: AsyncSession, req: ReportRequest, grouper: _Grouper) -> Report:
    start, end = req.window()
    where: list[Any] = [
        Call.started_at >= start,
        Call.started_at < end,
        Call.direction != "internal",
        Call.account_id.in_(_accounts_in_scope(req)),
    ]
    if req.agent_id is not None:
        where.append(Call.agent_id == req.agent_id)
    group = grouper.expr(at=Call.started_at, team=None, agent=Call.agent_id, channel=literal("sip"))
    inbound = Call.direction == "inbound"
    answered = Call.disposition == "answered"
    counts = await _grouped_counts(
        session,
        group,
        where,
        func.count(),
        func.sum(case((inbound, 1), else_=0)),
        func.sum(case((answered, 1), else_=0)),
        func.sum(
            case((and_(inbound, or_(Call.disposition.is_(None), Call.disposition.in_(MISSED))), 1), else_=0)
        ),
        req=req,
        at=Call.started_at,
    )
    waits = {
        _norm(k): v
        for k, v in (await summaries(session, Call.wait_seconds, group, [*where, inbound])).items()
    }
    talks = {
        _norm(k): v
        for k, v in (await summaries(session, Call.talk_seconds, group, [*where, answered])).items()
    }
    # Callback time: from the missed call to the answered call back; it belongs to the missed call's day.
    callbacks: dict[Any, list[float]] = defaultdict(list)
    query = select(ReportingEvent.occurred_at, ReportingEvent.value_seconds, ReportingEvent.agent_id).where(
        ReportingEvent.name == "callback",
        ReportingEvent.value_seconds.is_not(None),
        ReportingEvent.occurred_at >= start,
        ReportingEvent.account_id.in_(_accounts_in_scope(req)),
    )
    for at, value, agent_id in await session.execute(query):
        missed_at = at - timedelta(seconds=value or 0.0)
        if start <= missed_at < end and (req.agent_id is None or agent_id == req.agent_id):
            callbacks[_python_key(grouper, missed_at, agent_id)].append(float(value or 0.0))
    rows = []
    keys = [*counts, *waits, *callbacks]
    for key in grouper.every_key(keys):
        total, calls_in, ok, lost = counts.get(key, (0, 0, 0, 0))
        calls_in, ok, lost = int(calls_in or 0), int(ok or 0), int(lost or 0)
        wait = waits.get(key, Summary(0, None, None, None))
        talk = talks.get(key, Summary(0, None, None, None))
        back = Summary.of(callbacks.get(key, []))
        rows.append(
            {
                "group": grouper.label(key),
                "count": int(total or 0),
                "inbound": calls_in,
                "answered": ok,
                "missed": lost,
                "missed_pct": round(lost * 100.0 / calls_in, 2) if calls_in else None,
                "wait_avg": _rounded(wait.avg),
                "wait_median": _rounded(wait.median),
                "talk_avg": _rounded(talk.avg),
                "talk_median": _rounded(talk.median),
                "callbacks": back.count,
                "callback_median": _rounded(back.median),
                "callback_p90": _rounded(back.p90),
            }
        )
    return Report(req, rows)


def _accounts_in_scope(req: ReportRequest) -> Any:
    query = select(ChannelAccount.id)
    if req.team_ids is not None:
        query = query.where(ChannelAccount.team_id.in_(req.team_ids))
    return query


def _python_key(grouper: _Grouper, at: datetime, agent_id: int | None) -> Any:
    """The group of one fact read into Python (the few callbacks), as SQL would give it."""
    by = grouper.req.by
    local = at.astimezone(grouper.req.zone)
    if by is None:
        return None
    if by == "day":
        return local.date().isoformat()
    if by == "hour":
        return local.hour
    if by == "weekday":
        return local.weekday()
    if by == "agent":
        return agent_id
    return "sip" if by == "channel" else None


async def _volume(session: AsyncSession, req: ReportRequest, grouper: _Grouper) -> Report:
    start, end = req.window()
    e = ReportingEvent
    scope: list[Any] = []  # the filters besides the kind of event and the period
    if req.team_ids is not None:
        scope.append(e.team_id.in_(req.team_ids))
    if req.channel is not None:
        scope.append(e.channel_kind == req.channel)
    where: list[Any] = [
        e.name.in_(("conversation_opened", "message_received")),
        e.occurred_at >= start,
        e.occurred_at < end,
        *scope,
    ]
    group = grouper.expr(at=e.occurred_at, team=e.team_id, agent=e.agent_id, channel=e.channel_kind)
    # Counts of plain index ranges (see _range_counts): on SQLite but by hour and weekday (a GROUP BY there is
    # a sort), on PostgreSQL for the whole period and by day (a hash aggregate serves the other groups).
    sqlite = session.get_bind().dialect.name == "sqlite"
    counting = req.by not in ("hour", "weekday") if sqlite else req.by in (None, "day")
    received: dict[Any, tuple[Any, ...]]
    # The roll-ups first (inbox.reports.counts); the events themselves when they cannot tell.
    # Without an agent filter (it applies to outbound messages only) one pass reads all three kinds.
    opened_in: tuple[str, ...] = ("conversation_opened", "message_received")
    if req.agent_id is None:
        opened_in += (MESSAGE_SENT,)
    span: dict[str, Any] = {"by": req.by, "zone": req.zone, "start": start, "end": end}
    span.update(team_ids=req.team_ids, channel=req.channel)
    rolled = await rolled_counts(session, names=opened_in, **span) if ROLLUPS else None
    if rolled is not None:
        opened, inbound = rolled["conversation_opened"], rolled["message_received"]
        received = {k: (opened.get(k, 0), inbound.get(k, 0)) for k in {*opened, *inbound}}
    elif counting:
        at = e.occurred_at
        opened = await _range_counts(session, req, group, at, [e.name == "conversation_opened", *scope])
        inbound = await _range_counts(session, req, group, at, [e.name == "message_received", *scope])
        received = {k: (opened.get(k, 0), inbound.get(k, 0)) for k in {*opened, *inbound}}
    else:
        received = await _grouped_counts(
            session,
            group,
            where,
            func.sum(case((e.name == "conversation_opened", 1), else_=0)),
            func.sum(case((e.name == "message_received", 1), else_=0)),
            req=req,
            at=e.occurred_at,
        )
    # Outbound: the "message_sent" facts (inbox.reports.sent), each under the team of its time.
    sent_scope = [*scope, e.agent_id == req.agent_id] if req.agent_id is not None else scope
    sent: dict[Any, tuple[Any, ...]]
    outbound = rolled if rolled is not None and req.agent_id is None else None
    if ROLLUPS and req.agent_id is not None:
        outbound = await rolled_counts(session, names=(MESSAGE_SENT,), agent_id=req.agent_id, **span)
    if outbound is not None:
        sent = {k: (n,) for k, n in outbound[MESSAGE_SENT].items()}
    elif counting:
        sent_counts = await _range_counts(
            session, req, group, e.occurred_at, [e.name == MESSAGE_SENT, *sent_scope]
        )
        sent = {k: (n,) for k, n in sent_counts.items()}
    else:
        sent_where = [e.name == MESSAGE_SENT, e.occurred_at >= start, e.occurred_at < end, *sent_scope]
        sent = await _grouped_counts(session, group, sent_where, func.count(), req=req, at=e.occurred_at)
    rows = []
    for key in grouper.every_key([*received, *sent]):
        opened, inbound = received.get(key, (0, 0))
        rows.append(
            {
                "group": grouper.label(key),
                "new_conversations": int(opened or 0),
                "inbound": int(inbound or 0),
                "outbound": int(sent.get(key, (0,))[0] or 0),
            }
        )
    return Report(req, rows)


async def _leads(session: AsyncSession, req: ReportRequest, grouper: _Grouper) -> Report:
    start, end = req.window()
    where: list[Any] = [
        Contact.created_at >= start,
        Contact.created_at < end,
        Contact.merged_into_id.is_(None),
    ]
    if req.channel is not None:
        where.append(Contact.source_channel == req.channel)
    if req.agent_id is not None:
        where.append(Contact.owner_id == req.agent_id)
    if req.team_ids is not None:
        # A card is in a team's scope when one of its conversations is.
        where.append(
            Contact.id.in_(select(Conversation.contact_id).where(Conversation.team_id.in_(req.team_ids)))
        )
    if req.by == "source":
        group: ColumnElement[Any] | None = func.coalesce(Contact.source_detail, Contact.source_channel)
    else:
        group = grouper.expr(at=Contact.created_at, agent=Contact.owner_id, channel=Contact.source_channel)
    counted = await _grouped_counts(
        session,
        group,
        where,
        func.count(),
        func.sum(case((Contact.kind == "client", 1), else_=0)),
        req=req,
        at=Contact.created_at,
    )
    keys = (
        grouper.every_key(counted)
        if req.by != "source"
        else sorted(counted, key=lambda k: (k is None, str(k)))
    )
    rows = []
    for key in keys:
        leads, clients = counted.get(key, (0, 0))
        label = key if req.by == "source" else grouper.label(key)
        rows.append({"group": label, "new_leads": int(leads or 0), "became_clients": int(clients or 0)})
    if not rows:
        rows.append({"group": None, "new_leads": 0, "became_clients": 0})
    return Report(req, rows)
