"""/api/v1/ws: one WebSocket per agent tab, pushing the events of the conversations that agent may see.

Frames sent: ``{"type", "conversation_id", "data"}`` — first ``hello``, then each bus event the agent
may see (:func:`inbox.visibility.may_see_event`: a conversation's event by its team and assignee, an event
about client cards only if the agent may see every card it names), ``resync`` when the
socket fell behind and lost events (reload the lists), ``pong`` for a client's ``{"type": "ping"}``.
The protocol-level heartbeat closes a socket whose peer vanished. Presence is the number of live
sockets per agent (in this process): the first one makes the agent online, the last one offline, and
both are published as ``agent.presence`` events.

Visibility is decided from the agent's role and teams when the socket opens; a change of teams takes
effect on reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from hub.bus import Subscription
from hub.web.auth import authenticate, same_origin
from hub.web.context import PRESENCE, SOCKETS, db, hub_of, publish
from hub.web.errors import bad_request, forbidden, unauthorized
from inbox.bus import Event
from inbox.conversations import Viewer
from inbox.visibility import may_see_event

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

HEARTBEAT_SECONDS = 30.0


def frame(
    kind: str, conversation_id: int | None = None, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"type": kind, "conversation_id": conversation_id, "data": data or {}}


async def _pump(ws: web.WebSocketResponse, subscription: Subscription, viewer: Viewer) -> None:
    """Bus → socket, filtered by what the agent may see."""
    try:
        while not ws.closed:
            event = await subscription.get()
            if subscription.overflowed:
                subscription.overflowed = False
                await ws.send_json(frame("resync", data={"reason": "events were lost: reload"}))
            if may_see_event(viewer, event):
                await ws.send_json(frame(event.type, event.conversation_id, event.data))
    except (ConnectionError, RuntimeError) as exc:  # the peer went away mid-send
        log.debug("agent socket send failed: %s", exc)
        await ws.close()


async def _presence(request: web.Request, agent_id: int, delta: int) -> None:
    counter = request.app[PRESENCE]
    before = counter[agent_id]
    counter[agent_id] = max(0, before + delta)
    after = counter[agent_id]
    if after == 0:
        del counter[agent_id]
    if (before == 0) != (after == 0):
        status = "online" if after else "offline"
        await publish(request, [Event("agent.presence", data={"agent_id": agent_id, "status": status})])


async def _answer(ws: web.WebSocketResponse, text: str) -> None:
    try:
        message = json.loads(text)
    except ValueError:
        await ws.send_json(frame("error", data={"message": "frames must be JSON objects"}))
        return
    if isinstance(message, dict) and message.get("type") == "ping":
        await ws.send_json(frame("pong"))


@routes.get("/api/v1/ws")
async def agent_socket(request: web.Request) -> web.WebSocketResponse:
    async with db(request) as session:
        principal = await authenticate(request, session, query_token=True)
    if principal is None:
        raise unauthorized()
    if principal.via == "session" and not same_origin(request):
        raise forbidden("a WebSocket opened with the session cookie must come from this hub's own pages")
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS)
    if not ws.can_prepare(request).ok:
        raise bad_request("expected a WebSocket upgrade request")
    agent_id, viewer = principal.agent.id, principal.viewer
    hub = hub_of(request)
    async with hub.bus.subscribe() as subscription:  # before the hello: no event falls in between
        await ws.prepare(request)
        request.app[SOCKETS].add(ws)
        await _presence(request, agent_id, +1)
        pump: asyncio.Task[None] | None = None
        try:
            await ws.send_json(frame("hello", data={"agent_id": agent_id, "role": viewer.role}))
            pump = asyncio.create_task(_pump(ws, subscription, viewer), name=f"okno-ws-agent-{agent_id}")
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await _answer(ws, message.data)
        finally:
            if pump is not None:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
            request.app[SOCKETS].discard(ws)
            await _presence(request, agent_id, -1)
    return ws


async def close_all(app: web.Application) -> None:
    """On shutdown: tell every agent socket the hub is going away."""
    sockets: weakref.WeakSet[web.WebSocketResponse] = app[SOCKETS]
    for socket in list(sockets):
        await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
