"""``GET /api/v1/contacts/{id}/timeline``: a client's whole history across channels — messages, internal
notes and calls — in one list, oldest first, limited to what the caller may see. A card the caller may
not see (:mod:`inbox.visibility`) is a 404."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from hub.web.api import serialize
from hub.web.auth import require_agent
from hub.web.context import db
from hub.web.inputs import Query, path_id, read_query
from inbox import contacts
from inbox.models import Call, Conversation
from inbox.timeline import Entry, contact_timeline

routes = web.RouteTableDef()


class TimelineQuery(Query):
    limit: int = Field(300, ge=1, le=1000)


def conversation_ref(conv: Conversation | None) -> dict[str, Any] | None:
    if conv is None:
        return None
    return {"id": conv.id, "channel": conv.channel_kind, "subject": conv.subject, "status": conv.status}


def call(row: Call) -> dict[str, Any]:
    return {
        "id": row.id,
        "direction": row.direction,
        "from": row.from_number,
        "to": row.to_number,
        "did": row.did,
        "agent_id": row.agent_id,
        "disposition": row.disposition,
        "started_at": serialize.iso(row.started_at),
        "answered_at": serialize.iso(row.answered_at),
        "ended_at": serialize.iso(row.ended_at),
        "wait_seconds": row.wait_seconds,
        "talk_seconds": row.talk_seconds,
        "recording_url": row.recording_url,
    }


def entry(item: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": item.kind,
        "at": serialize.iso(item.at),
        "conversation": conversation_ref(item.conversation),
    }
    if item.message is not None:
        out["message"] = serialize.message(item.message)
    if item.call is not None:
        out["call"] = call(item.call)
    return out


@routes.get(r"/api/v1/contacts/{id:\d+}/timeline")
async def timeline(request: web.Request) -> web.Response:
    contact_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        query = read_query(request, TimelineQuery)
        card = await contacts.get_visible_contact(session, principal.viewer, contact_id)
        items = await contact_timeline(session, card.id, principal.viewer, limit=query.limit)
        return web.json_response({"contact_id": card.id, "items": [entry(i) for i in items]})
