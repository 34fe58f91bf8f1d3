"""The quarantine as the API gives it: what the channels could not take, and what a retry made of it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from hub.web.api.schemas.base import ApiModel, Id, Time


class QuarantinedItem(ApiModel):
    """One item a channel received and could not take; its bytes are at ``/api/v1/quarantine/{id}/raw``."""

    id: Id
    account_id: Id
    reason: str = Field(description="why it was refused (the latest reason after a retry)")
    position: str | None = Field(description="where the channel read it (file and offset, UID …), if known")
    size: int = Field(description="its size in bytes")
    sha256: str
    received_at: Time
    attempts: int = Field(description="retries after the first refusal")
    retried_at: Time | None

    @field_validator("position", mode="before")
    @classmethod
    def _none_if_empty(cls, value: Any) -> Any:
        return value or None  # stored as "" when the channel has none (see inbox.models.QuarantineItem)


class QuarantineList(ApiModel):
    items: list[QuarantinedItem]


class RetryOutcome(ApiModel):
    """What a retry made of one item."""

    id: Id
    account_id: Id
    status: Literal["ingested", "refused"] = Field(
        description="ingested: today's parser took it and it left the quarantine; refused: it stays"
    )
    reason: str | None = Field(description="why it stays (refused)")
    results: list[dict[str, Any]] = Field(description="what became of each item it held (ingested)")


class RetryOutcomeList(ApiModel):
    items: list[RetryOutcome]
