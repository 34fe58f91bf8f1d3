"""A conversation and a message as the API answers them (the shapes the cards and views nest)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from hub.web.api.schemas.base import ApiModel, Id, NullableId, Time
from inbox.edits import versions_in

Status = Literal["open", "pending", "snoozed", "resolved"]


class Conversation(ApiModel):
    id: Id
    contact_id: Id
    account_id: Id
    channel: str = Field(validation_alias="channel_kind")
    subject: str | None
    status: Status
    assignee_id: NullableId
    team_id: NullableId
    priority: int
    created_at: Time
    updated_at: Time
    last_message_at: Time | None
    waiting_since: Time | None
    first_response_at: Time | None
    first_response_due: Time | None
    resolved_at: Time | None
    snoozed_until: Time | None
    blocked_reason: str | None


class Attachment(ApiModel):
    id: Id
    filename: str
    content_type: str
    size: int
    sha256: str | None
    refused: str | None = Field(description="why the file was not stored")


class PreviousVersion(ApiModel):
    text: str = Field(description="the text before an edit replaced it")
    written_at: str | None = Field(description="when that text was written (RFC 3339)")
    replaced_at: str | None = Field(description="when the edit replaced it (RFC 3339)")


class Message(ApiModel):
    """A message, reply or internal note with its attachments."""

    # The caller loads the attachments.

    id: Id
    conversation_id: Id
    direction: Literal["in", "out", "note"]
    kind: str
    contact_id: NullableId
    agent_id: NullableId
    subject: str | None
    text: str = Field(validation_alias="body_text")
    html: str | None = Field(validation_alias="body_html", description="sanitized HTML")
    sent_at: Time | None
    created_at: Time
    delivery_status: Literal["queued", "sent", "delivered", "failed"] | None
    delivery_error: str | None
    edited_at: Time | None = Field(description="when the client last edited it")
    previous_versions: list[PreviousVersion] = Field(
        validation_alias="meta", description="the texts an edited message had before, oldest first"
    )
    attachments: list[Attachment]

    @field_validator("previous_versions", mode="before")
    @classmethod
    def _versions(cls, meta: object) -> object:
        return meta if isinstance(meta, list) else versions_in(meta)
