"""/templates: the knowledge base's page — list, search, create, edit with a live preview, delete.

Every agent may open it: admins and supervisors manage the shared templates, every agent their personal
ones (the API enforces the same rules; the page only shows what the agent may do). The page is a shell
rendered here; hub/web/static/templates.js fills it through /api/v1/templates.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from hub.web.auth import Principal, authenticate
from hub.web.context import db
from hub.web.errors import ApiError
from hub.web.ui import i18n
from hub.web.ui.inbox import ASSETS
from hub.web.ui.pages import language, redirect, remember_language, render
from hub.web.ui.topbar import topbar
from inbox.knowledge.templates import may_manage_shared

routes = web.RouteTableDef()


async def _principal(request: web.Request, session: AsyncSession) -> Principal | None:
    try:
        return await authenticate(request, session)
    except ApiError:
        return None


@routes.get("/templates")
async def templates_page(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await _principal(request, session)
        if principal is None:
            return redirect("/login?next=" + quote(request.path_qs, safe="/"), 302)
        lang = language(request, principal.agent)
        agent = {"id": principal.agent.id, "name": principal.agent.name, "role": principal.agent.role}
        can_manage = may_manage_shared(principal.agent)
    t = i18n.Texts(lang)
    response = render(
        request,
        "web/templates.html",
        {
            "lang": lang,
            "agent": agent,
            "can_manage": can_manage,
            "csrf_token": principal.csrf_token or "",
            "assets": ASSETS,
            "script_strings": {key: t.msg(message) for key, message in i18n.TEMPLATES_SCRIPT_STRINGS.items()},
            **topbar(request, principal, "templates"),
        },
    )
    remember_language(request, response)
    return response
