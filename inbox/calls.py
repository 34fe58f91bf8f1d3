"""Phone calls on the client card: the events of one call merged into one Call, missed-call callbacks,
and the screen pop an agent sees while the phone rings.

    CallEvent ──▶ the Call of (account, call id)      (created on the first event; a repeated event,
                                                        known by its event id, changes nothing)
              ──▶ numbers in E.164, the card          (an unknown inbound number gets a new lead card)
              ──▶ the agent of the extension, the ad source of the dialled number (DID)
              ──▶ answered: "call_answered", open callbacks of that card closed ("callback" event)
              ──▶ ended unanswered: "call_missed", a callback Task for the card's owner (or the team)
              ──▶ ringing: a "call.ringing" screen pop for the agent of the ringing extension

Events may come from a live feed (ring, answer, hangup) or as whole records after the fact (a CDR line:
stage "record"); both merge the same way. Times only widen the call (earliest start and answer, latest
end), and a disposition only moves up the scale failed < busy < missed < voicemail < answered, so the
order in which the events of one call arrive matters little. An event's ``at`` is the moment of its
stage: the start for "ring" and "record" (when ``started_at`` is not given), the answer for "answer",
the end for "hangup". The ids of the events applied are kept in
``Call.meta["events"]``, which is what makes a repeated event a no-op without a schema change.

:func:`ingest_call` works in the caller's session and does not commit; :func:`submit_call` is the
hub's entry point: one session per event, commit, then publish. Call events are applied one at a time
per event loop, in the order they were handed in, because the events of one call depend on each other
(an answer after a hangup is not the same call history as one before it).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.bus import Event, NullPublisher, Publisher
from inbox.identities import InvalidIdentity, normalize
from inbox.ingest import IngestError
from inbox.items import CallEvent, IdentityRef
from inbox.matching import Matcher
from inbox.models import (
    Agent,
    Call,
    ChannelAccount,
    Contact,
    Conversation,
    ReportingEvent,
    Task,
    utcnow,
)
from inbox.policy import InboxPolicy
from inbox.tasks import task_event

log = logging.getLogger(__name__)

CALLBACK = "callback"
DISPOSITIONS = ("answered", "missed", "busy", "failed", "voicemail")
# How good an outcome is: merged dispositions only move up (a call answered on any leg was answered).
_RANK = {"failed": 1, "busy": 2, "missed": 3, "voicemail": 4, "answered": 5}
RECENT = 5  # conversations and calls shown in a screen pop
MAX_NUMBER = 40  # Call.from_number / to_number / did
MAX_EXTENSION = 32


@dataclass(frozen=True, slots=True)
class CallSettings:
    """Per-account call settings: the ad source of each dialled number, and how soon to call back."""

    did_sources: Mapping[str, str] = field(default_factory=dict)  # E.164 DID → ad source
    callback_due: timedelta = timedelta(minutes=30)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], region: str = "RU") -> CallSettings:
        """From an account's options: ``did_sources`` (number → source) and ``callback_due_minutes``."""
        raw = options.get("did_sources") or {}
        if not isinstance(raw, Mapping):
            raise ValueError("did_sources must be a table of number = source")
        sources: dict[str, str] = {}
        for number, source in raw.items():
            sources[_normalized(str(number), region) or str(number).strip()] = str(source)
        minutes = options.get("callback_due_minutes", 30)
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes < 0:
            raise ValueError("callback_due_minutes must be a number of minutes, 0 or more")
        return cls(did_sources=sources, callback_due=timedelta(minutes=minutes))


@dataclass(frozen=True, slots=True)
class CallResult:
    """What became of one call event: the Call row, its card, and the bus events to publish."""

    call_id: int
    external_call_id: str
    contact_id: int | None
    duplicate: bool
    events: tuple[Event, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "external_call_id": self.external_call_id,
            "contact_id": self.contact_id,
            "duplicate": self.duplicate,
        }


def _normalized(number: str | None, region: str) -> str | None:
    """E.164, or None for what is not a phone number (an extension, "anonymous", garbage).

    A number without "+" is read in the default region first: PBXs in Russia write Moscow numbers as
    "84951234567", which :func:`inbox.identities.normalize` (trying "+84…" first) takes for Vietnam.
    """
    if not number or not number.strip():
        return None
    raw = number.strip()
    if not raw.startswith("+"):
        try:
            parsed = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is not None and phonenumbers.is_valid_number(parsed):
            return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    try:
        return normalize("phone", raw, region)
    except InvalidIdentity:
        return None


def _shown(number: str | None, region: str) -> str | None:
    """How a number is kept on the call: E.164 when it is one, else as given (an extension)."""
    if number is None or not number.strip():
        return None
    return (_normalized(number, region) or number.strip())[:MAX_NUMBER]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _validate(event: CallEvent) -> None:
    if not event.call_id or len(event.call_id) > 200:
        raise IngestError("call_id must be 1-200 characters")
    if not event.event_id or len(event.event_id) > 200:
        raise IngestError("event_id must be 1-200 characters")
    if event.disposition is not None and event.disposition not in DISPOSITIONS:
        raise IngestError(f"disposition must be one of {', '.join(DISPOSITIONS)}")
    for name in ("at", "started_at", "answered_at", "ended_at"):
        value = getattr(event, name)
        if value is not None and value.tzinfo is None:
            raise IngestError(f"{name} needs a timezone")


@dataclass(slots=True)
class _Before:
    answered: bool
    ended: bool
    extension: str | None


class _Work:
    """One event being applied: the session, the call, and what it produced."""

    def __init__(
        self,
        session: AsyncSession,
        event: CallEvent,
        call: Call,
        account: ChannelAccount,
        policy: InboxPolicy,
        settings: CallSettings,
    ) -> None:
        self.session = session
        self.event = event
        self.call = call
        self.account = account
        self.policy = policy
        self.settings = settings
        self.now = utcnow()
        self.events: list[Event] = []
        self.meta: dict[str, Any] = dict(call.meta or {})
        self.contact: Contact | None = None
        self.agent: Agent | None = None

    @property
    def region(self) -> str:
        return self.policy.default_region

    def customer_number(self) -> str | None:
        """The client's side of the call, in E.164 (None for internal calls and non-numbers)."""
        call = self.call
        if call.direction == "inbound":
            return _normalized(call.from_number, self.region)
        if call.direction == "outbound":
            return _normalized(call.to_number, self.region)
        return None

    def report(self, name: str, occurred_at: datetime, start: datetime | None) -> None:
        value = business = None
        if start is not None:
            value = max(0.0, (occurred_at - start).total_seconds())
            business = self.policy.business_hours.seconds_between(start, occurred_at) if value else 0.0
        self.session.add(
            ReportingEvent(
                name=name,
                occurred_at=occurred_at,
                value_seconds=value,
                business_seconds=business,
                contact_id=self.call.contact_id,
                agent_id=self.call.agent_id,
                team_id=self.account.team_id,
                account_id=self.account.id,
                channel_kind=self.account.kind,
            )
        )


async def _load_call(session: AsyncSession, event: CallEvent) -> Call | None:
    return await session.scalar(
        select(Call)
        .where(Call.account_id == event.account_id, Call.call_id == event.call_id)
        .with_for_update()
    )


async def _create_call(session: AsyncSession, event: CallEvent) -> tuple[Call, bool]:
    """A new Call row; if another process inserted it meanwhile, that one (and created=False)."""
    call = Call(
        account_id=event.account_id,
        call_id=event.call_id,
        direction=event.direction or "inbound",
        meta={"events": []},
    )
    try:
        async with session.begin_nested():
            session.add(call)
            await session.flush()
    except IntegrityError:
        found = await _load_call(session, event)
        if found is None:
            raise
        return found, False
    return call, True


def _merge(work: _Work) -> None:
    """Fold the event's facts into the call: fill what is unknown, widen times, raise the disposition."""
    call, event, region = work.call, work.event, work.region
    at = event.at or work.now
    if event.direction and (event.stage == "record" or not work.meta.get("direction_known")):
        call.direction = event.direction
        work.meta["direction_known"] = True
    for name, value in (("from_number", event.from_number), ("to_number", event.to_number)):
        if getattr(call, name) is None or (event.stage == "record" and value):
            setattr(call, name, _shown(value, region) or getattr(call, name))
    if event.did and (call.did is None or event.stage == "record"):
        call.did = _shown(event.did, region)
    if event.extension:
        extension = event.extension.strip()[:MAX_EXTENSION]
        if call.extension is None or event.stage in ("answer", "record"):
            call.extension = extension

    started = event.started_at or (at if event.stage in ("ring", "record") else None)
    answered = event.answered_at or (at if event.stage == "answer" else None)
    ended = event.ended_at or (at if event.stage == "hangup" else None)
    if started is not None:
        call.started_at = min(call.started_at or started, started)
    if answered is not None:
        call.answered_at = min(call.answered_at or answered, answered)
    if ended is not None:
        call.ended_at = max(call.ended_at or ended, ended)
    if call.started_at is None and (call.answered_at or call.ended_at):
        call.started_at = min(t for t in (call.answered_at, call.ended_at) if t is not None)

    if event.forwarded:
        work.meta["forwarded"] = True
    disposition = call.disposition
    if event.disposition is not None and _RANK[event.disposition] > _RANK.get(disposition or "", 0):
        disposition = event.disposition
    if call.answered_at is not None and disposition != "voicemail":
        disposition = "answered"
    if disposition is None and call.ended_at is not None and not work.meta.get("forwarded"):
        disposition = "missed"
    call.disposition = disposition

    if event.wait_seconds is not None or event.talk_seconds is not None:
        # Records of several legs (an A- and a B-leg, a ring group's attempts): the longest wins.
        given_before = bool(work.meta.get("durations_given"))
        work.meta["durations_given"] = True
        if event.wait_seconds is not None:
            before = call.wait_seconds if given_before and call.wait_seconds is not None else 0
            call.wait_seconds = max(before, event.wait_seconds)
        if event.talk_seconds is not None:
            before = call.talk_seconds if given_before and call.talk_seconds is not None else 0
            call.talk_seconds = max(before, event.talk_seconds)
    elif not work.meta.get("durations_given"):
        if call.started_at is not None:
            until = call.answered_at or call.ended_at
            if until is not None:
                call.wait_seconds = max(0, round((until - call.started_at).total_seconds()))
        if call.answered_at is not None and call.ended_at is not None:
            call.talk_seconds = max(0, round((call.ended_at - call.answered_at).total_seconds()))
    if call.disposition not in (None, "answered") and call.talk_seconds is None and call.ended_at:
        call.talk_seconds = 0
    if event.recording_url:
        call.recording_url = event.recording_url[:1000]
    if event.meta:
        info = dict(work.meta.get("info") or {})
        info.update({str(k): v for k, v in event.meta.items()})
        work.meta["info"] = info


async def _match_contact(work: _Work) -> None:
    """The card of the client's number, by the one matcher messages use (a caller id is vouched: a number
    on two cards lists them as duplicate candidates); an unknown number calling in becomes a new lead."""
    call = work.call
    if call.contact_id is not None:
        work.contact = await work.session.get(Contact, call.contact_id)
        return
    number = work.customer_number()
    if number is None:
        return
    caller = [IdentityRef("phone", number)]
    matcher = Matcher(work.session)
    await matcher.load(caller)
    name = work.event.caller_name
    shown = str(name)[:200] if name else None
    contact = matcher.find(caller, name=shown)
    if contact is None and call.direction == "inbound":
        contact = matcher.match(
            caller,
            name=shown,
            source_channel="sip",
            source_detail=call.ad_source,
            first_seen=call.started_at or work.event.at,
        )
        work.meta["new_lead"] = True
    await work.session.flush()
    await matcher.record_duplicates()
    if contact is not None:
        call.contact_id = contact.id
        work.contact = contact


async def find_agent(session: AsyncSession, key: str) -> Agent | None:
    """The active agent of an extension; failing that, of an e-mail or a full name (as Zammad sends)."""
    key = key.strip()
    if not key:
        return None
    for clause in (Agent.extension == key, Agent.email == key.lower(), Agent.name == key):
        agent = await session.scalar(
            select(Agent).where(clause, Agent.is_active.is_(True)).order_by(Agent.id).limit(1)
        )
        if agent is not None:
            return agent
    return None


async def _screen_pop(work: _Work, agent: Agent) -> Event:
    """The card, its recent conversations and calls, and who is responsible for the caller."""
    session, call, contact = work.session, work.call, work.contact
    card: dict[str, Any] | None = None
    conversations: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    owner: dict[str, Any] | None = None
    if contact is not None:
        await session.refresh(contact, ["identities"])
        card = {
            "id": contact.id,
            "name": contact.name,
            "company": contact.company,
            "kind": contact.kind,
            "owner_id": contact.owner_id,
            "source_channel": contact.source_channel,
            "source_detail": contact.source_detail,
            "tags": list(contact.tags or []),
            "identities": [{"kind": i.kind, "value": i.value} for i in contact.identities],
            "new": bool(work.meta.get("new_lead")),
        }
        if contact.owner_id is not None:
            responsible = await session.get(Agent, contact.owner_id)
            if responsible is not None:
                owner = {"id": responsible.id, "name": responsible.name}
        rows = await session.scalars(
            select(Conversation)
            .where(Conversation.contact_id == contact.id)
            .order_by(func.coalesce(Conversation.last_message_at, Conversation.created_at).desc())
            .limit(RECENT)
        )
        conversations = [
            {
                "id": c.id,
                "status": c.status,
                "channel_kind": c.channel_kind,
                "subject": c.subject,
                "assignee_id": c.assignee_id,
                "last_message_at": _iso(c.last_message_at),
            }
            for c in rows
        ]
        earlier = await session.scalars(
            select(Call)
            .where(Call.contact_id == contact.id, Call.id != call.id)
            .order_by(Call.started_at.desc(), Call.id.desc())
            .limit(RECENT)
        )
        calls = [_call_summary(c) for c in earlier]
    data = {
        "call": _call_summary(call),
        "agent_id": agent.id,
        "card": card,
        "conversations": conversations,
        "calls": calls,
        "has_responsible_agent": owner is not None,
        "responsible_agent": owner,
    }
    return Event("call.ringing", team_id=None, assignee_id=agent.id, data=data)


def _call_summary(call: Call) -> dict[str, Any]:
    return {
        "id": call.id,
        "call_id": call.call_id,
        "direction": call.direction,
        "from": call.from_number,
        "to": call.to_number,
        "did": call.did,
        "ad_source": call.ad_source,
        "extension": call.extension,
        "agent_id": call.agent_id,
        "disposition": call.disposition,
        "started_at": _iso(call.started_at),
        "answered_at": _iso(call.answered_at),
        "ended_at": _iso(call.ended_at),
        "wait_seconds": call.wait_seconds,
        "talk_seconds": call.talk_seconds,
        "recording_url": call.recording_url,
        "contact_id": call.contact_id,
    }


async def _close_callbacks(work: _Work, answered: bool) -> None:
    """A later answered call with the client, or a call made to them, closes their open callbacks."""
    call, session = work.call, work.session
    if call.contact_id is None:
        return
    tasks = await session.scalars(
        select(Task)
        .where(
            Task.kind == CALLBACK,
            Task.status == "open",
            Task.contact_id == call.contact_id,
            Task.call_id.is_not(None),
            Task.call_id != call.id,
        )
        .order_by(Task.id)
    )
    callback_at = (call.answered_at if answered else None) or call.started_at or work.now
    for task in tasks:
        missed = await session.get(Call, task.call_id)
        missed_at = (missed.ended_at or missed.started_at) if missed else None
        if missed is not None and missed.started_at is not None and callback_at < missed.started_at:
            continue  # an older call imported late: not a callback
        _ = work.policy.gettext
        values = {
            "extension": call.extension or "?",
            "disposition": call.disposition or "missed",
            "call": call.id,
        }
        if call.direction == "outbound" and answered:
            result = _("called back from extension %(extension)s: reached (call %(call)s)")
        elif call.direction == "outbound":
            result = _(
                "called back from extension %(extension)s: not reached, %(disposition)s (call %(call)s)"
            )
        else:
            result = _("the client called again and was answered (call %(call)s)")
        task.status = "done"
        task.closed_at = work.now
        task.result = result % values
        work.report(CALLBACK, callback_at, missed_at or task.created_at)
        work.events.append(task_event(task))


async def _open_callback(work: _Work) -> None:
    """A missed inbound call: a callback for the card's owner, else for the account's team.

    Titles and results are written in the hub's UI language (``policy.gettext``).
    """
    call, session, contact = work.call, work.session, work.contact
    if contact is None or call.contact_id is None:
        return
    existing = await session.scalar(
        select(Task)
        .where(Task.kind == CALLBACK, Task.status == "open", Task.contact_id == call.contact_id)
        .order_by(Task.id)
        .limit(1)
    )
    if existing is not None:
        work.meta["callback_task_id"] = existing.id  # one open callback per client is enough
        return
    missed_at = call.ended_at or call.started_at or work.now
    number = call.from_number or ""
    _ = work.policy.gettext
    if contact.name:
        title = _("Call back: %(name)s, %(number)s") % {"name": contact.name, "number": number}
    else:
        title = _("Call back: %(number)s") % {"number": number}
    task = Task(
        kind=CALLBACK,
        title=title[:300],
        contact_id=contact.id,
        call_id=call.id,
        assignee_id=contact.owner_id,
        team_id=None if contact.owner_id is not None else work.account.team_id,
        status="open",
        due_at=missed_at + work.settings.callback_due,
        created_at=work.now,
    )
    session.add(task)
    await session.flush()
    work.meta["callback_task_id"] = task.id
    work.events.append(task_event(task))


async def _cancel_own_callback(work: _Work) -> None:
    """A call first seen as missed that turns out answered: its callback is no longer needed."""
    task_id = work.meta.get("callback_task_id")
    if not isinstance(task_id, int):
        return
    task = await work.session.get(Task, task_id)
    if task is not None and task.status == "open" and task.call_id == work.call.id:
        task.status = "cancelled"
        task.closed_at = work.now
        task.result = work.policy.gettext("the call was answered after all")
        work.events.append(task_event(task))


async def ingest_call(
    session: AsyncSession,
    event: CallEvent,
    policy: InboxPolicy | None = None,
    settings: CallSettings | None = None,
) -> CallResult:
    """Apply one call event in `session` (flushed, not committed); returns the events to publish.

    Raises :class:`inbox.ingest.IngestError` for an event that cannot be taken (unknown account, no id).
    """
    _validate(event)
    policy = policy or InboxPolicy()
    settings = settings or CallSettings()
    account = await session.get(ChannelAccount, event.account_id)
    if account is None:
        raise IngestError(f"unknown channel account id {event.account_id}")
    call = await _load_call(session, event)
    if call is None:
        call, _ = await _create_call(session, event)
    applied = list((call.meta or {}).get("events") or [])
    if event.event_id in applied:
        return CallResult(call.id, call.call_id, call.contact_id, duplicate=True)

    work = _Work(session, event, call, account, policy, settings)
    before = _Before(
        answered=call.disposition == "answered", ended=call.ended_at is not None, extension=call.extension
    )
    _merge(work)
    if call.did and call.ad_source is None:
        call.ad_source = settings.did_sources.get(call.did)
    await _match_contact(work)
    if call.extension and (call.extension != before.extension or call.agent_id is None):
        agent = await find_agent(session, call.extension)
        if agent is not None:
            call.agent_id = agent.id
            work.agent = agent
    await session.flush()

    # A screen pop for the agent whose phone rings now.
    if event.stage == "ring" and call.direction == "inbound" and event.extension and not before.ended:
        ringing = await find_agent(session, event.extension)
        if ringing is not None:
            work.events.append(await _screen_pop(work, ringing))
            rang = list(work.meta.get("rang") or [])
            if ringing.id not in rang:
                work.meta["rang"] = [*rang, ringing.id]

    answered_now = call.disposition == "answered" and not before.answered
    ended_now = call.ended_at is not None and not before.ended
    if answered_now:
        if call.direction == "inbound":
            work.report("call_answered", call.answered_at or work.now, call.started_at)
            await _cancel_own_callback(work)
        if call.direction in ("inbound", "outbound"):
            await _close_callbacks(work, answered=True)
    if ended_now and call.disposition != "answered":
        if call.direction == "outbound":
            await _close_callbacks(work, answered=False)
        elif call.direction == "inbound" and not work.meta.get("forwarded"):
            work.report("call_missed", call.ended_at or work.now, call.started_at)
            await _open_callback(work)

    if answered_now or ended_now or event.stage != "ring":
        summary = _call_summary(call)
        audience = {call.agent_id, *(a for a in work.meta.get("rang") or [] if isinstance(a, int))}
        for agent_id in sorted(a for a in audience if a is not None):
            work.events.append(Event("call.updated", team_id=None, assignee_id=agent_id, data=summary))
        if not audience - {None}:
            work.events.append(Event("call.updated", team_id=account.team_id, data=summary))

    work.meta["events"] = [*applied, event.event_id]
    call.meta = work.meta
    await session.flush()
    return CallResult(call.id, call.call_id, call.contact_id, duplicate=False, events=tuple(work.events))


# One lock per event loop: call events are applied one at a time, in the order they were submitted.
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _LOCKS.get(loop)
    if lock is None:
        lock = _LOCKS[loop] = asyncio.Lock()
    return lock


async def submit_call(
    sessionmaker: async_sessionmaker[AsyncSession],
    event: CallEvent,
    policy: InboxPolicy | None = None,
    settings: CallSettings | None = None,
    publisher: Publisher | None = None,
) -> CallResult:
    """Ingest one call event in its own session and commit, then publish its events."""
    async with _lock(), sessionmaker() as session:
        result = await ingest_call(session, event, policy, settings)
        await session.commit()
    for bus_event in result.events:
        try:
            await (publisher or NullPublisher()).publish(bus_event)
        except Exception:  # committed already: a lost notification must not fail the caller
            log.exception("publishing %s failed", bus_event.type)
    return result


async def calls_of(session: AsyncSession, contact_id: int, *, limit: int = 50) -> Sequence[Call]:
    """A card's calls, newest first (its timeline)."""
    rows = await session.scalars(
        select(Call)
        .where(Call.contact_id == contact_id)
        .order_by(Call.started_at.desc(), Call.id.desc())
        .limit(limit)
    )
    return list(rows)


__all__ = [
    "CALLBACK",
    "CallResult",
    "CallSettings",
    "calls_of",
    "find_agent",
    "ingest_call",
    "submit_call",
]
