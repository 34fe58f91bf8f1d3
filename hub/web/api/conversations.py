"""/api/v1/conversations: list with filters, one conversation with its messages, assign, status,
replies and internal notes.

A conversation the caller may not see is a 403 (it exists, but not for them), on reading and on every
action. Changes are committed first and their events published after, never the other way round.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from aiohttp import web
from pydantic import ConfigDict, Field

from hub.web.api.operations import operation
from hub.web.api.schemas.base import respond, respond_plain
from hub.web.api.schemas.conversation_views import (
    ConversationDetail,
    ConversationList,
    ConversationListItem,
    ReadMarker,
)
from hub.web.api.schemas.conversations import Conversation as ConversationOut
from hub.web.api.schemas.conversations import Message as MessageOut
from hub.web.auth import require_agent
from hub.web.context import db, db_read, hub_of, publish
from hub.web.errors import bad_request, unprocessable
from hub.web.inputs import AgentRef, Body, Empty, Id, Query, Timestamp, path_id, read_body, read_query
from inbox.capabilities import Capabilities
from inbox.contacts import contact_summaries, get_contact
from inbox.conversations import (
    ConversationFilter,
    ListCursor,
    assign,
    get_visible_conversation,
    list_conversation_rows,
    messages_of,
    set_status,
)
from inbox.items import OutboundAttachment
from inbox.knowledge.templates import visible_template
from inbox.models import utcnow
from inbox.outbox import retry_failed
from inbox.reads import mark_read, unread_counts
from inbox.replies import MAX_REPLY, add_reply, reply_account, store_reply_files
from inbox.reports.due import open_dues

routes = web.RouteTableDef()

NOTES = Capabilities(attachments=True)  # a note goes nowhere: it carries whatever the hub keeps

Status = Literal["open", "pending", "snoozed", "resolved"]
BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"  # padded, no line breaks


class ConversationQuery(Query):
    status: Status | None = None
    assignee: AgentRef | None = Field(None, description='an agent id, or "me"')
    team: Id | None = None
    channel: str | None = Field(None, max_length=20, description="channel kind: email, api …")
    unassigned: bool = False
    contact: Id | None = None
    q: str | None = Field(
        None,
        description="full-text (at most 200 characters): the subject, a message or the client's card matches "
        "every word (as GET /api/v1/search); a query with nothing to search is a 422 naming q",
    )
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)
    cursor: str | None = Field(
        None,
        max_length=40,
        description="the next_cursor of the previous page: the page after its last row (cheaper than a "
        "large offset, and a new conversation does not shift it); a cursor this list did not return is a "
        "422 naming cursor",
    )


class AssignBody(Body):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})  # the handler needs one of them

    assignee_id: Id | None = None
    team_id: Id | None = None


class StatusBody(Body):
    status: Status
    snoozed_until: Timestamp | None = None


class FileIn(Body):
    """A file sent with a reply, inline as base64 (the whole request stays under max_body_bytes)."""

    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(pattern=r"^[\w.+-]+/[\w.+-]+$", max_length=120)
    content_base64: str = Field(pattern=BASE64)

    def decoded(self) -> bytes:
        try:
            return base64.b64decode(self.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request("not valid base64", "attachments.content_base64") from None


class ReplyBody(Body):
    text: str = Field(min_length=1, max_length=MAX_REPLY)
    html: str | None = Field(None, max_length=5 * MAX_REPLY)
    attachments: list[FileIn] = Field(default_factory=list, max_length=10)
    template_id: Id | None = Field(None, description="the knowledge-base template the reply was written from")
    buttons: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=list,
        max_length=10,
        description="quick answers shown under the reply, where the channel has buttons (VK)",
    )


class NoteBody(Body):
    text: str = Field(min_length=1, max_length=MAX_REPLY)


@routes.get("/api/v1/conversations")
@operation(
    "Conversations I may see, latest activity first",
    "conversations",
    {200: ("OK", ConversationList)},
    query=ConversationQuery,
    errors=(422,),
)
async def list_(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await require_agent(request, session)
    async with db_read(request) as session:
        query = read_query(request, ConversationQuery)
        assignee = None
        if query.assignee is not None:
            assignee = query.assignee if isinstance(query.assignee, int) else principal.agent.id
        flt = ConversationFilter(
            status=query.status,
            assignee_id=assignee,
            team_id=query.team,
            channel=query.channel,
            unassigned=query.unassigned,
            contact_id=query.contact,
            q=query.q,
            region=hub_of(request).settings.default_region,
        )
        cursor = ListCursor.decode(query.cursor) if query.cursor is not None else None
        found = await list_conversation_rows(
            session, principal.viewer, flt, limit=query.limit + 1, offset=query.offset, cursor=cursor
        )
        convs = found[: query.limit]
        more = ListCursor.after(convs[-1]).encode() if len(found) > query.limit else None
        cards = await contact_summaries(session, (c.contact_id for c in convs))
        hub = hub_of(request)
        dues = await open_dues(
            session, (c.id for c in convs), sla=hub.sla, calendars=hub.policy.calendars, now=utcnow()
        )
        unread = await unread_counts(session, principal.agent.id, (c.id for c in convs))
        # A ConversationList's JSON, read straight from the rows (the same bytes as respond() of the model)
        items = [
            ConversationListItem.plain(c, cards[c.contact_id], dues.get(c.id), unread.get(c.id, 0))
            for c in convs
        ]
        return respond_plain(
            {"items": items, "limit": query.limit, "offset": query.offset, "next_cursor": more}
        )


@routes.get(r"/api/v1/conversations/{id:\d+}")
@operation(
    "A conversation with its contact and messages",
    "conversations",
    {200: ("OK", ConversationDetail)},
    errors=(403, 404),
)
async def get(request: web.Request) -> web.Response:
    """A conversation with its contact, every message (with attachments), oldest first, and what a reply
    through its channel can carry."""
    conversation_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
    async with db_read(request) as session:
        conv = await get_visible_conversation(session, principal.viewer, conversation_id)
        card = await get_contact(session, conv.contact_id)
        messages = await messages_of(session, conv.id)
        can_carry = hub_of(request).account_capabilities(conv.account_id)
        return respond(ConversationDetail.of(conv, card, messages, can_carry))


@routes.post(r"/api/v1/conversations/{id:\d+}/read")
@operation(
    "Mark the conversation read by me: its client messages so far are no longer unread for me",
    "conversations",
    {200: ("OK", ReadMarker)},
    body=Empty,
    body_required=False,
    errors=(403, 404),
)
async def read(request: web.Request) -> web.Response:
    """Move my read marker to the conversation's latest message (the inbox does it when it shows one)."""
    conversation_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        await read_body(request, Empty)  # nothing, or {}: anything else is a clear 400
        conv = await get_visible_conversation(session, principal.viewer, conversation_id)
        marker = await mark_read(session, principal.agent.id, conv.id)
        await session.commit()
    return respond(ReadMarker(conversation_id=conversation_id, last_read_message_id=marker, unread=0))


@routes.post(r"/api/v1/conversations/{id:\d+}/assign")
@operation(
    "Assign to an agent and/or team (a field left out keeps its value, null clears it)",
    "conversations",
    {200: ("OK", ConversationOut)},
    body=AssignBody,
    errors=(403, 404, 422),
)
async def assign_(request: web.Request) -> web.Response:
    """Set the assignee and/or team; a field left out keeps its value, null clears it."""
    conversation_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        body = await read_body(request, AssignBody)
        if not body.model_fields_set:
            raise bad_request("give assignee_id and/or team_id")
        conv = await get_visible_conversation(session, principal.viewer, conversation_id)
        fields = body.model_fields_set
        events = await assign(
            session,
            conv,
            assignee_id=body.assignee_id if "assignee_id" in fields else conv.assignee_id,
            team_id=body.team_id if "team_id" in fields else conv.team_id,
            actor_id=principal.agent.id,
        )
        await session.commit()
    await publish(request, events)
    return respond(ConversationOut.model_validate(conv))


@routes.post(r"/api/v1/conversations/{id:\d+}/status")
@operation(
    "Change the status (snoozed needs snoozed_until)",
    "conversations",
    {200: ("OK", ConversationOut)},
    body=StatusBody,
    errors=(403, 404, 422),
)
async def status(request: web.Request) -> web.Response:
    conversation_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        body = await read_body(request, StatusBody)
        conv = await get_visible_conversation(session, principal.viewer, conversation_id)
        events = await set_status(
            session,
            conv,
            body.status,
            actor_id=principal.agent.id,
            policy=hub_of(request).policy,
            snoozed_until=body.snoozed_until,
        )
        await session.commit()
    if conv.status == "snoozed":
        hub_of(request).scheduler.wake()  # its wake-up may come before the one the scheduler waits for
    await publish(request, events)
    return respond(ConversationOut.model_validate(conv))


async def _post_message(
    request: web.Request, model: type[ReplyBody] | type[NoteBody], *, note: bool
) -> web.Response:
    conversation_id = path_id(request)
    hub = hub_of(request)
    async with db(request) as session:
        principal = await require_agent(request, session)  # ends its read transaction
        body = await read_body(request, model)
        conv = await get_visible_conversation(session, principal.viewer, conversation_id)
        template_id = body.template_id if isinstance(body, ReplyBody) else None
        if template_id is not None and await visible_template(session, principal.agent, template_id) is None:
            raise unprocessable(f"template {template_id} not found", "template_id")
        via = None if note else await reply_account(session, conv, offline_form_mail=hub.offline_form_mail())
        await session.commit()  # ends this read: the files below are written with no transaction open
        attachments = [
            OutboundAttachment(f.filename, f.content_type, f.decoded())
            for f in (body.attachments if isinstance(body, ReplyBody) else [])
        ]
        account_id = via or conv.account_id
        through = hub.account_by_id(account_id)
        buttons = body.buttons if isinstance(body, ReplyBody) else []
        files = await store_reply_files(
            attachments,
            hub.policy,
            capabilities=NOTES if note else hub.account_capabilities(account_id),
            channel=through.context.kind if through is not None else conv.channel_kind,
            buttons=buttons,
        )
        await session.refresh(conv)  # another agent may have changed it while the files were written
        html = body.html if isinstance(body, ReplyBody) else None
        message, events = await add_reply(
            session,
            conv,
            principal.agent,
            body.text,
            html=html,
            note=note,
            policy=hub.policy,
            files=files,
            buttons=buttons,
            via_account_id=via,
            template_id=template_id,
        )
        await session.refresh(message, ["attachments"])
        payload = MessageOut.model_validate(message)  # before the commit expires the row
        await session.commit()
    if not note:
        hub.outbox.wake()
    await publish(request, events)
    return respond(payload, status=201)


@routes.post(r"/api/v1/conversations/{id:\d+}/replies")
@operation(
    "Reply to the client: queued in the outbox and sent through the channel",
    "conversations",
    {201: ("queued", MessageOut)},
    body=ReplyBody,
    errors=(403, 404, 422),
)
async def reply(request: web.Request) -> web.Response:
    """A reply to the client: stored with an outbox row in one transaction, then sent by the worker."""
    return await _post_message(request, ReplyBody, note=False)


@routes.post(r"/api/v1/conversations/{id:\d+}/notes")
@operation(
    "Add an internal note (never sent)",
    "conversations",
    {201: ("added", MessageOut)},
    body=NoteBody,
    errors=(403, 404, 422),
)
async def note(request: web.Request) -> web.Response:
    """An internal note: seen by agents, never sent."""
    return await _post_message(request, NoteBody, note=True)


@routes.post(r"/api/v1/messages/{id:\d+}/retry")
@operation(
    "Send a failed reply again: re-queued in the outbox with the same idempotency key (409 unless it failed)",
    "conversations",
    {200: ("queued again", MessageOut)},
    body=Empty,
    body_required=False,
    errors=(403, 404, 409),
)
async def retry(request: web.Request) -> web.Response:
    """A failed reply back in the outbox, due now; audited; the worker is woken."""
    message_id = path_id(request)
    hub = hub_of(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        await read_body(request, Empty)  # nothing, or {}: anything else is a clear 400
        message, events = await retry_failed(
            session, principal.viewer, message_id, actor_id=principal.agent.id
        )
        await session.refresh(message, ["attachments"])
        payload = MessageOut.model_validate(message)
        await session.commit()
    hub.outbox.wake()
    await publish(request, events)
    return respond(payload)
