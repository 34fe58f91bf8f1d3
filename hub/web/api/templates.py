"""/api/v1/templates: the knowledge base's reply templates — search, list, create, edit, delete, preview,
insert (counted as a use) — and /api/v1/conversations/{id}/suggestions, the templates that best answer a
conversation's recent messages.

Every agent sees the shared templates and their own personal ones; someone else's personal template is a
404, as if it did not exist. Admins and supervisors manage shared templates (403 for an agent); every
agent manages their own. Search and suggestions rank with the process's index (``hub.knowledge``), which
a change made by any process makes stale (see inbox.knowledge.index_cache).
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from hub.web.api.operations import operation
from hub.web.api.schemas.base import respond
from hub.web.api.schemas.templates import Suggestions, TemplateInsert, TemplateList, TemplatePreviewResult
from hub.web.api.schemas.templates import Template as TemplateOut
from hub.web.auth import Principal, require_agent
from hub.web.context import db, hub_of, publish
from hub.web.errors import not_found, unprocessable
from hub.web.inputs import Body, Id, NotNull, Query, path_id, read_body, read_query
from inbox.conversations import get_visible_conversation
from inbox.knowledge.render import MAX_BODY, TemplateBodyError, check, render
from inbox.knowledge.search import USE_CANDIDATES, visible_to, with_use
from inbox.knowledge.suggest import conversation_language, recent_inbound, suggest, variables_for
from inbox.knowledge.templates import (
    TemplateInput,
    create_template,
    delete_template,
    list_templates,
    record_use,
    template_event,
    templates_by_id,
    update_template,
    usage_of,
    visible_template,
)
from inbox.models import Conversation, Template, utcnow

routes = web.RouteTableDef()

Language = Literal["ru", "en"]
CHANNEL = r"^[a-z0-9_]{1,20}$"


class TemplateQuery(Query):
    q: str | None = Field(None, max_length=500, description="search text: ranked results, best first")
    language: str | None = Field(None, pattern=r"^[a-z]{2}$")
    channel: str | None = Field(None, pattern=CHANNEL, description="only templates suiting this channel")
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=1_000_000)


class TemplateCreate(Body):
    key: str | None = NotNull(min_length=1, max_length=100, description="stable; generated if left out")
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=MAX_BODY)
    language: str = Field("ru", pattern=r"^[a-z]{2}$")
    tags: list[str] = Field(default_factory=list, max_length=50)
    channels: list[str] = Field(default_factory=list, max_length=20, description="empty: every channel")
    personal: bool = Field(False, description="mine only (any agent); shared needs admin or supervisor")


class TemplatePatch(Body):
    key: str | None = NotNull(min_length=1, max_length=100)
    title: str | None = NotNull(min_length=1, max_length=200)
    body: str | None = NotNull(min_length=1, max_length=MAX_BODY)
    language: str | None = NotNull(pattern=r"^[a-z]{2}$")
    tags: list[str] | None = NotNull(max_length=50)
    channels: list[str] | None = NotNull(max_length=20)


class TemplateUse(Body):
    conversation_id: Id | None = NotNull(description="render for this conversation's client")


class TemplatePreview(Body):
    body: str = Field(min_length=1, max_length=MAX_BODY)
    conversation_id: Id | None = NotNull()


class SuggestionQuery(Query):
    limit: int = Field(3, ge=1, le=10)


async def _template(session: AsyncSession, principal: Principal, template_id: int) -> Template:
    template = await visible_template(session, principal.agent, template_id)
    if template is None:
        raise not_found(f"template {template_id} not found")
    return template


async def _variables(
    request: web.Request, session: AsyncSession, principal: Principal, conversation_id: int | None
) -> dict[str, dict[str, Any]]:
    conversation = None
    if conversation_id is not None:
        conversation = await get_visible_conversation(session, principal.viewer, conversation_id)
    company = hub_of(request).settings.company.model_dump()
    return await variables_for(session, conversation, principal.agent, company)


@routes.get("/api/v1/templates")
@operation(
    "Reply templates I may see (shared and my own): by title, or with q ranked best first "
    "(Russian and English word forms, one typo per longer word)",
    "templates",
    {200: ("OK", TemplateList)},
    query=TemplateQuery,
)
async def list_(request: web.Request) -> web.Response:
    """Without `q`: by title. With `q`: the same ranking as the reply box's "/" search, best first."""
    async with db(request) as session:
        principal = await require_agent(request, session)
        query = read_query(request, TemplateQuery)
        agent_id = principal.agent.id
        if not query.q or not query.q.strip():
            rows = await list_templates(
                session,
                principal.agent,
                language=query.language,
                channel=query.channel,
                limit=query.limit,
                offset=query.offset,
            )
            items = [TemplateOut.of(t) for t in rows]
            return respond(TemplateList(items=items, limit=query.limit, offset=query.offset))
    index = await hub_of(request).knowledge.index()
    accept = visible_to(agent_id, language=query.language, channel=query.channel)
    wanted = query.offset + query.limit
    candidates = index.search(query.q, limit=wanted + USE_CANDIDATES, accept=accept)
    async with db(request) as session:
        rows_by_id = await templates_by_id(session, [h.template.id for h in candidates])
        hits = with_use(candidates, usage_of(list(rows_by_id.values())), now=utcnow(), limit=wanted)
        items = [
            TemplateOut.of(rows_by_id[h.template.id], h.score)
            for h in hits[query.offset :]
            if h.template.id in rows_by_id
        ]
    return respond(TemplateList(items=items, limit=query.limit, offset=query.offset))


@routes.post("/api/v1/templates")
@operation(
    "Create a template: shared (admins, supervisors) or personal; a body that does not render "
    "or reaches outside the sandbox is a 422 naming body",
    "templates",
    {201: ("created", TemplateOut)},
    body=TemplateCreate,
    errors=(403, 422),
)
async def create(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await require_agent(request, session)
        body = await read_body(request, TemplateCreate)
        data = TemplateInput(
            key=body.key,
            title=body.title,
            body=body.body,
            language=body.language,
            tags=body.tags,
            channels=body.channels,
        )
        template = await create_template(session, data, actor=principal.agent, personal=body.personal)
        await session.commit()
        payload = TemplateOut.of(template)
        event = template_event(template, "created")
    await publish(request, [event])
    return respond(payload, status=201)


@routes.get(r"/api/v1/templates/{id:\d+}")
@operation("One template", "templates", {200: ("OK", TemplateOut)}, errors=(404,))
async def get(request: web.Request) -> web.Response:
    template_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        return respond(TemplateOut.of(await _template(session, principal, template_id)))


@routes.patch(r"/api/v1/templates/{id:\d+}")
@operation(
    "Change a template's fields (shared: admins, supervisors; personal: its owner)",
    "templates",
    {200: ("OK", TemplateOut)},
    body=TemplatePatch,
    errors=(403, 404, 422),
)
async def patch(request: web.Request) -> web.Response:
    """Change the fields given; the others keep their values."""
    template_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        body = await read_body(request, TemplatePatch)
        template = await _template(session, principal, template_id)
        data = TemplateInput(
            key=body.key,
            title=body.title if body.title is not None else template.title,
            body=body.body if body.body is not None else template.body,
            language=body.language or template.language,
            tags=body.tags if body.tags is not None else template.tags,
            channels=body.channels if body.channels is not None else template.channels,
        )
        changed = await update_template(session, template, data, actor=principal.agent)
        await session.commit()
        payload = TemplateOut.of(template)
        event = template_event(template, "updated")
    if changed:
        await publish(request, [event])
    return respond(payload)


@routes.delete(r"/api/v1/templates/{id:\d+}")
@operation("Delete a template", "templates", {204: ("deleted", None)}, errors=(403, 404))
async def delete(request: web.Request) -> web.Response:
    template_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        template = await _template(session, principal, template_id)
        event = template_event(template, "deleted")
        await delete_template(session, template, actor=principal.agent)
        await session.commit()
    await publish(request, [event])
    return web.Response(status=204)


@routes.post(r"/api/v1/templates/{id:\d+}/use")
@operation(
    "Insert a template into a reply: its text rendered for the conversation; counts one use",
    "templates",
    {200: ("OK", TemplateInsert)},
    body=TemplateUse,
    errors=(403, 404, 422),
)
async def use(request: web.Request) -> web.Response:
    """Insert a template into a reply: its text rendered for the conversation, and one more use counted.

    Sending the reply with ``template_id`` then records which template it was written from.
    """
    template_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        body = await read_body(request, TemplateUse)
        template = await _template(session, principal, template_id)
        variables = await _variables(request, session, principal, body.conversation_id)
        try:
            text = render(template.body, variables)
        except TemplateBodyError as exc:
            raise unprocessable(str(exc), "body") from None
        await record_use(session, template)
        payload = TemplateInsert(text=text, template=TemplateOut.of(template))
        await session.commit()
    return respond(payload)


@routes.post("/api/v1/templates/preview")
@operation(
    "Render a template body as it would be sent (the editor's live preview)",
    "templates",
    {200: ("OK", TemplatePreviewResult)},
    body=TemplatePreview,
    errors=(403, 404, 422),
)
async def preview(request: web.Request) -> web.Response:
    """A body rendered as it would be (for a conversation, else sample-free): the editor's live preview.

    A body that could not be saved is a 422 naming ``body`` with the reason.
    """
    async with db(request) as session:
        principal = await require_agent(request, session)
        body = await read_body(request, TemplatePreview)
        variables = await _variables(request, session, principal, body.conversation_id)
    try:
        check(body.body)
        text = render(body.body, variables)
    except TemplateBodyError as exc:
        raise unprocessable(str(exc), "body") from None
    return respond(TemplatePreviewResult(text=text))


@routes.get(r"/api/v1/conversations/{id:\d+}/suggestions")
@operation(
    "The templates that best answer the client's recent messages, in their language, for the "
    "conversation's channel",
    "templates",
    {200: ("OK", Suggestions)},
    query=SuggestionQuery,
    errors=(403, 404),
)
async def suggestions(request: web.Request) -> web.Response:
    """The templates that best answer the client's recent messages, in their language, for the channel."""
    conversation_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        query = read_query(request, SuggestionQuery)
        conv: Conversation = await get_visible_conversation(session, principal.viewer, conversation_id)
        texts = await recent_inbound(session, conv)
        channel = conv.channel_kind
        agent_id = principal.agent.id
        fallback = principal.agent.language or hub_of(request).settings.ui.language
        language = await conversation_language(session, conv, fallback)
    text = "\n".join(texts)
    index = await hub_of(request).knowledge.index()
    candidates = suggest(
        index, text, agent_id=agent_id, language=language, channel=channel, limit=query.limit + USE_CANDIDATES
    )
    async with db(request) as session:
        rows_by_id = await templates_by_id(session, [h.template.id for h in candidates])
        hits = with_use(candidates, usage_of(list(rows_by_id.values())), now=utcnow(), limit=query.limit)
        items = [
            TemplateOut.of(rows_by_id[h.template.id], h.score) for h in hits if h.template.id in rows_by_id
        ]
    return respond(Suggestions(language=language, items=items))
