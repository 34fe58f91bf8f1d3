"""When a waiting client is due an answer: the SLA due time of a conversation's open wait, and whether it has
passed (a breach), for the inbox list.

Computed when a list is rendered, from the open first-response and reply waits of the conversations shown
(one indexed query for the page, never a scan): due = the wait's start + its team's threshold, on the wall
clock or, when that team's SLA counts working time (`[sla] business_hours = true`), on that team's calendar.
A conversation with both waits open (a new cycle) is due at the earlier of the two.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.business_hours import Calendars
from inbox.lists import Statements, ids_in
from inbox.models import ReportWait
from inbox.names import team_names
from inbox.reports.figures import SlaBook
from inbox.reports.waits import FIRST_RESPONSE, REPLY


@dataclass(frozen=True, slots=True)
class SlaDue:
    """The earliest due time of a conversation's open waits: which wait, when it began, when it is due."""

    kind: str
    started_at: datetime
    due_at: datetime
    breached: bool


# The open waits of the listed conversations (ids bound as `ids` at execution, one parameter on SQLite:
# inbox.lists): built once per dialect, not per page.
_OPEN_WAITS = Statements(
    lambda dialect: select(
        ReportWait.conversation_id, ReportWait.kind, ReportWait.team_id, ReportWait.started_at
    ).where(
        ids_in(ReportWait.conversation_id.expression, "ids", dialect),
        ReportWait.outcome.is_(None),
        ReportWait.kind.in_((FIRST_RESPONSE, REPLY)),
    )
)


async def open_dues(
    session: AsyncSession,
    conversation_ids: Iterable[int],
    *,
    sla: SlaBook,
    calendars: Calendars,
    now: datetime,
) -> dict[int, SlaDue]:
    """The due time of each of these conversations that has an open wait with a target, by id."""
    ids = sorted(set(conversation_ids))
    if not ids:
        return {}
    rows = list(await session.execute(_OPEN_WAITS(session), {"ids": ids}))
    names = await team_names(session, (r.team_id for r in rows)) if sla.teams or calendars.teams else {}
    found: dict[int, SlaDue] = {}
    for conversation_id, kind, team_id, started_at in rows:
        team = names.get(team_id) if team_id is not None else None
        targets = sla.of(team)
        threshold = targets.for_kind(kind)
        if threshold is None:
            continue
        if targets.business_hours:
            due = calendars.of(team).moment_after(started_at, threshold)
            if due is None:  # a calendar without working time: never due
                continue
        else:
            due = started_at + timedelta(seconds=threshold)
        known = found.get(conversation_id)
        if known is None or due < known.due_at:
            found[conversation_id] = SlaDue(kind, started_at, due, now > due)
    return found
