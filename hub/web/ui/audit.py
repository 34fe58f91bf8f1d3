"""/admin/audit: the audit log as a page for admins (date, agent, action, IP, device, result), RU/EN.

Read in one short transaction, rendered after it ended. The same filters as GET /api/v1/audit.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from hub.web.api.audit import AuditQuery
from hub.web.auth import Principal, authenticate
from hub.web.context import db, hub_of
from hub.web.errors import ApiError
from hub.web.inputs import read_query
from hub.web.ui import i18n
from hub.web.ui.inbox_view import Clock, agent_clock
from hub.web.ui.pages import language, redirect, remember_language, render
from hub.web.ui.topbar import topbar
from inbox.audit import list_entries
from inbox.models import AuditLog
from inbox.names import every_agent_name

routes = web.RouteTableDef()

PAGE_SIZE = 50
ACTIONS = tuple(i18n.AUDIT_ACTIONS)  # the filter offers every action the log records


class PageQuery(AuditQuery):
    limit: int = Field(PAGE_SIZE, ge=1, le=PAGE_SIZE)


async def _principal(request: web.Request, session: AsyncSession) -> Principal | None:
    try:
        return await authenticate(request, session)
    except ApiError:
        return None


def _row(row: AuditLog, names: dict[int, str], clock: Clock, t: i18n.Texts) -> dict[str, Any]:
    detail = row.detail or {}
    agent_id = row.actor_agent_id or (row.entity_id if row.entity == "agent" else None)
    who = names.get(agent_id, "") if agent_id is not None else ""
    if row.action == "login" and not row.actor_agent_id:
        who = who or str(detail.get("email", ""))
    result = detail.get("result")
    return {
        "when": f"{clock.day(row.created_at)} {clock.time(row.created_at)}",
        "iso": row.created_at.isoformat(),
        "agent": who,
        "action": t.label(i18n.AUDIT_ACTIONS, row.action),
        "ip": detail.get("ip", ""),
        "device": detail.get("user_agent", ""),
        "result": t.label(i18n.AUDIT_RESULTS, str(result)) if result else "",
        "failed": bool(result) and result != "success",
    }


@routes.get("/admin/audit")
async def audit_page(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await _principal(request, session)
        if principal is None:
            return redirect("/login?next=" + quote(request.path_qs, safe="/"), 302)
        lang = language(request, principal.agent)
        t = i18n.Texts(lang)
        if principal.agent.role != "admin":
            return web.Response(status=403, text=t.gettext("The audit log is for admins only."))
        query = read_query(request, PageQuery)
        rows = await list_entries(session, query.filter(), limit=query.limit, offset=query.offset)
        agents = await every_agent_name(session)
    names = {a.id: a.name for a in agents}
    clock = agent_clock(principal.agent, hub_of(request).settings.business_hours.timezone, lang)

    def page_link(offset: int) -> str:
        params = {"action": query.action, "agent": query.agent, "offset": offset or None}
        return "/admin/audit?" + urlencode({k: v for k, v in params.items() if v is not None})

    response = render(
        request,
        "web/audit.html",
        {
            "lang": lang,
            "csrf_token": principal.csrf_token or "",
            "rows": [_row(r, names, clock, t) for r in rows],
            "actions": [(a, t.label(i18n.AUDIT_ACTIONS, a)) for a in ACTIONS],
            "agents": agents,
            "query": query,
            "older": page_link(query.offset + query.limit) if len(rows) == query.limit else None,
            "newer": page_link(max(0, query.offset - query.limit)) if query.offset else None,
            **topbar(request, principal, "audit"),
        },
    )
    remember_language(request, response)
    return response
