"""``GET /demo/site``: a stand-in for a client's website with the web-chat widget on it, served only by
`okno demo` (404 otherwise). A newcomer writes in the widget as a visitor while their agent window
(the inbox, in another window) is open, and sees the whole round trip.
"""

from __future__ import annotations

from aiohttp import web

from hub.web.context import hub_of
from hub.web.errors import not_found
from hub.web.ui.pages import language, remember_language, render

routes = web.RouteTableDef()


@routes.get("/demo/site")
async def demo_site(request: web.Request) -> web.Response:
    account = hub_of(request).demo_site
    if account is None:
        raise not_found("the demo site is served only by okno demo")
    lang = language(request)
    response = render(request, "web/demo_site.html", {"lang": lang, "csrf_token": None, "account": account})
    remember_language(request, response)
    return response
