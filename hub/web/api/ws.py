"""/api/v1/ws: one WebSocket per agent tab, pushing the events of the conversations that agent may see.

Frames sent: ``{"type", "conversation_id", "data"}`` — first ``hello``, then each bus event the agent
may see (:func:`inbox.visibility.may_see_event`: a conversation's event by its team and assignee, an event
about client cards only if the agent may see every card it names), ``resync`` when the
socket fell behind and lost events, or the shared bus (Redis) lost them while it was down (reload the
lists), ``pong`` for a client's ``{"type": "ping"}``.
A client reports its tab idle or active with ``{"type": "idle", "idle": true|false}``: an agent whose
every socket is idle is "away" (``agent.presence``) and gets no new dialogs (inbox.routing).
The protocol-level heartbeat closes a socket whose peer vanished. Presence is shared by every hub
process (:mod:`hub.presence`): the agent's first socket anywhere makes them online, the last one anywhere
offline, and both are published as ``agent.presence`` events.

Visibility is decided from the agent's role and teams when the socket opens; a change of teams takes
effect on reconnect.

Credentials: the session cookie, ``Authorization: Bearer <token>`` on the upgrade request, or — for
clients that can set no header — a first frame ``{"type": "auth", "token": "okno_..."}`` within
`AUTH_DEADLINE_SECONDS` (``?token=`` still works for old clients; the access log masks it). A socket is
closed with code 4401 when its credential ends (:mod:`hub.web.revocation`) or its auth frame is missing
or wrong, 4403 when the agent's role may not work from the client's network.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections import OrderedDict
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import Field

from hub import auth
from hub.bus import RESYNC, Subscription
from hub.web.api.operations import operation
from hub.web.auth import Principal, authenticate, same_origin, token_principal
from hub.web.context import SOCKETS, db, db_read, hub_of, publish
from hub.web.errors import ApiError, bad_request, forbidden, unauthorized
from hub.web.inputs import Query
from hub.web.revocation import CLOSE_CODE, INTERNAL_PREFIX, LIVE, Credential
from inbox.bus import Event
from inbox.conversations import Viewer
from inbox.visibility import may_see_event

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

HEARTBEAT_SECONDS = 30.0
AUTH_DEADLINE_SECONDS = 10.0  # for the first frame of a socket opened without credentials
# Events for the hub processes only: credentials ended (auth.*), and the visitor sockets' own bookkeeping
# (webchat.*: which sockets of which visitor watch a conversation, with the visitor's id).
HUB_ONLY = (INTERNAL_PREFIX, "webchat.", "bus.")  # bus.resync: the `overflowed` flag sends ``resync``


def frame(
    kind: str, conversation_id: int | None = None, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"type": kind, "conversation_id": conversation_id, "data": data or {}}


class _Encoded:
    """The frames of the latest events as JSON text, so that an event shown on fifty agent sockets is
    encoded once, not fifty times. Keyed by the event object itself (the bus hands every subscriber the
    same one); the few hundred latest are kept, more than the sockets fall behind one another."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._texts: OrderedDict[int, tuple[Event, str]] = OrderedDict()

    def text(self, event: Event) -> str:
        held = self._texts.get(id(event))
        if held is not None and held[0] is event:
            return held[1]
        text = json.dumps(frame(event.type, event.conversation_id, event.data))
        self._texts[id(event)] = (event, text)  # the event is held, so its id is not reused meanwhile
        if len(self._texts) > self._size:
            self._texts.popitem(last=False)
        return text


_ENCODED = _Encoded()


async def _pump(ws: web.WebSocketResponse, subscription: Subscription, viewer: Viewer) -> None:
    """Bus → socket, filtered by what the agent may see."""
    try:
        while not ws.closed:
            event = await subscription.get()
            if subscription.overflowed:
                subscription.overflowed = False
                why = event.data.get("reason") if event.type == RESYNC else None
                await ws.send_json(frame("resync", data={"reason": why or "events were lost: reload"}))
            if event.type.startswith(HUB_ONLY):
                continue
            if may_see_event(viewer, event):
                await ws.send_str(_ENCODED.text(event))
    except (ConnectionError, RuntimeError) as exc:  # the peer went away mid-send
        log.debug("agent socket send failed: %s", exc)
        await ws.close()


async def _presence(request: web.Request, agent_id: int, delta: int, *, idle: bool = False) -> None:
    presence = hub_of(request).presence
    try:
        changed = await (
            presence.connect(agent_id) if delta > 0 else presence.disconnect(agent_id, idle=idle)
        )
    except Exception:  # presence is advisory: a failed write must not break the socket
        log.exception("recording presence of agent %s failed", agent_id)
        return
    if changed:
        status = "online" if delta > 0 else "offline"
        await publish(request, [Event("agent.presence", data={"agent_id": agent_id, "status": status})])


class _Tab:
    """What one socket has told us about its tab."""

    idle = False


async def _idle(request: web.Request, agent_id: int, tab: _Tab, idle: object) -> None:
    """The inbox script reports its tab idle or active again (``{"type": "idle", "idle": true}``)."""
    if not isinstance(idle, bool) or idle == tab.idle:
        return
    tab.idle = idle
    try:
        status = await hub_of(request).presence.set_idle(agent_id, idle)
    except Exception:  # presence is advisory: a failed write must not break the socket
        log.exception("recording idleness of agent %s failed", agent_id)
        return
    await publish(request, [Event("agent.presence", data={"agent_id": agent_id, "status": status})])


async def _answer(
    request: web.Request, ws: web.WebSocketResponse, agent_id: int, tab: _Tab, text: str
) -> None:
    try:
        message = json.loads(text)
    except ValueError:
        await ws.send_json(frame("error", data={"message": "frames must be JSON objects"}))
        return
    if isinstance(message, dict) and message.get("type") == "ping":
        await ws.send_json(frame("pong"))
    elif isinstance(message, dict) and message.get("type") == "idle":
        await _idle(request, agent_id, tab, message.get("idle"))


async def _first_frame(request: web.Request, ws: web.WebSocketResponse) -> Principal | None:
    """The principal of the socket's ``auth`` frame; None after closing the socket (4401/4403)."""
    try:
        message = await ws.receive(timeout=AUTH_DEADLINE_SECONDS)
    except TimeoutError:
        await ws.close(code=CLOSE_CODE, message=b"no auth frame in time")
        return None
    token = None
    if message.type == WSMsgType.TEXT:
        with contextlib.suppress(ValueError):
            sent = json.loads(message.data)
            if isinstance(sent, dict) and sent.get("type") == "auth" and isinstance(sent.get("token"), str):
                token = sent["token"].strip() or None
    if token is None:
        await ws.close(code=CLOSE_CODE, message=b'the first frame must be {"type": "auth", "token": ...}')
        return None
    try:
        async with db(request) as session:
            return await token_principal(request, session, token)
    except ApiError as exc:
        await ws.close(code=CLOSE_CODE if exc.status == 401 else 4403, message=exc.code.encode())
        return None


async def _alive(request: web.Request, credential: Credential) -> bool:
    async with db_read(request) as session:
        return await auth.credential_alive(
            session, credential.agent_id, session_id=credential.session_id, token_id=credential.token_id
        )


class SocketQuery(Query):
    # Read by hub.web.auth.authenticate(query_token=True); stated here for the document.
    token: str | None = Field(
        None,
        description="an API token, for old clients that cannot set headers (prefer the header, or a first "
        'frame {"type": "auth", "token": ...}); masked in the access log',
    )


@routes.get("/api/v1/ws")
@operation(
    "The agent WebSocket: events of the conversations I may see, as "
    '{"type", "conversation_id", "data"} frames',
    "events",
    {101: ("switching to the WebSocket protocol", None)},
    query=SocketQuery,
)
async def agent_socket(request: web.Request) -> web.WebSocketResponse:
    live = request.app[LIVE]
    revocations = live.revocations
    async with db(request) as session:
        principal = await authenticate(request, session, query_token=True)
    if principal is not None and principal.via == "session" and not same_origin(request):
        raise forbidden("a WebSocket opened with the session cookie must come from this hub's own pages")
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS)
    if not ws.can_prepare(request).ok:
        if principal is None:
            raise unauthorized()
        raise bad_request("expected a WebSocket upgrade request")
    hub = hub_of(request)
    async with hub.bus.subscribe() as subscription:  # before the hello: no event falls in between
        await ws.prepare(request)
        if principal is None:
            revocations = live.revocations
            principal = await _first_frame(request, ws)
            if principal is None:
                return ws
        agent_id, viewer = principal.agent.id, principal.viewer
        web_session = principal.web_session
        credential = Credential(agent_id, web_session.id if web_session else None, principal.api_token_id)
        live.add(ws, credential)
        if live.revocations != revocations and not await _alive(request, credential):
            live.discard(ws, credential)  # revoked between the check and the registration
            await ws.close(code=CLOSE_CODE, message=b"credential ended: log in again")
            return ws
        request.app[SOCKETS].add(ws)
        await _presence(request, agent_id, +1)
        tab = _Tab()
        pump: asyncio.Task[None] | None = None
        try:
            await ws.send_json(frame("hello", data={"agent_id": agent_id, "role": viewer.role}))
            pump = asyncio.create_task(_pump(ws, subscription, viewer), name=f"okno-ws-agent-{agent_id}")
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await _answer(request, ws, agent_id, tab, message.data)
        finally:
            if pump is not None:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
            request.app[SOCKETS].discard(ws)
            live.discard(ws, credential)
            await _presence(request, agent_id, -1, idle=tab.idle)
    return ws


async def close_all(app: web.Application) -> None:
    """On shutdown: tell every agent socket the hub is going away."""
    sockets: weakref.WeakSet[web.WebSocketResponse] = app[SOCKETS]
    for socket in list(sockets):
        await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
