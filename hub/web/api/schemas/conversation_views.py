"""A conversation with its card: as a list item, and in full with its messages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Self

from hub.web.api.schemas.base import ApiModel
from hub.web.api.schemas.contacts import Contact, ContactSummary
from hub.web.api.schemas.conversations import Conversation, Message

if TYPE_CHECKING:
    from inbox import models


class ConversationListItem(Conversation):
    contact: ContactSummary

    @classmethod
    def of(cls, conversation: models.Conversation, contact: models.Contact) -> Self:
        """The card is read apart: the row's own relation is never lazy-loaded (that raises under asyncio)."""
        fields = dict(Conversation.model_validate(conversation))
        return cls.model_validate({**fields, "contact": ContactSummary.model_validate(contact)})


class ConversationList(ApiModel):
    items: list[ConversationListItem]
    limit: int
    offset: int


class ConversationDetail(Conversation):
    """A conversation with its card and every message, oldest first."""

    contact: Contact
    messages: list[Message]

    @classmethod
    def of(
        cls,
        conversation: models.Conversation,
        contact: models.Contact,
        messages: Iterable[models.Message],
    ) -> Self:
        fields = dict(Conversation.model_validate(conversation))
        return cls.model_validate(
            {
                **fields,
                "contact": Contact.model_validate(contact),
                "messages": [Message.model_validate(m) for m in messages],
            }
        )
