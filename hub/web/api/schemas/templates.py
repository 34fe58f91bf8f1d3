"""The knowledge base's reply templates as the API answers them: one template, a page of them (by title or
ranked by a search), a template inserted into a reply, a preview, and a conversation's suggestions."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from hub.web.api.schemas.base import ApiModel, EmptyIfNone, Id, Time
from inbox.models import Template as TemplateRow


class Template(ApiModel):
    id: Id
    key: str
    title: str
    body: str = Field(description="Jinja2: contact, agent, conversation, company")
    language: str
    tags: Annotated[list[str], EmptyIfNone]
    channels: Annotated[list[str], EmptyIfNone] = Field(description="channel kinds it suits; empty: all")
    personal: bool = Field(description="an agent's own template, seen by them only")
    usage_count: int
    last_used_at: Time | None
    created_at: Time
    updated_at: Time
    score: float | None = Field(
        None, description="relevance, in search results and suggestions; null when listed by title"
    )

    @classmethod
    def of(cls, row: TemplateRow, score: float | None = None) -> Template:
        # `personal` is not a column: a template with an owner is that agent's own.
        return cls(
            id=row.id,
            key=row.key,
            title=row.title,
            body=row.body,
            language=row.language,
            tags=row.tags,
            channels=row.channels,
            personal=row.owner_id is not None,
            usage_count=row.usage_count,
            last_used_at=row.last_used_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            score=score,
        )


class TemplateList(ApiModel):
    items: list[Template]
    limit: int
    offset: int


class TemplateInsert(ApiModel):
    text: str = Field(description="the template's body rendered for the conversation")
    template: Template


class TemplatePreviewResult(ApiModel):
    text: str


class Suggestions(ApiModel):
    language: str = Field(
        description="the conversation's language: the one the client writes in (their last messages, the "
        "newest weighing most; Russian in Latin letters is Russian), else the agent's"
    )
    items: list[Template]
