"""``POST /webchat/conversations/{id}/typing``: an agent is typing a reply; the visitor's widget shows it.

Called by the agent UI (session cookie and CSRF header, like every change) at most every few seconds
while the reply box has text, and with ``{"on": false}`` when it is sent or cleared. It lives outside
/api/v1 because it is a hint for the UI, not an API resource: nothing is stored.
"""

from __future__ import annotations

from aiohttp import web

from hub.web.auth import require_agent
from hub.web.context import db, publish
from hub.web.inputs import Body, path_id, read_body
from inbox.bus import Event
from inbox.conversations import get_visible_conversation, scope

routes = web.RouteTableDef()


class TypingBody(Body):
    on: bool = True


@routes.post(r"/webchat/conversations/{id:\d+}/typing")
async def agent_typing(request: web.Request) -> web.Response:
    conversation_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        body = await read_body(request, TypingBody)
        conv = await get_visible_conversation(session, principal.viewer, conversation_id)
        where = scope(conv)
    agent = principal.agent
    data = {"from": "agent", "on": body.on, "agent_id": agent.id, "name": agent.name}
    await publish(request, [Event("conversation.typing", **where, data=data)])
    return web.Response(status=204)
