"""Every agent-facing page has the one shared header: a way back to the inbox, the pages the viewer's role
may open (the current one marked), the language switch and sign-out."""

from __future__ import annotations

import re

from hub.runtime import Hub
from tests.hub.web.conftest import Client, Person, login, make_agent

# page → the key of its link in the header (templates/web/parts/topbar.html)
ADMIN_PAGES = {
    "/inbox": "inbox",
    "/tasks": "tasks",
    "/templates": "templates",
    "/reports": "reports",
    "/routing/board": "board",
    "/admin/agents": "agents",
    "/admin/routing": "rules",
    "/admin/channels": "channels",
    "/admin/audit": "audit",
}
EVERY_LINK = ["inbox", "tasks", "templates", "reports", "board", "agents", "rules", "channels", "audit"]


def header_links(html: str) -> list[str]:
    nav = html[html.index('<nav class="pages"') : html.index("</nav>", html.index('<nav class="pages"'))]
    return re.findall(r'data-page="([a-z]+)"', nav)


def current(html: str) -> list[str]:
    return re.findall(r'data-page="([a-z]+)" aria-current="page"', html)


async def test_every_admin_page_has_the_shared_header_with_its_own_link_marked(
    client: Client, admin: Person
) -> None:
    await login(client, admin.email)
    for path, key in ADMIN_PAGES.items():
        response = await client.get(path + "?lang=en")
        assert response.status == 200, path
        html = await response.text()
        assert html.count('<header class="top">') == 1, path
        assert '<a class="brand" href="/inbox">' in html and 'href="/inbox"' in html, path
        assert header_links(html) == EVERY_LINK, path
        assert current(html) == [key], path
        assert 'action="/logout"' in html and 'hreflang="ru"' in html, path


async def test_the_header_offers_only_the_pages_the_role_may_open(
    client: Client, hub: Hub, sales: Person
) -> None:
    await login(client, sales.email)
    html = await (await client.get("/templates?lang=en")).text()
    assert header_links(html) == ["inbox", "tasks", "templates"]
    assert current(html) == ["templates"]

    lead = await make_agent(hub, "lead@okno.example.com", role="supervisor", teams=("Sales",))
    await login(client, lead.email)
    html = await (await client.get("/routing/board?lang=en")).text()
    assert header_links(html) == ["inbox", "tasks", "templates", "reports", "board", "agents"]


async def test_the_language_switch_keeps_the_pages_query(client: Client, admin: Person) -> None:
    await login(client, admin.email)
    html = await (await client.get("/admin/audit?action=login&lang=en")).text()
    assert 'href="/admin/audit?action=login&amp;lang=ru" hreflang="ru"' in html
