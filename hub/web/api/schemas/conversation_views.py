"""A conversation with its card: as a list item, and in full with its messages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Self

from pydantic import Field

from hub.web.api.schemas.base import ApiModel, Id, Time, reader
from hub.web.api.schemas.capabilities import Capabilities
from hub.web.api.schemas.contacts import Contact, ContactSummary
from hub.web.api.schemas.conversations import Conversation, Message

if TYPE_CHECKING:
    from inbox import models
    from inbox.capabilities import Capabilities as Declared
    from inbox.reports.due import SlaDue


class ConversationListItem(Conversation):
    contact: ContactSummary
    sla_due_at: Time | None = Field(
        description="when the waiting client is due an answer (the earliest open first-response or reply "
        "wait, by its team's SLA and calendar); null when nobody waits or there is no target"
    )
    sla_breached: bool = Field(description="the due time has passed and the client still waits")
    unread: int = Field(
        0,
        ge=0,
        description="the client's messages the caller has not read: after their read marker (set when they "
        "open the conversation, or POST …/read)",
    )

    @classmethod
    def of(
        cls,
        conversation: models.Conversation,
        contact: models.Contact,
        due: SlaDue | None = None,
        unread: int = 0,
    ) -> ConversationListItem:
        """The card is read apart: the row's own relation is never lazy-loaded (that raises under asyncio).
        The row and the card are validated once each and put together as they are (validating the whole
        item again was a quarter of a list request's time)."""
        return cls.model_construct(
            **dict(Conversation.model_validate(conversation)),
            contact=ContactSummary.model_validate(contact),
            sla_due_at=due.due_at if due else None,
            sla_breached=bool(due and due.breached),
            unread=unread,
        )

    @staticmethod
    def plain(
        conversation: object, contact: object, due: SlaDue | None = None, unread: int = 0
    ) -> dict[str, Any]:
        """The JSON of :meth:`of` (model_dump in mode="json", by alias), read straight from the rows: ORM
        objects or plain rows with the columns' names (:func:`inbox.conversations.list_conversation_rows`,
        :func:`inbox.contacts.contact_summaries`)."""
        return {
            **_conversation(conversation),
            "contact": _summary(contact),
            "sla_due_at": due.due_at.isoformat() if due else None,
            "sla_breached": bool(due and due.breached),
            "unread": unread,
        }


_conversation = reader(Conversation)
_summary = reader(ContactSummary)


class ReadMarker(ApiModel):
    """The caller's read marker on a conversation: every message up to it is read."""

    conversation_id: Id
    last_read_message_id: int = Field(ge=0, description="the latest message read (0: it has none)")
    unread: int = Field(
        ge=0, description="the client's messages still unread after it (0 right after marking)"
    )


class ConversationList(ApiModel):
    items: list[ConversationListItem]
    limit: int
    offset: int
    next_cursor: str | None = Field(
        None, description="pass as cursor for the next page; null on the last page"
    )


class ConversationDetail(Conversation):
    """A conversation with its card, every message, oldest first, and what a reply through its channel can
    carry."""

    contact: Contact
    messages: list[Message]
    capabilities: Capabilities

    @classmethod
    def of(
        cls,
        conversation: models.Conversation,
        contact: models.Contact,
        messages: Iterable[models.Message],
        can_carry: Declared,
    ) -> Self:
        fields = dict(Conversation.model_validate(conversation))
        return cls.model_validate(
            {
                **fields,
                "contact": Contact.model_validate(contact),
                "messages": [Message.model_validate(m) for m in messages],
                "capabilities": Capabilities.of(can_carry),
            }
        )
