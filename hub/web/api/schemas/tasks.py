"""Tasks (to-dos, callbacks and leads' follow-ups) as the API answers them."""

from __future__ import annotations

from typing import Literal

from hub.web.api.schemas.base import ApiModel, Id, NullableId, Time


class Task(ApiModel):
    id: Id
    kind: Literal["todo", "callback", "follow_up"]  # follow_up: made for a lead's new owner (inbox.tasks)
    title: str
    status: Literal["open", "done", "cancelled"]
    contact_id: NullableId
    conversation_id: NullableId
    call_id: NullableId
    assignee_id: NullableId
    team_id: NullableId
    due_at: Time | None
    created_at: Time
    closed_at: Time | None
    result: str | None


class TaskList(ApiModel):
    items: list[Task]
    limit: int
    offset: int
