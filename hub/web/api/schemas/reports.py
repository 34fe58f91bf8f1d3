"""A managers' report as the API answers it (docs/reports.md defines every figure)."""

from __future__ import annotations

from pydantic import Field, RootModel

from hub.web.api.schemas.base import ApiModel

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
