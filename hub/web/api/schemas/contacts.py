"""Client cards as the API answers them: a card with its identities, lists, duplicate pairs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from hub.web.api.schemas.base import ApiModel, EmptyDictIfNone, EmptyIfNone, Id, NullableId, Time, reader
from hub.web.api.schemas.conversations import Conversation

if TYPE_CHECKING:
    from inbox import models
    from inbox.contacts import Card


class Identity(ApiModel):
    id: Id
    kind: str
    value: str
    trust: Literal["vouched", "typed"]
    created_at: Time


class ContactSummary(ApiModel):
    id: Id
    name: str | None
    company: str | None
    kind: Literal["lead", "client"]


class Contact(ContactSummary):
    """A client card with its identities."""

    # The caller loads the identities: nothing is lazy-loaded under asyncio.

    owner_id: NullableId
    source_channel: str | None
    source_detail: str | None
    tags: Annotated[list[str], EmptyIfNone]
    custom_fields: Annotated[dict[str, Any], EmptyDictIfNone]
    notes: str | None
    created_at: Time
    updated_at: Time
    identities: list[Identity]


class ContactDetail(Contact):
    """A card with the conversations the caller may see."""

    conversations: list[Conversation]

    @classmethod
    def of(cls, contact: models.Contact, conversations: Iterable[models.Conversation]) -> Self:
        fields = dict(Contact.model_validate(contact))
        return cls.model_validate(
            {**fields, "conversations": [Conversation.model_validate(c) for c in conversations]}
        )


class ContactList(ApiModel):
    items: list[Contact]
    limit: int
    offset: int

    @staticmethod
    def plain(cards: Iterable[Card], limit: int, offset: int) -> dict[str, Any]:
        """The JSON of the list (model_dump in mode="json", by alias), read straight from the search's
        plain rows (:class:`inbox.contacts.Card`): validating and dumping 50 cards and their identities
        through the models took as long as finding them. The tests compare both ways."""
        return {"items": [_card(card) for card in cards], "limit": limit, "offset": offset}


_identity = reader(Identity)


def _card(card: Card) -> dict[str, Any]:
    """:class:`Contact`'s JSON of a card, its fields in the model's order."""
    return {
        "id": card.id,
        "name": card.name,
        "company": card.company,
        "kind": card.kind,
        "owner_id": card.owner_id,
        "source_channel": card.source_channel,
        "source_detail": card.source_detail,
        "tags": [] if card.tags is None else card.tags,
        "custom_fields": {} if card.custom_fields is None else card.custom_fields,
        "notes": card.notes,
        "created_at": card.created_at.isoformat(),
        "updated_at": card.updated_at.isoformat(),
        "identities": [_identity(identity) for identity in card.identities],
    }


class DuplicatePair(ApiModel):
    id: Id
    reason: str
    a: Contact
    b: Contact


class DuplicateList(ApiModel):
    items: list[DuplicatePair]
