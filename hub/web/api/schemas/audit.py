"""The audit log as the API answers it."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from hub.web.api.schemas.base import ApiModel, EmptyDictIfNone, Id, NullableId, Time


class AuditEntry(ApiModel):
    id: Id
    created_at: Time
    action: str
    entity: str
    entity_id: NullableId
    actor_agent_id: NullableId
    detail: Annotated[dict[str, Any], EmptyDictIfNone] = Field(
        description="what happened; a log-in: email, ip, user_agent, result, via"
    )


class AuditList(ApiModel):
    items: list[AuditEntry]
    limit: int
    offset: int
