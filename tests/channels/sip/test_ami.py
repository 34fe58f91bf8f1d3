"""Asterisk AMI: our client against a local TCP server replaying real AMI transcripts, and the tracker
that turns events into calls."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.base import ChannelAuthError
from channels.sip.ami import (
    AmiCallTracker,
    AmiClient,
    AmiError,
    AmiMessage,
    parse_transcript,
    split_transcript,
)
from channels.sip.common import ParseContext
from hub.runtime import Hub
from inbox.bus import Event
from inbox.conversations import Viewer, can_see
from inbox.items import CallEvent
from inbox.models import Agent, Call, QuarantineItem, ReportingEvent, Task
from tests.channels.sip.servers import AmiReplay, transcript_messages
from tests.conftest import shared_fixture_dir
from tests.waiting import event_set, eventually, resolved

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SECRET = "ami-secret"
CTX = ParseContext(account_id=1)


def own(name: str) -> str:
    return (FIXTURES / name).read_text()


def shared(name: str) -> str:
    return (shared_fixture_dir("telephony") / name).read_text()


def ami_account(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "sip",
        "source": "ami",
        "host": "127.0.0.1",
        "port": port,
        "username": "okno",
        "secret": SECRET,
        "reconnect_min_seconds": 0.05,
        "reconnect_max_seconds": 0.2,
        "did_sources": {"74951234567": "Яндекс.Директ"},
        **extra,
    }


async def count(sessionmaker: async_sessionmaker[AsyncSession], model: type, *where: Any) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_dropped_and_restored_link_replays_events_without_a_second_call(
    sessionmaker: async_sessionmaker[AsyncSession], hub_factory: Any
) -> None:
    async with sessionmaker() as session:
        anna = Agent(email="anna@example.com", name="Анна", password_hash="-", extension="100")
        session.add(anna)
        await session.commit()
    messages = [
        *transcript_messages(shared("asterisk_ami_v2_spec_newchannel.txt")),
        *transcript_messages(shared("asterisk_ami_queue_status_response.txt")),
        *transcript_messages(own("ami_inbound_answered.txt")),
    ]
    dial_begin = next(i for i, m in enumerate(messages) if m.startswith("Event: DialBegin"))
    gate = asyncio.Event()
    replay = AmiReplay(messages, secret=SECRET, drop_after=dial_begin + 1, gate=gate)
    await replay.start()
    try:
        hub: Hub = await hub_factory(accounts={"pbx": ami_account(replay.port)})
        async with hub.bus.subscribe() as subscription:
            gate.set()
            await event_set(replay.completed, "the second session sent everything again")
            # The Cdr is the transcript's last event: wait for its StartTime (Hangup alone already gives
            # the 65 s of talk, so waiting for that raced the Cdr under load).
            await eventually(
                lambda: count(
                    sessionmaker,
                    Call,
                    Call.call_id == "1715680800.16",
                    Call.started_at == datetime(2024, 5, 14, 10, 0, 0, tzinfo=UTC),
                ),
                "the replayed call's record with the CDR's start",
            )
            events: list[Event] = []
            while not subscription.queue.empty():
                events.append(subscription.queue.get_nowait())
    finally:
        await replay.close()

    assert replay.sessions == 2 and replay.logins == [("okno", SECRET), ("okno", SECRET)]
    async with sessionmaker() as session:
        calls = {c.call_id: c for c in await session.scalars(select(Call))}
        answered = await session.scalar(select(func.count()).where(ReportingEvent.name == "call_answered"))
    assert set(calls) == {"1368479157.3", "1715680800.16"}  # the spec's Newchannel, and our call: once each
    spec = calls["1368479157.3"]
    assert (spec.direction, spec.from_number, spec.to_number, spec.contact_id) == (
        "inbound",
        "657-5309",
        "31337",
        None,  # not a valid phone number: logged without a card
    )
    call = calls["1715680800.16"]
    assert (call.from_number, call.to_number, call.did, call.ad_source) == (
        "+79139097332",
        "+74951234567",
        "+74951234567",
        "Яндекс.Директ",
    )
    assert (call.disposition, call.extension, call.agent_id) == ("answered", "100", anna.id)
    assert (call.wait_seconds, call.talk_seconds) == (7, 65)
    assert call.started_at == datetime(2024, 5, 14, 10, 0, 0, tzinfo=UTC)  # the CDR's start, the earliest
    assert call.contact_id is not None
    assert answered == 1

    pops = [e for e in events if e.type == "call.ringing"]
    assert len(pops) == 1 and pops[0].assignee_id == anna.id and pops[0].team_id is None
    assert pops[0].data["card"]["identities"] == [{"kind": "phone", "value": "+79139097332"}]
    # What the agent WebSocket forwards: Anna may see her screen pop; another agent may not.
    assert can_see(Viewer(anna.id, "agent", frozenset()), pops[0].team_id, pops[0].assignee_id)
    assert not can_see(Viewer(anna.id + 1, "agent", frozenset()), pops[0].team_id, pops[0].assignee_id)


async def test_refused_login_shows_the_account_as_auth_failed(
    sessionmaker: async_sessionmaker[AsyncSession], hub_factory: Any
) -> None:
    replay = AmiReplay([], secret="the-real-one")
    await replay.start()
    try:
        hub: Hub = await hub_factory(accounts={"pbx": ami_account(replay.port)})
        account_id = hub.accounts["pbx"].context.id

        async def failed() -> bool:
            return hub.supervisor.states[account_id].state == "auth_failed"

        await eventually(failed, "auth_failed")
    finally:
        await replay.close()
    assert "Authentication failed" in (hub.supervisor.states[account_id].detail or "")
    assert await count(sessionmaker, Call) == 0


async def first_event(client: AmiClient) -> AmiMessage:
    async with contextlib.aclosing(client.events()) as events:
        async for message in events:
            return message
    raise AssertionError("the events ended")


async def test_client_pings_an_idle_link_and_gives_up_on_a_silent_one() -> None:
    lively = AmiReplay([], secret=SECRET)
    silent = AmiReplay([], secret=SECRET, answer_pings=False)
    await lively.start()
    await silent.start()
    try:
        client = AmiClient("127.0.0.1", lively.port, "okno", SECRET, ping_seconds=0.05)
        await client.connect()
        try:
            assert client.banner == "Asterisk Call Manager/5.0.1"
            reader = asyncio.create_task(first_event(client))
            await eventually(lambda: lively.pings >= 3, "three pings")
            assert not reader.done()  # answered pings keep the link up
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
        finally:
            await client.close()

        client = AmiClient("127.0.0.1", silent.port, "okno", SECRET, ping_seconds=0.05)
        await client.connect()
        try:
            with pytest.raises(AmiError, match="no answer"):
                await resolved(first_event(client), "the silent link given up")
        finally:
            await client.close()
    finally:
        await lively.close()
        await silent.close()


async def test_wrong_secret_raises_channel_auth_error() -> None:
    replay = AmiReplay([], secret=SECRET)
    await replay.start()
    client = AmiClient("127.0.0.1", replay.port, "okno", "wrong")
    try:
        with pytest.raises(ChannelAuthError, match="Authentication failed"):
            await client.connect()
    finally:
        await client.close()
        await replay.close()


def events_of(text: str) -> list[CallEvent]:
    tracker = AmiCallTracker(CTX, clock=lambda: None)
    return [e for m in split_transcript(text) for e in tracker.feed(m)]


def test_tracker_follows_an_answered_call_through_its_events() -> None:
    events = events_of(own("ami_inbound_answered.txt"))
    assert [(e.stage, e.extension) for e in events] == [
        ("ring", None),
        ("ring", "100"),
        ("answer", "100"),
        ("hangup", None),
        ("record", "100"),
    ]
    assert {e.call_id for e in events} == {"1715680800.16"}
    assert len({e.event_id for e in events}) == 5
    assert events[0].caller_name == "Ivan Petrov"
    assert events[-1].disposition == "answered" and events[-1].talk_seconds == 65


def test_legacy_dial_events_tie_the_dialled_leg_to_its_call() -> None:
    """Asterisk 1.8: no Linkedid; Dial SubEvent Begin/End; a missed call after NOANSWER."""
    events = events_of(own("ami_legacy_18_missed.txt"))
    assert [(e.call_id, e.stage, e.extension, e.disposition) for e in events] == [
        ("1334225001.42", "ring", None, None),
        ("1334225001.42", "ring", "101", None),
        ("1334225001.42", "hangup", None, "missed"),
    ]
    assert events[0].from_number == "+79161112233" and events[0].did == "74957654321"


def test_same_transcript_twice_gives_the_same_event_ids() -> None:
    text = own("ami_inbound_answered.txt")
    assert [e.event_id for e in events_of(text)] == [e.event_id for e in events_of(text)]


def test_queue_status_transcript_has_no_calls_and_says_so() -> None:
    results = list(parse_transcript(shared("asterisk_ami_queue_status_response.txt"), CTX))
    assert [str(r) for r in results] == [
        "an AMI transcript without call events (QueueParams, QueueMember, QueueStatusComplete)"
    ]


async def test_missed_call_over_ami_creates_a_callback(
    sessionmaker: async_sessionmaker[AsyncSession], hub_factory: Any
) -> None:
    replay = AmiReplay(transcript_messages(own("ami_legacy_18_missed.txt")), secret=SECRET)
    await replay.start()
    try:
        await hub_factory(accounts={"pbx": ami_account(replay.port)})
        await eventually(lambda: count(sessionmaker, Task), "the callback task")
    finally:
        await replay.close()
    async with sessionmaker() as session:
        call = await session.scalar(select(Call))
        task = await session.scalar(select(Task))
    assert call is not None and task is not None
    assert (call.disposition, call.from_number, task.kind, task.call_id) == (
        "missed",
        "+79161112233",
        "callback",
        call.id,
    )


def test_asterisk_14_dial_and_link_events_answer_the_call() -> None:
    """Asterisk 1.4: Dial without SubEvent (Source, SrcUniqueID), then Link of the two channels."""
    transcript = "\n".join(
        [
            "Event: Newchannel\nChannel: SIP/trunk-081c5e28\nState: Ring\nCallerIDNum: 84951112233",
            "Exten: 74951234567\nUniqueid: 1200000000.7\n",
            "Event: Dial\nSource: SIP/trunk-081c5e28\nDestination: SIP/102-081d1a50\nCallerID: 84951112233",
            "SrcUniqueID: 1200000000.7\nDestUniqueID: 1200000000.8\n",
            "Event: Link\nChannel1: SIP/trunk-081c5e28\nChannel2: SIP/102-081d1a50",
            "Uniqueid1: 1200000000.7\nUniqueid2: 1200000000.8\n",
            "Event: Hangup\nChannel: SIP/trunk-081c5e28\nUniqueid: 1200000000.7\nCause: 16\n",
        ]
    )
    events = events_of(transcript)
    assert [(e.stage, e.extension, e.disposition) for e in events] == [
        ("ring", None, None),
        ("ring", "102", None),
        ("answer", "102", None),
        ("hangup", None, None),
    ]
    assert {e.call_id for e in events} == {"1200000000.7"}
    assert events[0].from_number == "84951112233" and events[0].did == "74951234567"


async def test_an_ami_event_the_tracker_cannot_take_is_quarantined_and_the_link_goes_on(
    sessionmaker: async_sessionmaker[AsyncSession], hub_factory: Any
) -> None:
    fields = ("Event: Cdr", "Uniqueid: broken-1", "Source: 89161112233", "StartTime: soon")
    broken = "\r\n".join(fields) + "\r\n\r\n"
    messages = [broken, *transcript_messages(own("ami_legacy_18_missed.txt"))]
    replay = AmiReplay(messages, secret=SECRET)
    await replay.start()
    try:
        await hub_factory(accounts={"pbx": ami_account(replay.port)})
        await eventually(lambda: count(sessionmaker, Task), "the callback task of the call after it")
        await eventually(lambda: count(sessionmaker, QuarantineItem), "the refused event in the quarantine")
    finally:
        await replay.close()
    assert replay.sessions == 1  # the refusal cost that event, not the link
    async with sessionmaker() as session:
        kept = await session.scalar(select(QuarantineItem))
    assert kept is not None and kept.position == "AMI Cdr broken-1" and kept.reason.startswith("Cdr event: ")
    assert kept.raw is None or b"Uniqueid: broken-1\r\n" in kept.raw
