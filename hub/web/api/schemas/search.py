"""Search results as the API answers them: messages with a highlighted snippet, conversations, cards."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hub.web.api.schemas.base import ApiModel, Id, NullableId, Time


class MessageHit(ApiModel):
    id: Id
    conversation_id: Id
    contact_id: NullableId
    contact_name: str | None
    direction: Literal["in", "out", "note"]
    subject: str | None
    created_at: Time
    snippet: str = Field(
        description="HTML: an excerpt around the first match, matches in <mark>, all else escaped"
    )


class ConversationHit(ApiModel):
    id: Id
    contact_id: Id
    contact_name: str | None
    subject: str | None
    status: Literal["open", "pending", "snoozed", "resolved"]
    channel: str = Field(validation_alias="channel_kind")
    last_message_at: Time | None


class IdentityValue(ApiModel):
    kind: str
    value: str


class CardHit(ApiModel):
    id: Id
    name: str | None
    company: str | None
    kind: Literal["lead", "client"] = Field(validation_alias="card_kind")
    identities: list[IdentityValue]
    conversation_id: NullableId = Field(description="the card's newest conversation I may see")


class SearchResults(ApiModel):
    """Up to `limit` hits of each kind asked for, newest first."""

    messages: list[MessageHit]
    conversations: list[ConversationHit]
    cards: list[CardHit]
    next_cursor: str | None = Field(description="give it as `cursor` for the next page; null: nothing more")
