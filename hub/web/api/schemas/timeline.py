"""A client's timeline as the API answers it: messages and calls across channels, in one list."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from hub.web.api.schemas.base import ApiModel, Id, NullableId, Time
from hub.web.api.schemas.conversations import Message


class ConversationRef(ApiModel):
    id: Id
    channel: str = Field(validation_alias="channel_kind")
    subject: str | None
    status: Literal["open", "pending", "snoozed", "resolved"]


class CallSummary(ApiModel):
    id: Id
    direction: Literal["inbound", "outbound", "internal"]
    from_: str | None = Field(validation_alias="from_number", serialization_alias="from")
    to: str | None = Field(validation_alias="to_number")
    did: str | None
    agent_id: NullableId
    disposition: Literal["answered", "missed", "busy", "failed", "voicemail"] | None
    started_at: Time | None
    answered_at: Time | None
    ended_at: Time | None
    wait_seconds: int | None
    talk_seconds: int | None
    recording_url: str | None


def _absent(value: object) -> bool:
    return value is None


class TimelineEntry(ApiModel):
    """A message or a call; the key of the other kind is left out, not null."""

    # message and call are optional in the document: only the entry's own kind is present.
    model_config = ConfigDict(json_schema_serialization_defaults_required=False)

    type: Literal["message", "call"] = Field(validation_alias="kind")
    at: Time
    conversation: ConversationRef | None = Field(description="null for a call of no dialog")
    message: Message | SkipJsonSchema[None] = Field(
        None, exclude_if=_absent, description="for type message (with notes: direction note)"
    )
    call: CallSummary | SkipJsonSchema[None] = Field(None, exclude_if=_absent, description="for type call")


class Timeline(ApiModel):
    contact_id: Id
    items: list[TimelineEntry]
