"""The header every agent-facing page shares (templates/web/parts/topbar.html): the pages the viewer's role
may open (the current one marked), the language switch, who is signed in and the sign-out form.

A page adds ``**topbar(request, principal, "reports")`` to its template's context and includes the part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web

from hub.i18n import N_, Msg
from hub.web.auth import Principal
from hub.web.ui import i18n
from hub.web.ui.inbox_view import initials

EVERYONE: Final = ("agent", "supervisor", "admin")
SUPERVISORS: Final = ("supervisor", "admin")
ADMINS: Final = ("admin",)


@dataclass(frozen=True, slots=True)
class Link:
    key: str
    href: str
    label: Msg
    roles: tuple[str, ...]


# In the order the header shows them.
LINKS: Final = (
    Link("inbox", "/inbox", N_("Inbox"), EVERYONE),
    Link("tasks", "/tasks", N_("Tasks"), EVERYONE),
    Link("templates", "/templates", N_("Templates"), EVERYONE),
    Link("reports", "/reports", N_("Reports"), SUPERVISORS),
    Link("board", "/routing/board", N_("Routing board"), SUPERVISORS),
    Link("agents", "/admin/agents", N_("Agents and teams"), SUPERVISORS),
    Link("rules", "/admin/routing", N_("Routing rules"), ADMINS),
    Link("channels", "/admin/channels", N_("Channels"), ADMINS),
    Link("audit", "/admin/audit", N_("Audit log"), ADMINS),
)


def language_links(request: web.Request, path: str | None = None) -> dict[str, str]:
    """This page's address in each language: `path` (default: the request's), with the request's query
    when it was a GET (a form's answer links to the page itself), ``lang`` replaced."""
    query = [(k, v) for k, v in request.query.items() if k != "lang"] if request.method == "GET" else []
    base = path or request.path
    return {lang: f"{base}?{urlencode([*query, ('lang', lang)])}" for lang in i18n.LANGUAGES}


def topbar(
    request: web.Request, principal: Principal, current: str, *, path: str | None = None
) -> dict[str, Any]:
    """The context the header part reads, under ``topbar``: `current` is the key of the page shown."""
    agent = principal.agent
    return {
        "topbar": {
            "links": [
                {"key": link.key, "href": link.href, "label": link.label, "current": link.key == current}
                for link in LINKS
                if agent.role in link.roles
            ],
            "languages": language_links(request, path),
            "name": agent.name,
            "role": agent.role,
            "initials": initials(agent.name),
            "csrf_token": principal.csrf_token or "",
        }
    }
