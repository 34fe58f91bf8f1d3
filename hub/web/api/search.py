"""/api/v1/search: full-text search across messages, conversations and client cards (inbox/search.py).

Every hit is one the caller may see: messages and conversations by the conversations' rule, cards by the
cards' rule (their conversations', the cards they own; admins all). A query that cannot be searched
(empty, longer than 200 characters, control characters, no letter or digit) is a 422 naming `q`; a
request without `q` at all is a 400 naming it, like any missing parameter.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from hub.web.api.operations import operation
from hub.web.api.schemas.base import respond
from hub.web.api.schemas.search import CardHit, ConversationHit, IdentityValue, MessageHit, SearchResults
from hub.web.auth import require_agent
from hub.web.context import db, db_read, hub_of
from hub.web.inputs import Query, read_query
from inbox import search as searching

routes = web.RouteTableDef()

KIND_LIST = r"^(message|conversation|card)(,(message|conversation|card)){0,2}$"


class SearchQuery(Query):
    q: str = Field(
        description="the words to find (at most 200 characters): every word must match; a word matches its "
        "other forms (Russian and English stems), an order number or phone in any format",
    )
    kind: str | None = Field(
        None, pattern=KIND_LIST, description="comma-separated: message, conversation, card (default: all)"
    )
    limit: int = Field(20, ge=1, le=searching.MAX_LIMIT, description="at most this many hits of each kind")
    cursor: str | None = Field(None, max_length=100, description="next_cursor of the previous page")


def results(page: searching.SearchPage) -> SearchResults:
    messages: list[MessageHit] = []
    conversations: list[ConversationHit] = []
    cards: list[CardHit] = []
    for hit in page.hits:
        if isinstance(hit, searching.MessageHit):
            messages.append(MessageHit.model_validate(hit))
        elif isinstance(hit, searching.ConversationHit):
            conversations.append(ConversationHit.model_validate(hit))
        else:
            identities = [IdentityValue(kind=k, value=v) for k, v in hit.identities]
            cards.append(
                CardHit.model_validate(
                    {
                        "id": hit.id,
                        "name": hit.name,
                        "company": hit.company,
                        "kind": hit.card_kind,
                        "identities": identities,
                        "conversation_id": hit.conversation_id,
                    }
                )
            )
    return SearchResults(
        messages=messages, conversations=conversations, cards=cards, next_cursor=page.next_cursor
    )


@routes.get("/api/v1/search")
@operation(
    "Search the messages, conversations and client cards I may see",
    "search",
    {200: ("OK", SearchResults)},
    query=SearchQuery,
    errors=(422,),
)
async def search(request: web.Request) -> web.Response:
    """Up to `limit` messages (with a highlighted snippet), conversations and cards of each kind asked
    for, newest first; `next_cursor` continues the kinds that have more."""
    async with db(request) as session:
        principal = await require_agent(request, session)
    async with db_read(request) as session:
        query = read_query(request, SearchQuery)
        page = await searching.search(  # SearchError: a 422 naming its field (hub/web/errors.py)
            session,
            principal.viewer,
            query.q,
            query.kind.split(",") if query.kind else None,
            query.limit,
            query.cursor,
            region=hub_of(request).settings.default_region,
        )
        return respond(results(page))
