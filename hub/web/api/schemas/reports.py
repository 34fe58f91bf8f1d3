"""A managers' report as the API answers it (docs/reports.md defines every figure)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, RootModel

from hub.web.api.schemas.base import ApiModel, Id, NullableId, Time

Cell = str | int | float | None


class Report(ApiModel):
    report: str
    from_: str = Field(alias="from", description="the first day, YYYY-MM-DD, in `timezone`")
    to: str = Field(description="the last day (inclusive)")
    timezone: str
    business_hours: bool
    by: str | None = Field(description="the grouping; null: one row for the whole period")
    rows: list[dict[str, Cell]] = Field(
        description="one row per group: `group` (null when not grouped) and the report's figures"
    )


class ReportCsv(RootModel[str]):
    """The report's rows as CSV: UTF-8 with a byte-order mark, a header line, one line per group."""


class ReportConversation(ApiModel):
    """One wait behind a report's bar or row, and its conversation."""

    wait_id: Id
    conversation_id: Id
    url: str = Field(description="the conversation in the inbox")
    contact_id: NullableId
    client: str | None = Field(description="the client card's name")
    channel: str
    agent: str | None = Field(description="the e-mail of the agent who ended the wait")
    team: str | None = Field(description="the team of the wait's start")
    started_at: Time
    ended_at: Time | None
    seconds: float | None = Field(
        description="how long it lasted, on the report's clock (working time with business_hours); "
        "null while the client still waits"
    )
    sla: Literal["met", "missed", "pending"] | None = Field(
        description="by its team's SLA: pending = still open, not yet due; null: no target"
    )


class ReportConversations(ApiModel):
    report: str
    from_: str = Field(alias="from")
    to: str
    by: str | None
    group: str | None
    business_hours: bool
    total: int = Field(description="how many waits the group holds")
    limit: int
    offset: int
    items: list[ReportConversation]
