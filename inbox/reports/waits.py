"""The reports' facts, written in the transaction of the fact itself: a wait begins, a wait ends.

A conversation's inbound message opens a *reply* wait when none is open (the client starts waiting), and
a new cycle (a first inbound message, or one after a resolve) opens a *first_response* and a *resolution*
wait as well. A human reply ends the open first_response and reply waits; a resolve ends the resolution
wait and drops what is still waiting for a reply. Reports then aggregate rows, never re-reading messages.
A wait's business-hours seconds are counted on the calendar of the team it belongs to (the team of its
start), the hub's unless that team keeps its own hours.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.business_hours import BusinessHours, Calendars
from inbox.models import Conversation, ReportWait
from inbox.names import team_names
from inbox.pg_bulk import insert_rows

FIRST_RESPONSE = "first_response"
REPLY = "reply"
RESOLUTION = "resolution"
KINDS = (FIRST_RESPONSE, REPLY, RESOLUTION)
WAITS = cast(Table, ReportWait.__table__)


class Waited(Protocol):
    """What a new wait is filed under: a `Conversation`, or the ingest path's plain record of one."""

    @property
    def id(self) -> int | None: ...
    @property
    def contact_id(self) -> int | None: ...
    @property
    def account_id(self) -> int: ...
    @property
    def channel_kind(self) -> str: ...
    @property
    def team_id(self) -> int | None: ...


def wait_row(conv: Waited, kind: str, started_at: datetime) -> dict[str, Any]:
    """A new open wait of `conv` as an INSERT row (the ingest path inserts many at once)."""
    return {
        "kind": kind,
        "conversation_id": conv.id,
        "contact_id": conv.contact_id,
        "account_id": conv.account_id,
        "channel_kind": conv.channel_kind,
        "team_id": conv.team_id,
        "started_at": started_at,
    }


def opened_by_inbound(
    conv: Waited, at: datetime, *, new_cycle: bool, starts_wait: bool
) -> list[dict[str, Any]]:
    """The waits an inbound message opens: a cycle's two when it starts one, a reply wait when the
    client was not already waiting."""
    rows = []
    if new_cycle:
        rows += [wait_row(conv, FIRST_RESPONSE, at), wait_row(conv, RESOLUTION, at)]
    if starts_wait or new_cycle:
        rows.append(wait_row(conv, REPLY, at))
    return rows


_INSERT_WAITS = insert(WAITS)


async def insert_waits(session: AsyncSession, rows: Iterable[dict[str, Any]]) -> None:
    """Insert new open waits with one Core statement (no ORM objects: nothing reads them back; on
    PostgreSQL the rows go in as arrays, see inbox.pg_bulk)."""
    await insert_rows(session, WAITS, list(rows), fallback=_INSERT_WAITS)


async def _open_waits(session: AsyncSession, conversation_id: int) -> list[ReportWait]:
    return list(
        await session.scalars(
            select(ReportWait).where(
                ReportWait.conversation_id == conversation_id, ReportWait.outcome.is_(None)
            )
        )
    )


def _end(wait: ReportWait, outcome: str, agent_id: int | None, at: datetime, hours: BusinessHours) -> None:
    wait.outcome = outcome
    wait.agent_id = agent_id
    wait.ended_at = at
    if outcome != "dropped":
        wait.value_seconds = max(0.0, (at - wait.started_at).total_seconds())
        wait.business_seconds = hours.seconds_between(wait.started_at, at)


async def team_calendar(
    session: AsyncSession, calendars: Calendars | BusinessHours, team_id: int | None
) -> BusinessHours:
    """The business hours of the team `team_id` (the hub's unless it keeps its own)."""
    if isinstance(calendars, BusinessHours):
        return calendars
    if not calendars.teams or team_id is None:
        return calendars.default
    return calendars.of((await team_names(session, [team_id])).get(team_id))


async def _calendars_of(
    session: AsyncSession, waits: list[ReportWait], calendars: Calendars | BusinessHours
) -> dict[int | None, BusinessHours]:
    """Each wait's team → its calendar (one small query, and only when a team keeps its own hours)."""
    if isinstance(calendars, BusinessHours):
        return {w.team_id: calendars for w in waits}
    names = await team_names(session, (w.team_id for w in waits)) if calendars.teams else {}
    return {w.team_id: calendars.of(names.get(w.team_id) if w.team_id else None) for w in waits}


async def end_on_human_reply(
    session: AsyncSession,
    conv: Conversation,
    agent_id: int,
    at: datetime,
    hours: Calendars | BusinessHours,
) -> None:
    """An agent answered: the client's wait (and the cycle's first response, if still open) ends now."""
    waits = [w for w in await _open_waits(session, conv.id) if w.kind in (FIRST_RESPONSE, REPLY)]
    calendar = await _calendars_of(session, waits, hours)
    for wait in waits:
        _end(wait, "replied", agent_id, at, calendar[wait.team_id])


async def end_on_resolve(
    session: AsyncSession,
    conv: Conversation,
    agent_id: int | None,
    at: datetime,
    hours: Calendars | BusinessHours,
) -> None:
    """The cycle ends: its resolution is measured; waits nobody answered are dropped, not measured."""
    waits = await _open_waits(session, conv.id)
    calendar = await _calendars_of(session, waits, hours)
    for wait in waits:
        if wait.kind == RESOLUTION:
            _end(wait, "resolved", agent_id, at, calendar[wait.team_id])
        else:
            _end(wait, "dropped", None, at, calendar[wait.team_id])
