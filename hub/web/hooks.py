"""Webhook endpoints of push channels: ``POST /hooks/{account}[/{tail}]``.

The URL names the account, never carries a platform token (tokens rotate, and URLs end up in logs). The
request goes to the running connector's ``handle_webhook``, which authenticates it (secret header, secret
key, token in the tail) before parsing anything and answers only after the sink committed what it carried.
An account whose connector is not running answers 503 with Retry-After, so the platform delivers again.
"""

from __future__ import annotations

from aiohttp import web

from hub.web.context import hub_of
from hub.web.errors import ApiError

routes = web.RouteTableDef()


async def _receive(request: web.Request) -> web.StreamResponse:
    hub = hub_of(request)
    name = request.match_info["account"]
    configured = hub.accounts.get(name)
    if configured is None:
        raise ApiError(404, "not_found", f"no channel account {name!r}")
    connector = hub.supervisor.connectors.get(configured.context.id)
    handler = getattr(connector, "handle_webhook", None) if connector is not None else None
    state = hub.supervisor.states.get(configured.context.id)
    if connector is None or state is None or state.state != "running":
        if configured.problem or (state is not None and state.state in ("misconfigured", "auth_failed")):
            detail = configured.problem or (state.detail if state else None) or "not running"
            raise ApiError(
                503, "channel_unavailable", f"account {name!r}: {detail}", headers={"Retry-After": "60"}
            )
        raise ApiError(
            503, "channel_unavailable", f"account {name!r} is starting", headers={"Retry-After": "5"}
        )
    if handler is None:
        raise ApiError(404, "not_found", f"account {name!r} ({configured.context.kind}) takes no webhooks")
    response: web.StreamResponse = await handler(request, request.match_info.get("tail", ""))
    return response


routes.post("/hooks/{account}")(_receive)
routes.post("/hooks/{account}/{tail:.*}")(_receive)
