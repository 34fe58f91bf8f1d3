"""``GET /api/v1/contacts/{id}/timeline``: a client's whole history across channels — messages, internal
notes and calls — in one list, oldest first, limited to what the caller may see. A card the caller may
not see (:mod:`inbox.visibility`) is a 404."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from hub.web.api.operations import operation
from hub.web.api.schemas.base import respond
from hub.web.api.schemas.timeline import Timeline
from hub.web.auth import require_agent
from hub.web.context import db
from hub.web.inputs import Query, path_id, read_query
from inbox import contacts
from inbox.timeline import contact_timeline

routes = web.RouteTableDef()


class TimelineQuery(Query):
    limit: int = Field(300, ge=1, le=1000)


@routes.get(r"/api/v1/contacts/{id:\d+}/timeline")
@operation(
    "A client's whole history across channels: messages, internal notes and calls, oldest first (of the "
    "conversations I may see)",
    "contacts",
    {200: ("OK", Timeline)},
    query=TimelineQuery,
    errors=(404,),
)
async def timeline(request: web.Request) -> web.Response:
    contact_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        query = read_query(request, TimelineQuery)
        card = await contacts.get_visible_contact(session, principal.viewer, contact_id)
        items = await contact_timeline(session, card.id, principal.viewer, limit=query.limit)
        return respond(Timeline.model_validate({"contact_id": card.id, "items": items}))
