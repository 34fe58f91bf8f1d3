"""/api/v1/channels: the configured channel accounts and their state, an admin's connection test of one, and
the generic API channel's inbound route.

``POST /api/v1/channels/{account}/test`` (admins) runs the account's own connectivity check outside any
database transaction, under a ceiling (:mod:`hub.channel_check`), and answers what happened; audited.

``POST /api/v1/channels/{account}/messages`` authenticates with the account's own token (compared in
constant time) before the body is even read; only then is it parsed by :func:`channels.api.parse` and
handed to the one ingest path. 201 for a new message, 200 for a redelivered one; 503 with Retry-After when
the database cannot take it now (nothing stored: send it again, it is stored once).
"""

from __future__ import annotations

import hmac
from datetime import datetime

from aiohttp import web
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.api import parse
from channels.api.parse import MessageBody
from hub.channel_check import check_account
from hub.runtime import Hub
from hub.supervisor import STANDBY
from hub.web.api.operations import operation
from hub.web.api.schemas.base import respond
from hub.web.api.schemas.capabilities import Capabilities
from hub.web.api.schemas.channels import ChannelAccount, ChannelAccountList, ConnectionTest, IngestResult
from hub.web.auth import require_agent
from hub.web.context import db, hub_of
from hub.web.errors import ApiError, not_found, unauthorized
from hub.web.inputs import Empty, Query, read_body, read_json_object
from inbox import quarantine
from inbox.channel_activity import last_received
from inbox.ingest import IngestError
from inbox.items import Refused
from inbox.models import ChannelAccount as AccountRow

routes = web.RouteTableDef()

ACCOUNT_NAME = r"[a-z0-9][a-z0-9_-]{0,63}"
ACCOUNT = f"{{account:{ACCOUNT_NAME}}}"


class AccountPath(Query):
    """The ``{account}`` of the inbound route: a configured account's name."""

    account: str = Field(pattern=f"^{ACCOUNT_NAME}$")


class ApiChannelMessage(MessageBody):
    """One message from any system, into the generic API channel."""

    # A subclass only to keep the document's component name; parse() validates with MessageBody itself.


@routes.get("/api/v1/channels")
@operation(
    "Configured channel accounts and their state (no secrets)", "channels", {200: ("OK", ChannelAccountList)}
)
async def list_channels(request: web.Request) -> web.Response:
    """Every configured account with its state (running, retrying, auth_failed …), its last error, what its
    replies can carry, when it last received something and how many items wait in its quarantine; never a
    secret."""
    hub = hub_of(request)
    async with db(request) as session:
        await require_agent(request, session)
        items = await channel_rows(hub, session)
    return respond(ChannelAccountList(items=items))


async def channel_rows(hub: Hub, session: AsyncSession) -> list[ChannelAccount]:
    """The accounts as the API and the channels page show them."""
    ids = [c.context.id for c in hub.accounts.values()]
    counts = await quarantine.counts_by_account(session)
    received = await last_received(session, ids)
    # An account another process holds (standby here) is shown as its holder wrote it on the row.
    standby = [i for i in ids if (s := hub.supervisor.states.get(i)) is not None and s.state == STANDBY]
    held_elsewhere: dict[int, tuple[str, str | None, datetime | None]] = {}
    if standby:
        for row in await session.scalars(select(AccountRow).where(AccountRow.id.in_(standby))):
            held_elsewhere[row.id] = (row.state, row.state_detail, row.state_changed_at)
    items = []
    for name, configured in sorted(hub.accounts.items()):
        context = configured.context
        state = hub.supervisor.states.get(context.id)
        here: tuple[str, str | None, datetime | None] = (
            (state.state, state.detail, state.since) if state else ("stopped", None, None)
        )
        shown = held_elsewhere.get(context.id, here)
        items.append(
            ChannelAccount(
                id=context.id,
                name=name,
                kind=context.kind,
                team_id=configured.team_id,
                state=shown[0],
                detail=shown[1],
                restarts=state.restarts if state else 0,
                since=shown[2],
                problem=configured.problem,
                capabilities=Capabilities.of(hub.account_capabilities(context.id)),
                last_received_at=received.get(context.id),
                quarantined=counts.get(context.id, 0),
            )
        )
    return items


@routes.post(f"/api/v1/channels/{ACCOUNT}/test")
@operation(
    "Test a channel account's connection (admins; audited)",
    "channels",
    {200: ("what the test found: ok or not, and what happened", ConnectionTest)},
    path=AccountPath,
    body=Empty,
    body_required=False,
    errors=(403, 404),
)
async def test_connection(request: web.Request) -> web.Response:
    """The account's own connectivity check (an IMAP login and SMTP EHLO, getMe, groups.getById, an AMI
    login, a readable CDR file …) under a ceiling; 200 with ``ok: false`` when the peer did not take us."""
    hub = hub_of(request)
    async with db(request) as session:
        principal = await require_agent(request, session, "admin")
        await read_body(request, Empty)
    name = request.match_info["account"]
    configured = hub.accounts.get(name)
    if configured is None:
        raise not_found(f"no channel account named {name!r}")
    found = await check_account(hub, configured, actor_agent_id=principal.agent.id)
    kind = configured.context.kind
    return respond(ConnectionTest(account=name, kind=kind, ok=found.ok, detail=found.detail))


@routes.post(f"/api/v1/channels/{ACCOUNT}/messages")
@operation(
    "Hand in one message through a generic API channel account",
    "channels",
    {
        201: ("stored", IngestResult),
        200: ("already stored before (a redelivery): nothing changed", IngestResult),
    },
    body=ApiChannelMessage,
    path=AccountPath,
    errors=(401, 403, 404, 422, 503),
    auth="channel",
)
async def inbound(request: web.Request) -> web.Response:
    hub = hub_of(request)
    name = request.match_info["account"]
    configured = hub.accounts.get(name)
    if configured is None or configured.context.kind != "api":
        raise not_found(f"no API channel account named {name!r}")
    expected = configured.context.secrets.get("token", "")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    authentic = scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())
    if not expected or not authentic:
        raise unauthorized(f"missing or wrong token for account {name!r} (Authorization: Bearer <token>)")
    if configured.problem:
        raise ApiError(403, "account_unavailable", f"account {name!r} is not available: {configured.problem}")
    payload = await read_json_object(request)
    item = parse(
        payload,
        account_id=configured.context.id,
        account_name=name,
        region=hub.settings.default_region,
    )
    try:
        result = await hub.ingest.submit(item)
    except IngestError as exc:
        # Accepted by the channel, refused by the inbox: the body is kept in the quarantine, then the
        # caller hears why (422).
        body = await request.read()
        await hub.sink(Refused(configured.context.id, body, str(exc), f"message {item.external_id}"))
        raise
    return respond(IngestResult.model_validate(result), status=200 if result.duplicate else 201)
