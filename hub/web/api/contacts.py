"""/api/v1/contacts: client cards — list and search, one card, edits, identities, duplicates, merge.

Every route keeps to the cards the caller may see (:mod:`inbox.visibility`: the cards of conversations
they may see, and the cards they own; admins all). A card or duplicate pair the caller may not see is
answered 404, as if it did not exist; a card id in a body (``merge_id``) gets the same 422 as a missing one.
Changes publish contact-level events (``contact.updated``, ``contact.merged``) to those who may see the card.

An identity an agent adds that another card already holds is refused with 409 ``identity_taken`` (the
message names that card only if the caller may see it: merging is the way). Removing an identity is refused
(422, ``identity_id``) for a card's last one and for one history may have come through.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field, WithJsonSchema, field_validator

from hub.web.api.operations import operation
from hub.web.api.schemas.base import respond, respond_plain
from hub.web.api.schemas.contacts import Contact as ContactOut
from hub.web.api.schemas.contacts import ContactDetail, ContactList, DuplicateList
from hub.web.auth import authenticate_reading, require_agent
from hub.web.context import db, db_read, hub_of, publish
from hub.web.errors import not_found, unauthorized
from hub.web.inputs import Body, Empty, Id, NotNull, Query, path_id, read_body, read_query
from inbox import card_changes, contacts
from inbox.conversations import ConversationFilter, list_conversations
from inbox.items import IdentityKind

routes = web.RouteTableDef()

MERGERS = ("supervisor", "admin")


MAX_CUSTOM_FIELDS = 50

Tag = Annotated[str, Field(min_length=1, max_length=50, pattern=r"\S")]
# A custom field: a name with something besides spaces, and a simple value (the document says so, so a
# client — or a fuzzer — that follows it is never refused for what it could not know).
FieldName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"\S")]
FieldValue = Annotated[str, Field(max_length=2000)] | int | float | bool | None
# Written out: pydantic would put the name's pattern under patternProperties, which leaves a blank name
# documented as allowed.
CUSTOM_FIELDS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "maxProperties": MAX_CUSTOM_FIELDS,
    "propertyNames": {"minLength": 1, "maxLength": 100, "pattern": r"\S"},
    "additionalProperties": {
        "anyOf": [
            {"type": "string", "maxLength": 2000},
            {"type": "integer"},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "null"},
        ]
    },
}


class ContactListQuery(Query):
    q: str | None = Field(
        None,
        max_length=200,
        description="search text: every word of the name or company by its prefix (full-text), a phone "
        "number (any format, or four or more of its digits), an e-mail address or another identity by "
        "its prefix",
    )
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)


class DuplicatesQuery(Query):
    contact_id: Id | None = Field(None, description="only pairs with this card")
    limit: int = Field(100, ge=1, le=500)


CustomFields = Annotated[dict[FieldName, FieldValue], WithJsonSchema(CUSTOM_FIELDS_SCHEMA)]


class ContactPatch(Body):
    name: str | None = Field(None, max_length=200)
    company: str | None = Field(None, max_length=200)
    kind: Literal["lead", "client"] | None = NotNull()
    owner_id: Id | None = None
    source_detail: str | None = Field(None, max_length=200)
    tags: list[Tag] | None = NotNull(max_length=50)
    custom_fields: CustomFields | None = NotNull(max_length=MAX_CUSTOM_FIELDS)
    notes: str | None = Field(None, max_length=20_000)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not tag.strip() or len(tag) > 50:
                raise ValueError("each tag must be 1-50 characters")
        return value


class IdentityBody(Body):
    kind: IdentityKind
    value: str = Field(min_length=1, max_length=320)


class MergeBody(Body):
    merge_id: Id


class IdentityPath(Query):
    """The card's ``{id}`` and the ``{identity_id}`` of one of its identities."""

    id: Id
    identity_id: Id


@routes.get("/api/v1/contacts")
@operation(
    "List and search the client cards I may see (name, company, any identity), newest first",
    "contacts",
    {200: ("OK", ContactList)},
    query=ContactListQuery,
)
async def list_contacts(request: web.Request) -> web.Response:
    async with db_read(request) as session:
        # Who asks, learnt in the read-only session: an API token's use is noted once a minute, not in a
        # write transaction of every search (on SQLite a write lock and an fsync per keystroke's request).
        principal = await authenticate_reading(request, session)
        if principal is None:
            raise unauthorized()
        query = read_query(request, ContactListQuery)
        rows = await contacts.search_contacts(
            session,
            query.q,
            limit=query.limit,
            offset=query.offset,
            viewer=principal.viewer,
            region=hub_of(request).settings.default_region,
        )
        return respond_plain(ContactList.plain(rows, query.limit, query.offset))


@routes.get(r"/api/v1/contacts/{id:\d+}")
@operation(
    "A card with its identities and the conversations I may see",
    "contacts",
    {200: ("OK", ContactDetail)},
    errors=(404,),
)
async def get_contact(request: web.Request) -> web.Response:
    """A card with its identities and the conversations the caller may see."""
    contact_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
    async with db_read(request) as session:
        card = await contacts.get_visible_contact(session, principal.viewer, contact_id)
        convs = await list_conversations(
            session, principal.viewer, ConversationFilter(contact_id=card.id), limit=200
        )
        return respond(ContactDetail.of(card, convs))


@routes.patch(r"/api/v1/contacts/{id:\d+}")
@operation(
    "Edit a card (only the fields given change)",
    "contacts",
    {200: ("OK", ContactOut)},
    body=ContactPatch,
    errors=(403, 404, 422),
)
async def patch_contact(request: web.Request) -> web.Response:
    contact_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        body = await read_body(request, ContactPatch)
        changes = body.model_dump(include=body.model_fields_set)
        card, events = await card_changes.edit_card(session, principal.viewer, contact_id, changes)
        await session.commit()
    await publish(request, events)
    return respond(ContactOut.model_validate(card))


@routes.post(r"/api/v1/contacts/{id:\d+}/identities")
@operation(
    "Add an identity (e-mail, phone …); 409 identity_taken if another card has it (merge instead)",
    "contacts",
    {201: ("added", ContactOut)},
    body=IdentityBody,
    errors=(403, 404, 409, 422),
)
async def add_identity(request: web.Request) -> web.Response:
    """Add an e-mail, phone … to a card; one another card holds is refused (409), never shared."""
    contact_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        body = await read_body(request, IdentityBody)
        card, events = await card_changes.add_card_identity(
            session,
            principal.viewer,
            contact_id,
            body.kind,
            body.value,
            region=hub_of(request).settings.default_region,
        )
        await session.commit()
    await publish(request, events)
    return respond(ContactOut.model_validate(card), status=201)


@routes.delete(r"/api/v1/contacts/{id:\d+}/identities/{identity_id:\d+}")
@operation(
    "Remove an identity from a card (422 for its last one, or one its history may have come through)",
    "contacts",
    {200: ("the card without it", ContactOut)},
    path=IdentityPath,
    errors=(403, 404, 422),
)
async def remove_identity(request: web.Request) -> web.Response:
    """Take an identity off a card, audited; the card keeps its conversations."""
    contact_id = path_id(request)
    identity_id = path_id(request, "identity_id")
    async with db(request) as session:
        principal = await require_agent(request, session)
        card, events = await card_changes.remove_card_identity(
            session, principal.viewer, contact_id, identity_id
        )
        await session.commit()
    await publish(request, events)
    return respond(ContactOut.model_validate(card))


@routes.get("/api/v1/contacts/duplicates")
@operation(
    "Open duplicate candidates whose two cards I may both see",
    "contacts",
    {200: ("OK", DuplicateList)},
    query=DuplicatesQuery,
)
async def list_duplicates(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await require_agent(request, session)
        query = read_query(request, DuplicatesQuery)
        pairs = await contacts.list_duplicates(
            session, query.contact_id, limit=query.limit, viewer=principal.viewer
        )
        return respond(DuplicateList.model_validate({"items": pairs}))


@routes.post(r"/api/v1/contacts/{id:\d+}/merge")
@operation(
    "Merge card merge_id into this one (supervisor, admin)",
    "contacts",
    {200: ("the surviving card", ContactOut)},
    body=MergeBody,
    errors=(403, 404, 422),
)
async def merge(request: web.Request) -> web.Response:
    """Merge card `merge_id` into this one (supervisors and admins): everything moves here, audited."""
    survivor_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session, *MERGERS)
        body = await read_body(request, MergeBody)
        card, events = await card_changes.merge_cards(session, principal.viewer, survivor_id, body.merge_id)
        await session.commit()
    await publish(request, events)
    return respond(ContactOut.model_validate(card))


@routes.post(r"/api/v1/contacts/duplicates/{id:\d+}/dismiss")
@operation(
    "Dismiss a duplicate candidate: two different people (supervisor, admin)",
    "contacts",
    {204: ("dismissed", None)},
    body=Empty,
    body_required=False,
    errors=(403, 404),
)
async def dismiss(request: web.Request) -> web.Response:
    """Say two listed cards are different people (supervisors and admins): the pair leaves the list."""
    candidate_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session, *MERGERS)
        await read_body(request, Empty)
        try:
            await contacts.dismiss_duplicate(
                session, candidate_id, principal.agent.id, viewer=principal.viewer
            )
        except contacts.ContactNotFound:
            raise not_found(f"duplicate candidate {candidate_id} not found") from None
        await session.commit()
    return web.Response(status=204)
