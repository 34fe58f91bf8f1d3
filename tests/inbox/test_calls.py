"""Calls on the client card: merging the events of one call, cards and leads, callbacks, screen pops."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.i18n import translation
from inbox.bus import Event
from inbox.calls import CallSettings, calls_of, ingest_call, submit_call
from inbox.contacts import list_duplicates
from inbox.ingest import IngestError, ingest
from inbox.items import CallEvent, IdentityRef, InboundMessage, Sender
from inbox.models import Agent, Call, ChannelAccount, Contact, Identity, ReportingEvent, Task, Team
from inbox.policy import InboxPolicy
from tests.inbox.helpers import message

T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
CLIENT = "+79139097332"
DID = "+74951234567"
SETTINGS = CallSettings.from_options({"did_sources": {"8 (495) 123-45-67": "Яндекс.Директ"}})


@dataclass
class Pbx:
    account: ChannelAccount
    team: Team
    anna: Agent  # extension 100
    boris: Agent  # extension 101


@pytest.fixture
async def pbx(session: AsyncSession) -> Pbx:
    team = Team(name="Продажи")
    session.add(team)
    await session.flush()
    account = ChannelAccount(name="pbx", kind="sip", team_id=team.id)
    anna = Agent(email="anna@example.com", name="Анна", password_hash="-", extension="100")
    boris = Agent(email="boris@example.com", name="Борис", password_hash="-", extension="101")
    session.add_all([account, anna, boris])
    await session.commit()
    return Pbx(account, team, anna, boris)


def event(pbx: Pbx, call_id: str, event_id: str, stage: str, at: datetime, **fields: Any) -> CallEvent:
    data: dict[str, Any] = {"direction": "inbound", "from_number": "8 913 909-73-32", "to_number": DID}
    data.update(fields)
    return CallEvent(
        account_id=pbx.account.id,
        call_id=call_id,
        event_id=event_id,
        stage=stage,  # type: ignore[arg-type]
        at=at,
        **data,
    )


async def count(session: AsyncSession, model: type, *where: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def run(
    session: AsyncSession,
    *events: CallEvent,
    settings: CallSettings = SETTINGS,
    policy: InboxPolicy | None = None,
) -> list[Event]:
    published: list[Event] = []
    for item in events:
        result = await ingest_call(session, item, policy, settings=settings)
        await session.commit()
        published.extend(result.events)
    return published


async def reports(session: AsyncSession, name: str) -> list[ReportingEvent]:
    return list(await session.scalars(select(ReportingEvent).where(ReportingEvent.name == name)))


async def test_events_of_one_call_merge_into_one_answered_call(session: AsyncSession, pbx: Pbx) -> None:
    await run(
        session,
        event(pbx, "c1", "e1", "ring", T0, did=DID),
        event(pbx, "c1", "e2", "ring", T0 + timedelta(seconds=1), extension="100"),
        event(pbx, "c1", "e3", "answer", T0 + timedelta(seconds=8), extension="100"),
        event(pbx, "c1", "e4", "hangup", T0 + timedelta(seconds=70)),
    )
    call = await session.scalar(select(Call))
    assert call is not None
    assert (call.from_number, call.to_number, call.did) == (CLIENT, DID, DID)
    assert (call.started_at, call.answered_at, call.ended_at) == (
        T0,
        T0 + timedelta(seconds=8),
        T0 + timedelta(seconds=70),
    )
    assert (call.wait_seconds, call.talk_seconds, call.disposition) == (8, 62, "answered")
    assert (call.extension, call.agent_id) == ("100", pbx.anna.id)
    assert call.ad_source == "Яндекс.Директ"
    answered = await reports(session, "call_answered")
    assert [(r.value_seconds, r.agent_id) for r in answered] == [(8.0, pbx.anna.id)]
    assert await count(session, Task) == 0


async def test_repeated_event_changes_nothing(session: AsyncSession, pbx: Pbx) -> None:
    ring = event(pbx, "c1", "e1", "ring", T0, extension="100")
    hangup = event(pbx, "c1", "e2", "hangup", T0 + timedelta(seconds=20))
    await run(session, ring, hangup)
    again = await ingest_call(session, hangup, settings=SETTINGS)
    later = await ingest_call(session, ring, settings=SETTINGS)
    await session.commit()
    assert again.duplicate and later.duplicate and not again.events
    assert await count(session, Call) == 1
    assert await count(session, Task) == 1
    assert len(await reports(session, "call_missed")) == 1
    call = await session.scalar(select(Call))
    assert call is not None and call.meta["events"] == ["e1", "e2"]


async def test_unknown_inbound_number_becomes_a_lead_with_the_ad_source(
    session: AsyncSession, pbx: Pbx
) -> None:
    await run(session, event(pbx, "c1", "e1", "ring", T0, did="74951234567", caller_name="Ольга"))
    contact = await session.scalar(select(Contact))
    assert contact is not None
    assert (contact.kind, contact.name, contact.source_channel, contact.source_detail) == (
        "lead",
        "Ольга",
        "sip",
        "Яндекс.Директ",
    )
    identity = await session.scalar(select(Identity))
    assert identity is not None and (identity.kind, identity.value) == ("phone", CLIENT)


async def test_known_number_joins_its_card_whatever_the_spelling(session: AsyncSession, pbx: Pbx) -> None:
    api = ChannelAccount(name="shop", kind="api")
    session.add(api)
    await session.commit()
    known = await ingest(session, message(api.id, "m1", ("phone", "+7 913 909 73 32")))
    await run(session, event(pbx, "c1", "e1", "ring", T0, from_number="79139097332"))
    call = await session.scalar(select(Call))
    assert call is not None and call.contact_id == known.contact_id
    assert await count(session, Contact) == 1


async def test_a_call_from_a_number_on_two_cards_lists_them_as_duplicate_candidates(
    session: AsyncSession, pbx: Pbx
) -> None:
    older = Contact(name="Ольга", kind="client", tags=[], custom_fields={})
    newer = Contact(name="О. Петрова", kind="lead", tags=[], custom_fields={})
    older.identities.append(Identity(kind="phone", value=CLIENT))
    newer.identities.append(Identity(kind="phone", value=CLIENT))
    session.add_all([older, newer])
    await session.commit()
    await run(session, event(pbx, "c1", "e1", "ring", T0), event(pbx, "c1", "e2", "hangup", T0))
    call = await session.scalar(select(Call))
    assert call is not None and call.contact_id == older.id  # the oldest card, as for a message
    [pair] = await list_duplicates(session)
    assert {pair.a.id, pair.b.id} == {older.id, newer.id}
    assert "phone:" + CLIENT in pair.reason
    assert await count(session, Contact) == 2


async def test_a_new_caller_gets_one_card_with_the_vouched_phone_that_their_messages_then_join(
    session: AsyncSession, pbx: Pbx
) -> None:
    await run(session, event(pbx, "c1", "e1", "ring", T0), event(pbx, "c1", "e2", "hangup", T0))
    card = await session.scalar(select(Contact))
    assert card is not None and await count(session, Contact) == 1
    rows = (await session.scalars(select(Identity).where(Identity.contact_id == card.id))).all()
    assert [(i.kind, i.value, i.trust) for i in rows] == [("phone", CLIENT, "vouched")]
    shop = ChannelAccount(name="shop", kind="api")
    session.add(shop)
    await session.commit()
    later = await ingest(session, message(shop.id, "m1", ("phone", "8 913 909-73-32")))
    assert later.contact_id == card.id and await list_duplicates(session) == []


async def test_a_caller_whose_number_a_visitor_typed_gets_their_own_card_and_a_typed_phone_candidate(
    session: AsyncSession, pbx: Pbx
) -> None:
    site = ChannelAccount(name="site", kind="webchat")
    session.add(site)
    await session.commit()
    typist = InboundMessage(
        account_id=site.id,
        external_id="v:1",
        sender=Sender((IdentityRef("webchat", "visitor-1"), IdentityRef("phone", CLIENT, "typed"))),
        text="перезвоните",
    )
    typed = await ingest(session, typist)
    await run(session, event(pbx, "c1", "e1", "ring", T0))
    call = await session.scalar(select(Call))
    assert call is not None and call.contact_id not in (None, typed.contact_id)
    [pair] = await list_duplicates(session)
    assert {pair.a.id, pair.b.id} == {typed.contact_id, call.contact_id}
    assert pair.reason.startswith("typed_phone")


async def test_outbound_call_to_unknown_number_creates_no_card(session: AsyncSession, pbx: Pbx) -> None:
    await run(
        session,
        event(
            pbx,
            "c1",
            "e1",
            "record",
            T0,
            direction="outbound",
            from_number="100",
            to_number=CLIENT,
            ended_at=T0 + timedelta(seconds=30),
            disposition="missed",
        ),
    )
    assert await count(session, Contact) == 0
    call = await session.scalar(select(Call))
    assert call is not None and (call.from_number, call.to_number, call.contact_id) == ("100", CLIENT, None)


async def test_missed_call_creates_a_callback_for_the_owner_due_after_the_configured_time(
    session: AsyncSession, pbx: Pbx
) -> None:
    owned = Contact(name="Иван", kind="client", owner_id=pbx.boris.id, tags=[], custom_fields={})
    owned.identities.append(Identity(kind="phone", value=CLIENT))
    session.add(owned)
    await session.commit()
    settings = CallSettings.from_options({"callback_due_minutes": 15})
    published = await run(
        session,
        event(pbx, "c1", "e1", "ring", T0, extension="100"),
        event(pbx, "c1", "e2", "hangup", T0 + timedelta(seconds=25), disposition="missed"),
        settings=settings,
    )
    task = await session.scalar(select(Task))
    assert task is not None
    assert (task.kind, task.status, task.contact_id, task.assignee_id, task.team_id) == (
        "callback",
        "open",
        owned.id,
        pbx.boris.id,
        None,
    )
    assert task.due_at == T0 + timedelta(seconds=25) + timedelta(minutes=15)
    assert "Иван" in task.title and CLIENT in task.title
    missed = await reports(session, "call_missed")
    assert [r.value_seconds for r in missed] == [25.0]
    assert [e.assignee_id for e in published if e.type == "task.created"] == [pbx.boris.id]


async def test_callback_titles_and_results_are_written_in_the_language_handed_in(
    session: AsyncSession, pbx: Pbx
) -> None:
    # The hub hands in its gettext of the [ui] language; the domain's own msgids are English.
    russian = InboxPolicy(gettext=translation("ru").gettext)
    owned = Contact(name="Иван", kind="client", tags=[], custom_fields={})
    owned.identities.append(Identity(kind="phone", value=CLIENT))
    session.add(owned)
    await session.commit()
    await run(session, event(pbx, "c1", "e1", "hangup", T0, disposition="missed"), policy=russian)
    task = await session.scalar(select(Task))
    assert task is not None and task.title == f"Перезвонить: Иван, {CLIENT}"
    await run(
        session,
        event(pbx, "c2", "e2", "record", T0 + timedelta(minutes=5), disposition="answered"),
        policy=russian,
    )
    await session.refresh(task)
    assert task.result == "клиент позвонил снова, разговор состоялся (звонок 2)"
    await run(session, event(pbx, "c3", "e3", "hangup", T0 + timedelta(minutes=9), disposition="missed"))
    english = await session.scalar(select(Task).where(Task.status == "open"))
    assert english is not None and english.title == f"Call back: Иван, {CLIENT}"


async def test_missed_call_of_a_card_without_owner_goes_to_the_account_team(
    session: AsyncSession, pbx: Pbx
) -> None:
    await run(
        session, event(pbx, "c1", "e1", "record", T0, ended_at=T0 + timedelta(seconds=9), disposition="busy")
    )
    task = await session.scalar(select(Task))
    assert task is not None and (task.assignee_id, task.team_id) == (None, pbx.team.id)
    assert task.due_at == T0 + timedelta(seconds=9, minutes=30)
    call = await session.scalar(select(Call))
    assert call is not None and (call.disposition, call.wait_seconds, call.talk_seconds) == ("busy", 9, 0)


async def test_second_missed_call_keeps_one_open_callback(session: AsyncSession, pbx: Pbx) -> None:
    await run(
        session,
        event(pbx, "c1", "e1", "hangup", T0),
        event(pbx, "c2", "e2", "hangup", T0 + timedelta(minutes=5)),
    )
    assert await count(session, Task) == 1
    assert len(await reports(session, "call_missed")) == 2


async def test_forwarded_call_is_not_missed(session: AsyncSession, pbx: Pbx) -> None:
    await run(session, event(pbx, "c1", "e1", "hangup", T0, forwarded=True))
    assert await count(session, Task) == 0
    assert await reports(session, "call_missed") == []


async def test_later_answered_call_closes_the_callback_and_records_the_callback_time(
    session: AsyncSession, pbx: Pbx
) -> None:
    await run(session, event(pbx, "c1", "e1", "hangup", T0, started_at=T0 - timedelta(seconds=20)))
    published = await run(
        session,
        event(pbx, "c2", "e2", "ring", T0 + timedelta(minutes=40)),
        event(pbx, "c2", "e3", "answer", T0 + timedelta(minutes=40, seconds=5), extension="101"),
    )
    task = await session.scalar(select(Task))
    assert task is not None and task.status == "done" and task.closed_at is not None
    assert task.result is not None and "called again and was answered" in task.result
    callback = await reports(session, "callback")
    assert [(r.value_seconds, r.agent_id) for r in callback] == [(40 * 60 + 5.0, pbx.boris.id)]
    assert [e.data["status"] for e in published if e.type == "task.updated"] == ["done"]


async def test_outbound_call_to_the_client_closes_the_callback_even_unanswered(
    session: AsyncSession, pbx: Pbx
) -> None:
    await run(session, event(pbx, "c1", "e1", "hangup", T0))
    await run(
        session,
        event(
            pbx,
            "c2",
            "e2",
            "record",
            T0 + timedelta(minutes=10),
            direction="outbound",
            from_number="100",
            to_number="89139097332",
            extension="100",
            started_at=T0 + timedelta(minutes=10),
            ended_at=T0 + timedelta(minutes=10, seconds=30),
            disposition="missed",
        ),
    )
    task = await session.scalar(select(Task))
    assert task is not None and task.status == "done"
    assert task.result is not None and "not reached" in task.result and "extension 100" in task.result
    assert [r.value_seconds for r in await reports(session, "callback")] == [600.0]


async def test_an_older_call_imported_late_does_not_close_a_callback(session: AsyncSession, pbx: Pbx) -> None:
    await run(session, event(pbx, "c1", "e1", "hangup", T0))
    await run(
        session,
        event(
            pbx,
            "c0",
            "e0",
            "record",
            T0 - timedelta(days=1),
            started_at=T0 - timedelta(days=1),
            answered_at=T0 - timedelta(days=1),
            ended_at=T0 - timedelta(days=1) + timedelta(seconds=60),
            disposition="answered",
        ),
    )
    task = await session.scalar(select(Task))
    assert task is not None and task.status == "open"


async def test_hangup_that_says_answered_before_the_answer_record_is_still_answered(
    session: AsyncSession, pbx: Pbx
) -> None:
    """Kamailio writes INVITE and BYE records from different processes: the BYE may come first."""
    await run(
        session,
        event(pbx, "c1", "bye", "hangup", T0 + timedelta(seconds=30), disposition="answered"),
        event(pbx, "c1", "invite", "answer", T0 + timedelta(seconds=4), started_at=T0, extension="100"),
    )
    call = await session.scalar(select(Call))
    assert call is not None
    assert (call.disposition, call.wait_seconds, call.talk_seconds) == ("answered", 4, 26)
    assert await count(session, Task) == 0


async def test_missed_call_that_turns_out_answered_cancels_its_callback(
    session: AsyncSession, pbx: Pbx
) -> None:
    await run(
        session,
        event(pbx, "c1", "e1", "hangup", T0 + timedelta(seconds=30), started_at=T0),
        event(pbx, "c1", "cdr", "record", T0, answered_at=T0 + timedelta(seconds=3), disposition="answered"),
    )
    task = await session.scalar(select(Task))
    assert task is not None and task.status == "cancelled"


async def test_ringing_extension_gets_a_screen_pop_with_the_card(session: AsyncSession, pbx: Pbx) -> None:
    api = ChannelAccount(name="shop", kind="api")
    session.add(api)
    await session.commit()
    known = await ingest(session, message(api.id, "m1", ("phone", CLIENT), name="Иван Петров"))
    contact = await session.get(Contact, known.contact_id)
    assert contact is not None
    contact.owner_id = pbx.boris.id
    await session.commit()
    await run(session, event(pbx, "old", "o1", "hangup", T0 - timedelta(days=2)))

    published = await run(session, event(pbx, "c1", "e1", "ring", T0, did=DID, extension="100"))
    pops = [e for e in published if e.type == "call.ringing"]
    assert len(pops) == 1
    pop = pops[0]
    assert (pop.assignee_id, pop.team_id, pop.conversation_id) == (pbx.anna.id, None, None)
    assert pop.data["card"]["id"] == known.contact_id and pop.data["card"]["name"] == "Иван Петров"
    assert [c["id"] for c in pop.data["conversations"]] == [known.conversation_id]
    assert [c["call_id"] for c in pop.data["calls"]] == ["old"]
    assert pop.data["has_responsible_agent"] is True
    assert pop.data["responsible_agent"] == {"id": pbx.boris.id, "name": "Борис"}
    assert pop.data["call"]["ad_source"] == "Яндекс.Директ"


async def test_answer_tells_every_agent_whose_phone_rang(session: AsyncSession, pbx: Pbx) -> None:
    published = await run(
        session,
        event(pbx, "c1", "e1", "ring", T0, extension="100"),
        event(pbx, "c1", "e2", "ring", T0, extension="101"),
        event(pbx, "c1", "e3", "answer", T0 + timedelta(seconds=3), extension="101"),
    )
    assert [e.assignee_id for e in published if e.type == "call.ringing"] == [pbx.anna.id, pbx.boris.id]
    updates = [e for e in published if e.type == "call.updated"]
    assert sorted(e.assignee_id or 0 for e in updates) == [pbx.anna.id, pbx.boris.id]
    assert all(e.data["agent_id"] == pbx.boris.id for e in updates)


async def test_anonymous_caller_is_logged_without_a_card(session: AsyncSession, pbx: Pbx) -> None:
    await run(session, event(pbx, "c1", "e1", "hangup", T0, from_number="anonymous"))
    call = await session.scalar(select(Call))
    assert call is not None and (call.from_number, call.contact_id, call.disposition) == (
        "anonymous",
        None,
        "missed",
    )
    assert await count(session, Contact) == 0 and await count(session, Task) == 0


async def test_event_for_an_unknown_account_is_refused(session: AsyncSession) -> None:
    item = CallEvent(account_id=999, call_id="c1", event_id="e1", stage="ring")
    with pytest.raises(IngestError, match="unknown channel account"):
        await ingest_call(session, item)


async def test_naive_time_is_refused(session: AsyncSession, pbx: Pbx) -> None:
    with pytest.raises(IngestError, match="timezone"):
        await ingest_call(session, event(pbx, "c1", "e1", "ring", datetime(2026, 1, 1)))


def test_bad_callback_due_option_is_named() -> None:
    with pytest.raises(ValueError, match="callback_due_minutes"):
        CallSettings.from_options({"callback_due_minutes": "soon"})


class Collector:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.events.append(event)


async def test_concurrent_submissions_keep_their_order(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, pbx: Pbx
) -> None:
    collector = Collector()
    items = [
        event(pbx, "c1", "e1", "ring", T0, extension="100"),
        event(pbx, "c1", "e2", "answer", T0 + timedelta(seconds=2), extension="100"),
        event(pbx, "c1", "e3", "hangup", T0 + timedelta(seconds=12)),
        event(pbx, "c1", "e3", "hangup", T0 + timedelta(seconds=12)),
    ]
    results = await asyncio.gather(*(submit_call(sessionmaker, i, None, SETTINGS, collector) for i in items))
    assert [r.duplicate for r in results] == [False, False, False, True]
    assert len({r.call_id for r in results}) == 1
    call = await session.scalar(select(Call))
    assert call is not None and (call.disposition, call.talk_seconds) == ("answered", 10)
    assert next(e.type for e in collector.events) == "call.ringing"


async def test_card_timeline_lists_its_calls_newest_first(session: AsyncSession, pbx: Pbx) -> None:
    await run(
        session,
        event(pbx, "old", "e1", "hangup", T0 - timedelta(days=1), started_at=T0 - timedelta(days=1)),
        event(pbx, "new", "e2", "ring", T0),
    )
    contact = await session.scalar(select(Contact))
    assert contact is not None
    assert [c.call_id for c in await calls_of(session, contact.id)] == ["new", "old"]
