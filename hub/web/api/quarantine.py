"""/api/v1/quarantine: what the channels could not take, for admins — the list (by account), each item's raw
bytes, and a retry through today's parsers (inbox.quarantine; every retry is audited)."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from hub import quarantine as retrying
from hub.web.api.operations import operation
from hub.web.api.schemas.base import respond
from hub.web.api.schemas.files import FileBytes
from hub.web.api.schemas.quarantine import QuarantineList, RetryOutcomeList
from hub.web.auth import require_agent
from hub.web.context import db, hub_of
from hub.web.errors import not_found, unprocessable
from hub.web.inputs import Body, Id, Query, path_id, read_body, read_query
from inbox import quarantine
from inbox.models import ChannelAccount, QuarantineItem

routes = web.RouteTableDef()


class QuarantineQuery(Query):
    account: Id | None = None
    before: Id | None = Field(None, description="items older than this id (the next page)")
    limit: int = Field(50, ge=1, le=200)


class RetryBody(Body):
    ids: list[Id] = Field(default_factory=list, max_length=500)
    account_id: Id | None = None
    all: bool = False


@routes.get("/api/v1/quarantine")
@operation(
    "What the channels could not take, newest first (admins)",
    "quarantine",
    {200: ("OK", QuarantineList)},
    query=QuarantineQuery,
    errors=(403,),
)
async def list_quarantine(request: web.Request) -> web.Response:
    """Newest first; admins only (raw payloads may hold anyone's data)."""
    async with db(request) as session:
        await require_agent(request, session, "admin")
        query = read_query(request, QuarantineQuery)
        rows = await quarantine.list_items(
            session, account_id=query.account, limit=query.limit, before_id=query.before
        )
        return respond(QuarantineList.model_validate({"items": rows}))


@routes.get(r"/api/v1/quarantine/{id:\d+}/raw")
@operation(
    "A quarantined item's bytes as received (admins)",
    "quarantine",
    {200: ("the item's bytes as received, as a download", FileBytes)},
    errors=(403, 404),
    files=("application/octet-stream",),
)
async def download_raw(request: web.Request) -> web.StreamResponse:
    """The item's bytes as received, as a download (never rendered: they are whatever a sender sent)."""
    hub = hub_of(request)
    item_id = path_id(request)
    async with db(request) as session:
        await require_agent(request, session, "admin")
        item = await session.get(QuarantineItem, item_id)
        if item is None:
            raise not_found(f"quarantine item {item_id} not found")
        account = await session.get_one(ChannelAccount, item.account_id)
        session.expunge(item)
    try:
        data = await quarantine.raw_bytes(item, retrying.blob_store(hub))
    except (LookupError, OSError) as exc:
        raise not_found(f"quarantine item {item_id}: its bytes are not available ({exc})") from None
    name = f"quarantine-{item_id}-{account.kind}.bin"
    return web.Response(
        body=data,
        content_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@routes.post("/api/v1/quarantine/retry")
@operation(
    "Run quarantined items (ids, an account's, or all) through today's parsers (admins; audited)",
    "quarantine",
    {200: ("what became of each item", RetryOutcomeList)},
    body=RetryBody,
    errors=(403, 422),
)
async def retry(request: web.Request) -> web.Response:
    """Run the chosen items (ids, an account's, or all) through today's parsers; admins only."""
    hub = hub_of(request)
    async with db(request) as session:
        principal = await require_agent(request, session, "admin")
    body = await read_body(request, RetryBody)
    if not (body.ids or body.account_id or body.all):
        raise unprocessable("say what to retry: ids, account_id or all", "ids")
    outcomes = await retrying.retry(
        hub, body.ids, account_id=body.account_id, actor_agent_id=principal.agent.id
    )
    return respond(RetryOutcomeList.model_validate({"items": outcomes}))
