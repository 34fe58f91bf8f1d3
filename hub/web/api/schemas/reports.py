"""A managers' report as the API answers it (docs/reports.md defines every figure)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, RootModel

from hub.web.api.schemas.base import ApiModel, NullableId, Time

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
    """One fact behind a report's bar or row, and its conversation: a wait (first_response, reply_time,
    resolution), a new conversation (volume), a lead card (leads) or a call (calls). Fields another kind
    of report has no use for are null."""

    wait_id: NullableId = Field(description="the wait (wait reports)")
    conversation_id: NullableId = Field(
        description="the conversation; a lead's first one, a call's; null when there is none"
    )
    url: str | None = Field(description="the conversation in the inbox")
    contact_id: NullableId
    client: str | None = Field(description="the client card's name")
    channel: str | None = Field(description="the channel kind (leads: the card's source channel)")
    agent: str | None = Field(
        description="e-mail: who ended the wait; the card's owner (leads); the call's agent (calls)"
    )
    team: str | None = Field(
        description="the team of the wait's start or of the conversation; a call's line's team"
    )
    started_at: Time = Field(
        description="the wait's start, the conversation's opening, the card's creation or the call's start"
    )
    ended_at: Time | None
    seconds: float | None = Field(
        description="how long the wait lasted, on the report's clock (working time with business_hours); "
        "null while the client still waits, and for other reports"
    )
    sla: Literal["met", "missed", "pending"] | None = Field(
        description="by its team's SLA: pending = still open, not yet due; null: no target"
    )
    call_id: NullableId = Field(description="the call (calls)")
    direction: Literal["inbound", "outbound"] | None = Field(description="the call's direction (calls)")
    disposition: str | None = Field(
        description="calls: answered, missed (as the report counts it) or the exchange's word"
    )
    waiting_seconds: float | None = Field(description="calls: how long it rang")
    talking_seconds: float | None = Field(description="calls: how long they talked")
    callback_seconds: float | None = Field(
        description="a missed call: until the client was called back (or called again and was answered)"
    )
    became_client: bool | None = Field(description="leads: whether the card became a client")
    source: str | None = Field(description="leads: the ad source, else the source channel")


class ReportConversations(ApiModel):
    report: str
    from_: str = Field(alias="from")
    to: str
    by: str | None
    group: str | None
    business_hours: bool
    total: int = Field(description="how many facts (waits, conversations, cards or calls) the group holds")
    limit: int
    offset: int
    items: list[ReportConversation]
