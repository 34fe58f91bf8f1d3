"""/tasks: the tasks page — tabs mine, my team's, overdue and done (with counts); each task's client (a link
into the inbox), assignee, due and created times; done with a result (a callback: its outcome), reassign,
a new due time, a new task.

The list is what :func:`inbox.tasks.list_tasks` gives the viewer (the API's visibility, the same rules);
``/tasks/parts/list`` renders it again for hub/web/static/tasks.js, which changes tasks through
/api/v1/tasks and reloads the list after its own actions and on ``task.*`` events.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from hub.web.auth import Principal, authenticate
from hub.web.context import db, hub_of
from hub.web.errors import ApiError, unauthorized
from hub.web.ui import i18n, inbox_view
from hub.web.ui.inbox import ASSETS
from hub.web.ui.pages import language, redirect, remember_language, render
from hub.web.ui.topbar import topbar
from inbox.models import utcnow
from inbox.tasks import VIEWS, TaskView, assignable_agents, list_tasks, view_counts, view_filter

routes = web.RouteTableDef()

LIST_LIMIT = 200


async def _principal(request: web.Request, session: AsyncSession) -> Principal | None:
    try:
        return await authenticate(request, session)
    except ApiError as exc:
        if exc.code == "network_not_allowed":
            raise
        return None


def _view(request: web.Request) -> TaskView:
    asked = request.query.get("view", "mine")
    return next((v for v in VIEWS if v == asked), "mine")


async def _list_context(
    request: web.Request, session: AsyncSession, principal: Principal, view: TaskView, lang: str
) -> dict[str, Any]:
    viewer = principal.viewer
    now = utcnow()
    t = i18n.Texts(lang)
    clock = inbox_view.agent_clock(principal.agent, hub_of(request).settings.business_hours.timezone, lang)
    counts = await view_counts(session, viewer, now)
    tasks = await list_tasks(session, viewer, view_filter(viewer, view, now), limit=LIST_LIMIT, now=now)
    return {
        "view": view,
        "tabs": [{"key": v, "label": t.label(i18n.TASK_VIEWS, v), "count": counts[v]} for v in VIEWS],
        "counts": counts,
        "tasks": await inbox_view.task_rows(session, viewer, tasks, clock),
        "task_agents": [{"id": a.id, "name": a.name} for a in await assignable_agents(session, viewer)],
        "outcomes": [{"key": k, "label": t.label(i18n.CALL_OUTCOMES, k)} for k in i18n.CALL_OUTCOMES],
    }


@routes.get("/tasks")
async def tasks_page(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await _principal(request, session)
        if principal is None:
            return redirect("/login?next=" + quote(request.path_qs, safe="/"), 302)
        lang = language(request, principal.agent)
        context = await _list_context(request, session, principal, _view(request), lang)
    t = i18n.Texts(lang)
    agent = principal.agent
    response = render(
        request,
        "web/tasks.html",
        {
            **context,
            "lang": lang,
            "agent": {"id": agent.id, "name": agent.name, "role": agent.role},
            "kinds": [{"key": k, "label": t.label(i18n.TASK_KINDS, k)} for k in ("todo", "callback")],
            "csrf_token": principal.csrf_token or "",
            "assets": ASSETS,
            "script_strings": {key: t.msg(message) for key, message in i18n.TASKS_SCRIPT_STRINGS.items()},
            "my_tasks": context["counts"]["mine"],
            **topbar(request, principal, "tasks"),
        },
    )
    remember_language(request, response)
    return response


@routes.get("/tasks/parts/list")
async def list_part(request: web.Request) -> web.Response:
    """The tabs and the list of one tab, for the page's script to swap in."""
    async with db(request) as session:
        principal = await _principal(request, session)
        if principal is None:
            raise unauthorized()
        lang = language(request, principal.agent)
        context = await _list_context(request, session, principal, _view(request), lang)
    return render(request, "web/parts/tasks_list.html", {**context, "lang": lang})
