"""The aiohttp application of the hub: routes, middlewares, and the hub's lifecycle.

``create_app(hub)`` is what `okno run` and `okno demo` serve. With ``manage_hub=True`` (the default)
the app starts the hub on start-up and stops it on clean-up; tests hand in a hub they already started.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator

from aiohttp import web

from hub.login import LoginGuard
from hub.ratelimit_redis import limiters_for
from hub.runtime import Hub
from hub.web import health, hooks, revocation
from hub.web.access_log import answer_request_id, request_ids
from hub.web.api import (
    admin,
    attachments,
    audit,
    auth,
    channels,
    contacts,
    conversations,
    openapi,
    quarantine,
    reports,
    routing,
    search,
    tasks,
    templates,
    timeline,
    ws,
)
from hub.web.context import HUB, LOGIN_GUARD, RATE_LIMITS, SOCKETS, TEMPLATES
from hub.web.errors import error_middleware
from hub.web.proxy import forwarded_clients
from hub.web.ui import admin_pages, demo_site, inbox, pages, routing_pages, tasks_page, templates_page
from hub.web.ui import audit as audit_page
from hub.web.ui import channels as channels_page
from hub.web.ui import reports as reports_page
from hub.web.webchat import files as webchat_files
from hub.web.webchat import routes as webchat
from hub.web.webchat import socket as webchat_socket
from hub.web.webchat import typing as webchat_typing

ROUTE_MODULES = (
    auth,
    routing,
    contacts,
    conversations,
    attachments,
    admin,
    audit,
    tasks,
    templates,
    channels,
    quarantine,
    timeline,
    reports,
    search,
    hooks,
    ws,
    openapi,
    pages,
    inbox,
    audit_page,
    reports_page,
    templates_page,
    tasks_page,
    channels_page,
    demo_site,
    routing_pages,
    admin_pages,
    webchat,
    webchat_files,
    webchat_socket,
    webchat_typing,
    health,
)

# Scripts only from /static/ ('self'); inline style attributes carry avatar colours.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if isinstance(response, web.WebSocketResponse):
        return
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    if response.content_type == "text/html":
        headers.setdefault("Content-Security-Policy", PAGE_CSP)
    if request.path.startswith("/api/"):
        headers.setdefault("Cache-Control", "no-store")


def create_app(hub: Hub, *, manage_hub: bool = True) -> web.Application:
    """The web app serving `hub`: REST API, agent WebSocket, pages.

    Request bodies are limited to ``settings.ingest.max_body_bytes`` (413 beyond).
    """
    # The client's address behind a trusted proxy first: every later part sees the real client.
    middlewares = [forwarded_clients(hub.settings.proxy.networks()), request_ids, error_middleware]
    app = web.Application(middlewares=middlewares, client_max_size=hub.settings.ingest.max_body_bytes)
    app[HUB] = hub
    app[TEMPLATES] = pages.templates()
    app[SOCKETS] = weakref.WeakSet()
    app[RATE_LIMITS] = limiters_for(hub.settings)
    app[LOGIN_GUARD] = LoginGuard(hub.settings.security, app[RATE_LIMITS])

    async def close_limiters(app: web.Application) -> None:
        await app[RATE_LIMITS].close()

    app.on_cleanup.append(close_limiters)
    if manage_hub:

        async def run_hub(_app: web.Application) -> AsyncIterator[None]:
            await hub.start()
            yield
            await hub.stop()

        app.cleanup_ctx.append(run_hub)
    app[revocation.LIVE] = revocation.LiveSockets()
    app.cleanup_ctx.append(revocation.listen)
    app.on_shutdown.append(ws.close_all)
    app.on_response_prepare.append(_security_headers)
    app.on_response_prepare.append(answer_request_id)
    for module in ROUTE_MODULES:
        app.add_routes(module.routes)
    webchat_socket.install(app, hub)
    health.install(app, hub)  # /readyz, /metrics: rate limit, Redis ping
    app.router.add_static("/static/", inbox.STATIC, name="static")
    return app
