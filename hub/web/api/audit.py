"""/api/v1/audit: the audit log for admins — log-in attempts and admin actions, newest first."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from hub.web.api.operations import operation
from hub.web.api.schemas.audit import AuditList
from hub.web.api.schemas.base import respond
from hub.web.auth import require_agent
from hub.web.context import db
from hub.web.inputs import Id, Query, Timestamp, read_query
from inbox.audit import AuditFilter, list_entries

routes = web.RouteTableDef()


class AuditQuery(Query):
    action: str | None = Field(None, min_length=1, max_length=40)
    agent: Id | None = None
    since: Timestamp | None = None
    until: Timestamp | None = None
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)

    def filter(self) -> AuditFilter:
        return AuditFilter(action=self.action, agent_id=self.agent, since=self.since, until=self.until)


@routes.get("/api/v1/audit")
@operation(
    "The audit log, newest first: log-in attempts and admin actions (admin)",
    "admin",
    {200: ("OK", AuditList)},
    query=AuditQuery,
    errors=(403,),
)
async def list_audit(request: web.Request) -> web.Response:
    """Filterable by action, agent (who acted, or whose account it is about) and time; admins only."""
    async with db(request) as session:
        await require_agent(request, session, "admin")
        query = read_query(request, AuditQuery)
        rows = await list_entries(session, query.filter(), limit=query.limit, offset=query.offset)
        return respond(
            AuditList.model_validate({"items": rows, "limit": query.limit, "offset": query.offset})
        )
