"""The drill-down of a report: the facts behind one bar or row, each linked to its conversation.

* wait reports (first_response, reply_time, resolution): the waits — which conversations, whose client, on
  which channel, answered by whom, when each began, how long it lasted, and whether it met the SLA. A wait is
  held to the SLA of its team (the team of its start), on that team's clock and calendar.
* volume: the new conversations (the "conversation_opened" facts the report counts as new_conversations).
* leads: the lead cards created (the report's new_leads), each with its first conversation and whether it
  became a client.
* calls: the calls (the report's count): answered or missed, waiting and talking time, and for a missed call
  the time until the client was called back.

The facts are chosen exactly as the report chose them (the same period, filters and scope, see
:mod:`inbox.reports.build`), narrowed to one group: an agent's e-mail, a team's name, a channel kind, a local
day (YYYY-MM-DD), hour (0–23) or weekday (mon–sun), or (leads) an ad source; a null group is the rows the
report printed as "none". A grouping the report has no dimension for (leads or calls by team, calls by
channel other than "sip") puts every fact in the null group, as the report does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import false, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.business_hours import Calendars
from inbox.models import Agent, Call, ChannelAccount, Contact, Conversation, ReportingEvent, ReportWait, Team
from inbox.reports.build import MISSED, WAIT_REPORTS, WEEKDAYS, ReportError, ReportRequest
from inbox.reports.figures import SlaBook
from inbox.reports.sql import local_bucket

MAX_PAGE = 200


DRILLED = (*WAIT_REPORTS, "volume", "leads", "calls")
CALLBACK_SLACK = 1.0  # seconds: a callback fact's start, recomputed from its value, matches its missed call


@dataclass(frozen=True, slots=True)
class DrillRow:
    wait_id: int | None  # wait reports
    conversation_id: int | None  # a lead's first conversation; a call's; None when there is none
    contact_id: int | None
    client: str | None
    channel: str | None
    agent: str | None  # who ended the wait; the conversation's, card's owner or call's agent (e-mail)
    team: str | None
    started_at: (
        datetime  # the wait's start, the conversation's opening, the card's creation, the call's start
    )
    ended_at: datetime | None
    seconds: float | None  # wall-clock or working seconds, as the report; None while still open
    sla: str | None  # "met", "missed", "pending" (open, not yet due); None: no target for its team
    call_id: int | None = None  # calls
    direction: str | None = None  # calls: inbound | outbound
    disposition: str | None = None  # calls: "answered", "missed" (as the report counts it) or the PBX's word
    waiting_seconds: float | None = None  # calls: ringing before an answer or a hang-up
    talking_seconds: float | None = None  # calls
    callback_seconds: float | None = None  # a missed call: until the answered call back
    became_client: bool | None = None  # leads
    source: str | None = None  # leads: the ad source (or the channel when none)


@dataclass(frozen=True, slots=True)
class DrillPage:
    total: int
    rows: list[DrillRow]


async def _group_filter(
    session: AsyncSession,
    req: ReportRequest,
    group: str | None,
    *,
    at: Any,
    team: Any = None,
    agent: Any = None,
    channel: Any = None,
) -> list[Any]:
    """The conditions that keep one group of the report `req`, whose facts carry these columns (None: the
    report has no such dimension, every fact is in the null group)."""
    by = req.by
    if by is None:
        if group is not None:
            raise ReportError("a group needs a grouping (by)", "group")
        return []
    if by in ("agent", "team", "channel") and {"agent": agent, "team": team, "channel": channel}[by] is None:
        return [] if group is None else [false()]
    if by == "agent":
        if group is None:
            return [agent.is_(None)]
        agent_id = await session.scalar(select(Agent.id).where(Agent.email == group))
        if agent_id is None:
            raise ReportError(f"no agent with the e-mail {group!r}", "group")
        return [agent == agent_id]
    if by == "team":
        if group is None:
            return [team.is_(None)]
        team_id = await session.scalar(select(Team.id).where(Team.name == group))
        if team_id is None:
            raise ReportError(f"no team named {group!r}", "group")
        return [team == team_id]
    if by == "channel":
        return [channel.is_(None) if group is None else channel == group]
    if by == "source":
        raise ReportError("only the leads report groups by source", "by")
    if group is None:
        raise ReportError(f"a {by} is never empty: name one", "group")
    if by == "day":
        try:
            day = date.fromisoformat(group)
        except ValueError:
            raise ReportError("a day is YYYY-MM-DD", "group") from None
        first = datetime.combine(day, time(0), req.zone).astimezone(UTC)
        after = datetime.combine(day + timedelta(days=1), time(0), req.zone).astimezone(UTC)
        return [at >= first, at < after]
    if by == "hour":
        if not group.isdigit() or not 0 <= int(group) <= 23:
            raise ReportError("an hour is 0–23", "group")
        return [local_bucket(session, at, "hour", req.zone, *req.window()) == int(group)]
    if by == "weekday":
        if group not in WEEKDAYS:
            raise ReportError(f"a weekday is one of {', '.join(WEEKDAYS)}", "group")
        bucket = local_bucket(session, at, "weekday", req.zone, *req.window())
        return [bucket == WEEKDAYS.index(group)]
    raise ReportError(f"the {req.name} report cannot be grouped by {by}", "by")


async def drill_down(
    session: AsyncSession,
    req: ReportRequest,
    group: str | None,
    *,
    sla: SlaBook,
    calendars: Calendars,
    now: datetime,
    limit: int = 50,
    offset: int = 0,
) -> DrillPage:
    """One page of the facts behind `group` of the report `req` (oldest first), and how many there are."""
    limit, offset = max(1, min(limit, MAX_PAGE)), max(0, offset)
    if req.name == "volume":
        return await _volume(session, req, group, limit, offset)
    if req.name == "leads":
        return await _leads(session, req, group, limit, offset)
    if req.name == "calls":
        return await _calls(session, req, group, limit, offset)
    if req.name not in WAIT_REPORTS:
        raise ReportError(f"the conversations behind a report are listed for {', '.join(DRILLED)}", "name")
    kind = WAIT_REPORTS[req.name]
    start, end = req.window()
    w = ReportWait
    where: list[Any] = [
        w.kind == kind,
        w.started_at >= start,
        w.started_at < end,
        or_(w.outcome.is_(None), w.outcome != "dropped"),
        *await _group_filter(
            session, req, group, at=w.started_at, team=w.team_id, agent=w.agent_id, channel=w.channel_kind
        ),
    ]
    if req.team_ids is not None:
        where.append(w.team_id.in_(req.team_ids))
    if req.channel is not None:
        where.append(w.channel_kind == req.channel)
    if req.agent_id is not None:
        where.append(w.agent_id == req.agent_id)
    total = int(await session.scalar(select(func.count()).select_from(w).where(*where)) or 0)
    query = (
        select(w, Contact.name, Agent.email, Team.name)
        .outerjoin(Contact, Contact.id == w.contact_id)
        .outerjoin(Agent, Agent.id == w.agent_id)
        .outerjoin(Team, Team.id == w.team_id)
        .where(*where)
        .order_by(w.started_at, w.id)
        .limit(limit)
        .offset(offset)
    )
    rows = []
    for wait, client, agent, team in await session.execute(query):
        measured = wait.business_seconds if req.business_hours else wait.value_seconds
        rows.append(
            DrillRow(
                wait_id=wait.id,
                conversation_id=wait.conversation_id,
                contact_id=wait.contact_id,
                client=client,
                channel=wait.channel_kind,
                agent=agent,
                team=team,
                started_at=wait.started_at,
                ended_at=wait.ended_at,
                seconds=None if wait.outcome is None else measured,
                sla=_sla_of(wait, team, kind, sla, calendars, now),
            )
        )
    return DrillPage(total, rows)


def _sla_of(
    wait: ReportWait, team: str | None, kind: str, sla: SlaBook, calendars: Calendars, now: datetime
) -> str | None:
    """Met, missed or pending by the rule the report counts with (its team's threshold and clock)."""
    targets = sla.of(team)
    threshold = targets.for_kind(kind)
    if threshold is None:
        return None
    if wait.outcome is not None:
        clock = wait.business_seconds if targets.business_hours else wait.value_seconds
        return "met" if (clock or 0.0) <= threshold else "missed"
    if targets.business_hours:
        elapsed = calendars.of(team).seconds_between(wait.started_at, now)
    else:
        elapsed = (now - wait.started_at).total_seconds()
    return "missed" if elapsed > threshold else "pending"


async def _volume(
    session: AsyncSession, req: ReportRequest, group: str | None, limit: int, offset: int
) -> DrillPage:
    """The new conversations of the group: the "conversation_opened" facts, as the report counts them."""
    start, end = req.window()
    e = ReportingEvent
    where: list[Any] = [
        e.name == "conversation_opened",
        e.occurred_at >= start,
        e.occurred_at < end,
        *await _group_filter(
            session, req, group, at=e.occurred_at, team=e.team_id, agent=e.agent_id, channel=e.channel_kind
        ),
    ]
    if req.team_ids is not None:
        where.append(e.team_id.in_(req.team_ids))
    if req.channel is not None:
        where.append(e.channel_kind == req.channel)
    total = int(await session.scalar(select(func.count()).select_from(e).where(*where)) or 0)
    query = (
        select(e, Contact.name, Agent.email, Team.name)
        .outerjoin(Contact, Contact.id == e.contact_id)
        .outerjoin(Agent, Agent.id == e.agent_id)
        .outerjoin(Team, Team.id == e.team_id)
        .where(*where)
        .order_by(e.occurred_at, e.id)
        .limit(limit)
        .offset(offset)
    )
    rows = [
        DrillRow(
            wait_id=None,
            conversation_id=event.conversation_id,
            contact_id=event.contact_id,
            client=client,
            channel=event.channel_kind,
            agent=agent,
            team=team,
            started_at=event.occurred_at,
            ended_at=None,
            seconds=None,
            sla=None,
        )
        for event, client, agent, team in await session.execute(query)
    ]
    return DrillPage(total, rows)


async def _leads(
    session: AsyncSession, req: ReportRequest, group: str | None, limit: int, offset: int
) -> DrillPage:
    """The lead cards created in the group, each with its first conversation, and whether each became a
    client."""
    start, end = req.window()
    c = Contact
    source = func.coalesce(c.source_detail, c.source_channel)
    where: list[Any] = [c.created_at >= start, c.created_at < end, c.merged_into_id.is_(None)]
    if req.channel is not None:
        where.append(c.source_channel == req.channel)
    if req.agent_id is not None:
        where.append(c.owner_id == req.agent_id)
    if req.team_ids is not None:
        where.append(c.id.in_(select(Conversation.contact_id).where(Conversation.team_id.in_(req.team_ids))))
    if req.by == "source":
        where.append(source.is_(None) if group is None else source == group)
    else:
        where += await _group_filter(
            session, req, group, at=c.created_at, agent=c.owner_id, channel=c.source_channel
        )
    total = int(await session.scalar(select(func.count()).select_from(c).where(*where)) or 0)
    first = select(func.min(Conversation.id)).where(Conversation.contact_id == c.id)
    if req.team_ids is not None:
        first = first.where(Conversation.team_id.in_(req.team_ids))
    query = (
        select(c, Agent.email, first.scalar_subquery(), source)
        .outerjoin(Agent, Agent.id == c.owner_id)
        .where(*where)
        .order_by(c.created_at, c.id)
        .limit(limit)
        .offset(offset)
    )
    found = list(await session.execute(query))
    firsts = {row[2] for row in found if row[2] is not None}
    named = select(Conversation.id, Team.name).join(Team, Team.id == Conversation.team_id)
    teams = {i: name for i, name in await session.execute(named.where(Conversation.id.in_(firsts)))}
    rows = [
        DrillRow(
            wait_id=None,
            conversation_id=conversation_id,
            contact_id=card.id,
            client=card.name,
            channel=card.source_channel,
            agent=owner,
            team=teams.get(conversation_id) if conversation_id is not None else None,
            started_at=card.created_at,
            ended_at=None,
            seconds=None,
            sla=None,
            became_client=card.kind == "client",
            source=came_from,
        )
        for card, owner, conversation_id, came_from in found
    ]
    return DrillPage(total, rows)


async def _calls(
    session: AsyncSession, req: ReportRequest, group: str | None, limit: int, offset: int
) -> DrillPage:
    """The calls of the group: answered or missed (as the report counts them), waiting and talking time, and
    for a missed call the time until it was called back (the "callback" fact that ends at its miss)."""
    start, end = req.window()
    accounts = select(ChannelAccount.id)
    if req.team_ids is not None:
        accounts = accounts.where(ChannelAccount.team_id.in_(req.team_ids))
    where: list[Any] = [
        Call.started_at >= start,
        Call.started_at < end,
        Call.direction != "internal",
        Call.account_id.in_(accounts),
        *await _group_filter(
            session, req, group, at=Call.started_at, agent=Call.agent_id, channel=literal("sip")
        ),
    ]
    if req.agent_id is not None:
        where.append(Call.agent_id == req.agent_id)
    total = int(await session.scalar(select(func.count()).select_from(Call).where(*where)) or 0)
    query = (
        select(Call, Contact.name, Agent.email, Team.name, ChannelAccount.kind)
        .join(ChannelAccount, ChannelAccount.id == Call.account_id)
        .outerjoin(Contact, Contact.id == Call.contact_id)
        .outerjoin(Agent, Agent.id == Call.agent_id)
        .outerjoin(Team, Team.id == ChannelAccount.team_id)
        .where(*where)
        .order_by(Call.started_at, Call.id)
        .limit(limit)
        .offset(offset)
    )
    found = list(await session.execute(query))
    callbacks = await _callbacks(session, [row[0] for row in found])
    rows = []
    for call, client, agent, team, kind in found:
        missed = call.direction == "inbound" and (call.disposition is None or call.disposition in MISSED)
        rows.append(
            DrillRow(
                wait_id=None,
                conversation_id=call.conversation_id,
                contact_id=call.contact_id,
                client=client,
                channel=kind,
                agent=agent,
                team=team,
                started_at=call.started_at or start,
                ended_at=call.ended_at,
                seconds=None,
                sla=None,
                call_id=call.id,
                direction=call.direction,
                disposition="missed" if missed else call.disposition,
                waiting_seconds=None if call.wait_seconds is None else float(call.wait_seconds),
                talking_seconds=None if call.talk_seconds is None else float(call.talk_seconds),
                callback_seconds=callbacks.get(call.id) if missed else None,
            )
        )
    return DrillPage(total, rows)


async def _callbacks(session: AsyncSession, calls: list[Call]) -> dict[int, float]:
    """Call id → seconds until called back, for the calls of a page: a "callback" fact of the same card
    whose start (its time minus its value) is the call's miss (its end, else its start)."""
    contacts = {c.contact_id for c in calls if c.contact_id is not None}
    if not contacts:
        return {}
    e = ReportingEvent
    facts = list(
        await session.execute(
            select(e.contact_id, e.occurred_at, e.value_seconds).where(
                e.name == "callback", e.value_seconds.is_not(None), e.contact_id.in_(contacts)
            )
        )
    )
    out: dict[int, float] = {}
    for call in calls:
        missed_at = call.ended_at or call.started_at
        if missed_at is None:
            continue
        for contact_id, at, value in facts:
            if contact_id != call.contact_id:
                continue
            began = at - timedelta(seconds=value or 0.0)
            if abs((began - missed_at).total_seconds()) <= CALLBACK_SLACK:
                out[call.id] = float(value or 0.0)
                break
    return out
