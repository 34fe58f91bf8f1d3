"""/reports: the managers' reports as pages for supervisors (their teams) and admins, RU/EN.

An overview (today, 7 and 30 days: conversations, inbound messages, first response median and p90, SLA,
missed calls) and one report at a time with its filters, a bar chart (server-rendered SVG: no script, no
CDN) and the table under it, and a CSV download (the API's own). Each bar and each row links to its
drill-down (``drill=1&group=…``), paginated, each fact a link into the inbox (the API's
:func:`hub.web.api.reports.read_drill_down`): the waits of a wait report, the new conversations of volume,
the lead cards of leads (source, first conversation, became a client), the calls of calls (answered or
missed, waiting, talking and callback time). The figures are the API's
(:func:`hub.web.api.reports.read_report`), read in one short transaction and rendered after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import Field, model_validator
from sqlalchemy import select

from hub.i18n import N_, Msg
from hub.web.api.reports import (
    DrillQuery,
    Group,
    ReportName,
    ReportQuery,
    read_drill_down,
    read_report,
)
from hub.web.api.schemas.reports import ReportConversations
from hub.web.auth import authenticate
from hub.web.context import db, hub_of
from hub.web.errors import ApiError
from hub.web.inputs import read_query
from hub.web.ui import i18n
from hub.web.ui.inbox_view import Clock, agent_clock
from hub.web.ui.pages import language, redirect, remember_language, render
from hub.web.ui.topbar import topbar
from inbox.models import Agent, Team
from inbox.reports.build import WAIT_REPORTS

routes = web.RouteTableDef()

TITLES: Final[dict[str, Msg]] = {
    "first_response": N_("First response time"),
    "reply_time": N_("Reply time"),
    "resolution": N_("Resolution time"),
    "calls": N_("Calls"),
    "volume": N_("Volume"),
    "leads": N_("Leads"),
}
GROUPS: Final[dict[str, Msg]] = {
    "day": N_("by day"),
    "hour": N_("by hour of day"),
    "weekday": N_("by weekday"),
    "agent": N_("by agent"),
    "team": N_("by team"),
    "channel": N_("by channel"),
    "source": N_("by ad source"),
}
COLUMNS: Final[dict[str, Msg]] = {
    "group": N_("Group"),
    "count": N_("Count"),
    "avg": N_("Average"),
    "median": N_("Median"),
    "p90": N_("90th percentile"),
    "sla_met": N_("SLA met"),
    "sla_missed": N_("SLA missed"),
    "sla_pct": N_("SLA, %"),
    "inbound": N_("Inbound"),
    "answered": N_("Answered"),
    "missed": N_("Missed"),
    "missed_pct": N_("Missed, %"),
    "wait_avg": N_("Average wait"),
    "wait_median": N_("Median wait"),
    "talk_avg": N_("Average talk"),
    "talk_median": N_("Median talk"),
    "callbacks": N_("Callbacks"),
    "callback_median": N_("Median callback time"),
    "callback_p90": N_("Callback time, p90"),
    "new_conversations": N_("New conversations"),
    "outbound": N_("Outbound"),
    "new_leads": N_("New leads"),
    "became_clients": N_("Became clients"),
}
WEEKDAYS: Final[dict[str, Msg]] = {
    "mon": N_("Mon"),
    "tue": N_("Tue"),
    "wed": N_("Wed"),
    "thu": N_("Thu"),
    "fri": N_("Fri"),
    "sat": N_("Sat"),
    "sun": N_("Sun"),
}
SLA_STATES: Final[dict[str, Msg]] = {
    "met": N_("met"),
    "missed": N_("missed"),
    "pending": N_("waiting"),
}
DIRECTIONS: Final[dict[str, Msg]] = {"inbound": N_("Inbound"), "outbound": N_("Outbound")}
OUTCOMES: Final[dict[str, Msg]] = {
    "answered": N_("Answered"),
    "missed": N_("Missed"),
    "busy": N_("busy"),
    "failed": N_("failed"),
    "voicemail": N_("voicemail"),
}
DRILL_PAGE: Final = 25
DURATIONS: Final = frozenset(
    {
        "avg",
        "median",
        "p90",
        "wait_avg",
        "wait_median",
        "talk_avg",
        "talk_median",
        "callback_median",
        "callback_p90",
    }
)
# What the chart draws for each report: the figure a manager reads first.
CHARTED: Final = {
    "first_response": "median",
    "reply_time": "median",
    "resolution": "median",
    "calls": "count",
    "volume": "inbound",
    "leads": "new_leads",
}


class PageQuery(ReportQuery):
    """The API's query, the report's name, and the form's habits: a page groups by day unless told
    "whole" (no grouping), and an empty field of the form means "not given"."""

    report: ReportName = "first_response"
    # A wider choice than the API's ("whole"), narrowed back by grouping().
    by: Group | Literal["whole"] | None = "day"  # type: ignore[assignment]
    # The drill-down: the conversations behind one group (absent: the rows without one), a page of them.
    drill: bool = False
    group: str | None = Field(None, max_length=320)
    page: int = Field(1, ge=1, le=10_000)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {k: v for k, v in data.items() if v != ""}
        return data

    def grouping(self) -> ReportQuery:
        """The API's query for the chosen report ("whole": no grouping)."""
        return ReportQuery.model_validate(
            {
                **self.model_dump(by_alias=True, exclude={"report", "drill", "group", "page"}),
                "by": None if self.by == "whole" else self.by,
            }
        )

    def drilling(self) -> DrillQuery:
        """The API's drill-down query for the chosen group and page."""
        return DrillQuery.model_validate(
            {
                **self.model_dump(by_alias=True, exclude={"report", "drill", "page", "format", "delimiter"}),
                "by": None if self.by == "whole" else self.by,
                "limit": DRILL_PAGE,
                "offset": (self.page - 1) * DRILL_PAGE,
            }
        )


def duration(seconds: float | None, t: i18n.Texts) -> str:
    """A duration as people read it: 45 s, 12 min, 3 h 05 min, 2 d 4 h."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 90:
        return t.gettext("%(n)d s", n=s)
    minutes = round(s / 60)
    if minutes < 90:
        return t.gettext("%(n)d min", n=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return t.gettext("%(h)d h %(m)02d min", h=hours, m=minutes)
    days, hours = divmod(hours, 24)
    return t.gettext("%(d)d d %(h)d h", d=days, h=hours)


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str
    href: str | None = None  # its drill-down (wait reports)
    step: float = 0.0  # the column's whole width: the link's target area


def chart(
    rows: list[dict[str, Any]],
    key: str,
    labels: list[str],
    shown: list[str],
    links: list[str | None] | None = None,
) -> list[Bar]:
    """Bars of `key` per row on a 100 × 40 viewBox (the SVG scales with the page)."""
    values = [float(r.get(key) or 0) for r in rows]
    top = max(values, default=0) or 1.0
    step = 100 / max(len(rows), 1)
    hrefs = links or [None] * len(rows)
    return [
        Bar(
            i * step + step * 0.1,
            40 - 36 * v / top,
            step * 0.8,
            36 * v / top,
            labels[i],
            shown[i],
            hrefs[i],
            step,
        )
        for i, v in enumerate(values)
    ]


def drill_url(params: Mapping[str, str], group: Any, page: int = 1) -> str:
    """The drill-down of one group of the report the page shows (its filters kept)."""
    kept = {k: v for k, v in params.items() if k not in ("drill", "group", "page", "format", "delimiter")}
    kept["drill"] = "1"
    if group is not None:
        kept["group"] = str(group)
    if page > 1:
        kept["page"] = str(page)
    return "/reports?" + urlencode(kept) + "#drill"


def drill_rows(
    page: ReportConversations, clock: Clock, t: i18n.Texts, names: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    names = names or {}
    return [
        {
            "href": item.url,
            "call_id": item.call_id,
            "contact_id": item.contact_id,
            "direction": t.label(DIRECTIONS, item.direction) if item.direction else "—",
            "outcome": item.disposition,
            "outcome_label": t.label(OUTCOMES, item.disposition) if item.disposition else "—",
            "waiting": duration(item.waiting_seconds, t),
            "talking": duration(item.talking_seconds, t),
            "callback": duration(item.callback_seconds, t),
            "source": t.channel(item.source) if item.source in i18n.CHANNELS else (item.source or "—"),
            "became_client": item.became_client,
            "conversation_id": item.conversation_id,
            "client": item.client or t.gettext("Guest #%(id)d", id=item.contact_id or 0),
            "channel": t.channel(item.channel) if item.channel else "—",
            "agent": names.get(item.agent, item.agent) if item.agent else "—",
            "team": item.team or "—",
            "started": clock.full(item.started_at),
            "duration": duration(item.seconds, t) if item.seconds is not None else t.gettext("still waiting"),
            "sla": item.sla,
            "sla_label": t.label(SLA_STATES, item.sla) if item.sla else "—",
        }
        for item in page.items
    ]


def _group_label(value: Any, by: str | None, t: i18n.Texts, names: Mapping[str, str] | None = None) -> str:
    """A group as a person reads it: an agent by name (the report's own group is the e-mail, which the
    CSV and the API keep), a channel by its label, an hour as 09:00."""
    if value is None:
        return t.gettext("Total") if by is None else t.gettext("(none)")
    if by == "weekday":
        return t.label(WEEKDAYS, value)
    if by == "hour":
        return f"{int(value):02d}:00"
    # A lead with no ad source is grouped under its channel's kind.
    if by == "channel" or (by == "source" and value in i18n.CHANNELS):
        return t.channel(value)
    if by == "agent" and names and value in names:
        return names[value]
    return str(value)


def _cell(key: str, value: Any, by: str | None, t: i18n.Texts, names: Mapping[str, str] | None = None) -> str:
    if key == "group":
        return _group_label(value, by, t, names)
    if key in DURATIONS:
        return duration(value, t)
    if value is None:
        return "—"
    if key.endswith("_pct"):
        return f"{value:.1f}"
    return str(value)


def percent(value: float | None) -> str | None:
    """A percentage as the pages show it: one decimal (the API keeps its own rounding)."""
    return None if value is None else f"{value:.1f}"


@routes.get("/reports")
async def reports_page(request: web.Request) -> web.Response:
    hub = hub_of(request)
    async with db(request) as session:
        try:
            principal = await authenticate(request, session)
        except ApiError:
            principal = None
        if principal is None:
            return redirect("/login?next=" + quote(request.path_qs, safe="/"), 302)
        lang = language(request, principal.agent)
        t = i18n.Texts(lang)
        if principal.agent.role not in ("supervisor", "admin"):
            return web.Response(status=403, text=t.gettext("Reports are for supervisors and admins."))
        query = read_query(request, PageQuery)
        viewer = principal.viewer
        report = await read_report(hub, session, viewer, query.report, query.grouping())
        today = datetime.now(ZoneInfo(hub.settings.business_hours.timezone)).date()
        overview = []
        for days, title in ((1, t.gettext("Today")), (7, t.gettext("7 days")), (30, t.gettext("30 days"))):
            period = {"from": (today - timedelta(days=days - 1)).isoformat(), "to": today.isoformat()}
            scope = {"team": query.team} if query.team else {}
            figures = {}
            for name in ("volume", "first_response", "calls"):
                part = ReportQuery.model_validate({**period, **scope})
                figures[name] = (await read_report(hub, session, viewer, name, part)).rows[0]
            overview.append(
                {
                    "title": title,
                    "conversations": figures["volume"]["new_conversations"],
                    "inbound": figures["volume"]["inbound"],
                    "frt_median": duration(figures["first_response"]["median"], t),
                    "frt_p90": duration(figures["first_response"]["p90"], t),
                    "sla": percent(figures["first_response"].get("sla_pct")),
                    "missed_calls": figures["calls"]["missed"],
                }
            )
        team_rows = select(Team.id, Team.name).order_by(Team.name)
        if not viewer.is_admin:
            team_rows = team_rows.where(Team.id.in_(viewer.team_ids))
        teams = list((await session.execute(team_rows)).all())
        agent_rows = (
            await session.execute(select(Agent.id, Agent.name, Agent.email).order_by(Agent.name))
        ).all()
        agents = list(agent_rows)
        names = {row.email: row.name for row in agent_rows if row.name}
        drilled = None
        if query.drill:
            drilled = await read_drill_down(hub, session, viewer, query.report, query.drilling())
    body = report.to_dict()
    rows: list[dict[str, Any]] = body["rows"]
    columns = list(rows[0]) if rows else ["group"]
    by = body["by"]
    labels = [_group_label(r.get("group"), by, t, names) for r in rows]
    key = CHARTED[query.report]
    shown = [_cell(key, r.get(key), by, t) for r in rows]
    params = {k: v for k, v in request.query.items() if k not in ("lang", "format")}
    report_params = {k: v for k, v in params.items() if k not in ("drill", "group", "page") and v != ""} | {
        "report": query.report,
        "from": body["from"],
        "to": body["to"],
        "by": by or "whole",
    }
    links: list[str | None] = [drill_url(report_params, r.get("group")) for r in rows]
    drill = None
    if drilled is not None:
        clock = agent_clock(principal.agent, hub.settings.business_hours.timezone, lang)
        pages = max(1, -(-drilled.total // DRILL_PAGE))
        drill = {
            "kind": "waits" if query.report in WAIT_REPORTS else query.report,
            "group": _group_label(query.group if by else None, by, t, names),
            "total": drilled.total,
            "rows": drill_rows(drilled, clock, t, names),
            "page": query.page,
            "pages": pages,
            "previous": drill_url(report_params, query.group, query.page - 1) if query.page > 1 else None,
            "next": drill_url(report_params, query.group, query.page + 1) if query.page < pages else None,
        }
    csv_url = f"/api/v1/reports/{query.report}?" + urlencode(
        {**params, "format": "csv", "from": body["from"], "to": body["to"], "delimiter": ";"}
    )
    response = render(
        request,
        "web/reports.html",
        {
            "lang": lang,
            "csrf_token": principal.csrf_token or "",
            "agent": principal.agent,
            "query": query,
            "body": body,
            "title": t.label(TITLES, query.report),
            "reports": [(k, t.label(TITLES, k)) for k in TITLES],
            "groups": [(k, t.label(GROUPS, k)) for k in GROUPS if k != "source" or query.report == "leads"],
            "teams": teams,
            "agents": agents,
            "channels": [(k, t.channel(k)) for k in i18n.CHANNELS],
            "overview": overview,
            "columns": [(c, t.label(COLUMNS, c)) for c in columns],
            # Not _("SLA, %") in the template: its new-style gettext would read the "%" as a format.
            "sla_pct_label": t.label(COLUMNS, "sla_pct"),
            "rows": [[_cell(c, r.get(c), by, t, names) for c in columns] for r in rows],
            "links": links,
            "drill": drill,
            "bars": chart(rows, key, labels, shown, links),
            "charted": t.label(COLUMNS, key),
            "csv_url": csv_url,
            "lang_url": "/reports?" + urlencode(params),
            **topbar(request, principal, "reports"),
        },
    )
    remember_language(request, response)
    return response
