"""What a reply through a channel can carry, as the API answers it (beside a channel account and in a
conversation), read from :class:`inbox.capabilities.Capabilities`."""

from __future__ import annotations

from pydantic import Field, field_validator

from hub.web.api.schemas.base import ApiModel
from inbox import capabilities


class Capabilities(ApiModel):
    """What a reply through this channel can carry; a reply it cannot is refused (422)."""

    text: bool
    attachments: bool
    max_attachment_bytes: int | None = Field(description="per file; null: the hub's limit")
    attachment_kinds: list[str] = Field(description='MIME types or families ("image/*") taken; empty: any')
    edits: bool
    typing: bool
    buttons: bool

    @field_validator("max_attachment_bytes", mode="before")
    @classmethod
    def _unbounded(cls, value: object) -> object:
        return value or None  # 0 is "no bound of the channel's own"

    @field_validator("attachment_kinds", mode="before")
    @classmethod
    def _sorted(cls, value: object) -> object:
        return sorted(value) if isinstance(value, (set, frozenset)) else value

    @classmethod
    def of(cls, declared: capabilities.Capabilities) -> Capabilities:
        return cls.model_validate(declared)
