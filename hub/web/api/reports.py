"""``GET /api/v1/reports/{name}``: the managers' reports (supervisors and admins), JSON or CSV; and
``GET /api/v1/reports/{name}/conversations``: the facts behind one bar or row (the drill-down): waits, new
conversations, lead cards or calls, each linked to its conversation.

The same reports as `okno report` (see docs/reports.md): a supervisor sees the figures of their own teams
only (asking for another team is a 403), an admin every team's. ``Accept: text/csv`` (or ``format=csv``)
answers CSV, UTF-8 with a BOM, one row per group.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BeforeValidator, Field
from sqlalchemy.ext.asyncio import AsyncSession

from hub.report_csv import to_csv
from hub.runtime import Hub
from hub.web.api.operations import operation
from hub.web.api.schemas.base import respond
from hub.web.api.schemas.reports import Report, ReportConversations, ReportCsv
from hub.web.auth import require_agent
from hub.web.context import db, hub_of
from hub.web.errors import forbidden, not_found, unprocessable
from hub.web.inputs import Id, Query, read_query
from inbox.conversations import Viewer
from inbox.models import utcnow
from inbox.reports.build import GROUPS, REPORTS, ReportError, ReportRequest, build_report
from inbox.reports.build import Report as ReportOutcome
from inbox.reports.drill import MAX_PAGE, drill_down

routes = web.RouteTableDef()

ReportName = Literal["first_response", "reply_time", "resolution", "calls", "volume", "leads"]
Group = Literal["agent", "team", "channel", "day", "hour", "weekday", "source"]
assert set(ReportName.__args__) == set(REPORTS) and set(Group.__args__) == set(GROUPS)  # type: ignore[attr-defined]


class ReportPath(Query):
    name: ReportName


def _iso_date(value: object) -> object:
    """Only YYYY-MM-DD: pydantic alone would also take "0" (a Unix time) for a date."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a date is YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class ReportFilters(Query):
    """What chooses a report's facts: the period, grouping and filters (shared with its drill-down)."""

    from_: IsoDate | None = Field(
        None,
        alias="from",
        description="the first day (YYYY-MM-DD, in the hub's time zone; default: 6 days before `to`)",
    )
    to: IsoDate | None = Field(None, description="the last day, inclusive (default: today)")
    by: Group | None = None
    team: Id | None = Field(None, description="only this team (a supervisor: one of theirs)")
    channel: str | None = Field(None, max_length=20, description="only this channel kind")
    agent: Id | None = Field(None, description="only this agent")
    business_hours: bool = Field(False, description="durations in working time")


class ReportQuery(ReportFilters):
    format: Literal["json", "csv"] | None = Field(None, description="csv: the same rows as CSV (or Accept)")
    delimiter: Literal[",", ";"] = Field(",", description="the CSV delimiter (';' for Excel in Russian)")


@routes.get("/api/v1/reports/{name}")
@operation(
    "A managers' report for a period: JSON, or CSV with Accept: text/csv (supervisors and admins)",
    "reports",
    {200: ("OK", Report)},
    also=(("text/csv", ReportCsv),),
    query=ReportQuery,
    path=ReportPath,
    errors=(403, 404, 422),
)
async def get_report(request: web.Request) -> web.StreamResponse:
    hub = hub_of(request)
    async with db(request) as session:
        principal = await require_agent(request, session, "supervisor", "admin")
        query = read_query(request, ReportQuery)
        name = read_query_path(request)
        report = await read_report(hub, session, principal.viewer, name, query)
    body = report.to_dict()
    wants_csv = query.format == "csv" or (
        query.format is None and "text/csv" in request.headers.get("Accept", "")
    )
    if wants_csv:
        return web.Response(
            body=to_csv(body["rows"], query.delimiter).encode("utf-8"),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}-{body["from"]}-{body["to"]}.csv"'},
        )
    return respond(Report.model_validate(body))


class DrillQuery(ReportFilters):
    group: str | None = Field(
        None,
        max_length=320,
        description="the row or bar: an agent's e-mail, a team's name, a channel kind, a day (YYYY-MM-DD), "
        "an hour (0-23), a weekday (mon-sun) or (leads) an ad source, as the report's `group`; absent "
        "with `by`: the rows without one",
    )
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=1_000_000)


@routes.get("/api/v1/reports/{name}/conversations")
@operation(
    "The conversations behind a bar or row of a report: its waits, new conversations, lead cards or calls, "
    "oldest first, paginated (supervisors and admins)",
    "reports",
    {200: ("OK", ReportConversations)},
    query=DrillQuery,
    path=ReportPath,
    errors=(403, 404, 422),
)
async def get_report_conversations(request: web.Request) -> web.Response:
    hub = hub_of(request)
    async with db(request) as session:
        principal = await require_agent(request, session, "supervisor", "admin")
        query = read_query(request, DrillQuery)
        name = read_query_path(request)
        page = await read_drill_down(hub, session, principal.viewer, name, query)
    return respond(page)


async def read_drill_down(
    hub: Hub, session: AsyncSession, viewer: Viewer, name: str, query: DrillQuery
) -> ReportConversations:
    """The facts behind one group of a report, scoped as the report is (a supervisor: their own teams).
    Shared by the API and the Reports pages."""
    request = report_request(hub, viewer, name, query)
    try:
        page = await drill_down(
            session,
            request,
            query.group,
            sla=hub.sla,
            calendars=hub.policy.calendars,
            now=utcnow(),
            limit=query.limit,
            offset=query.offset,
        )
    except ReportError as exc:
        raise unprocessable(str(exc), exc.field) from exc
    return ReportConversations.model_validate(
        {
            "report": name,
            "from": request.start.isoformat(),
            "to": request.end.isoformat(),
            "by": request.by,
            "group": query.group,
            "business_hours": request.business_hours,
            "total": page.total,
            "limit": query.limit,
            "offset": query.offset,
            "items": [
                {
                    **asdict(row),
                    "url": None if row.conversation_id is None else f"/inbox/{row.conversation_id}",
                }
                for row in page.rows
            ],
        }
    )


def report_request(hub: Hub, viewer: Viewer, name: str, query: ReportFilters) -> ReportRequest:
    """The request a supervisor (their own teams; 403 for another) or an admin (every team) may make;
    422 for a period or grouping the report refuses."""
    teams = None if viewer.is_admin else viewer.team_ids
    if query.team is not None:
        if teams is not None and query.team not in teams:
            raise forbidden("a supervisor reads the reports of their own teams")
        teams = frozenset({query.team})
    settings = hub.settings
    end = query.to or datetime.now(ZoneInfo(settings.business_hours.timezone)).date()
    start = query.from_ or end - timedelta(days=6)
    try:
        return ReportRequest(
            name=name,
            start=start,
            end=end,
            timezone=settings.business_hours.timezone,
            by=query.by,
            team_ids=teams,
            channel=query.channel,
            agent_id=query.agent,
            business_hours=query.business_hours,
        )
    except ReportError as exc:
        raise unprocessable(str(exc), exc.field) from exc


async def read_report(
    hub: Hub, session: AsyncSession, viewer: Viewer, name: str, query: ReportQuery
) -> ReportOutcome:
    """The report a supervisor (their own teams) or an admin (every team) asks for; 403 for another
    team, 422 for a period or grouping the report refuses. Shared by the API and the Reports pages."""
    request = report_request(hub, viewer, name, query)
    try:
        return await build_report(session, request, sla=hub.sla, hours=hub.policy.calendars)
    except ReportError as exc:
        raise unprocessable(str(exc), exc.field) from exc


def read_query_path(request: web.Request) -> str:
    name = request.match_info["name"]
    if name not in REPORTS:
        raise not_found(f"no report named {name!r}; one of {', '.join(REPORTS)}")
    return name
