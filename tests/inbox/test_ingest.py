"""The one ingest path: matching, threading, idempotency, reporting events, group commit."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import cast

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.bus import Event
from inbox.ingest import IngestError, IngestQueue, IngestResult, ingest, stage_batch
from inbox.items import IdentityRef, InboundMessage, Sender
from inbox.models import (
    ChannelAccount,
    Contact,
    Conversation,
    DuplicateCandidate,
    Identity,
    Message,
    ReportingEvent,
    ReportWait,
    Team,
    utcnow,
)
from inbox.policy import InboxPolicy
from tests.inbox.helpers import message


async def count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_same_item_ingested_twice_gives_one_message(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    item = message(api_account.id, "ext-1", ("email", "ivan@mail.ru"))
    first = await ingest(session, item)
    second = await ingest(session, item)
    assert not first.duplicate
    assert second.duplicate
    assert (second.message_id, second.conversation_id, second.contact_id) == (
        first.message_id,
        first.conversation_id,
        first.contact_id,
    )
    assert await count(session, Message) == 1
    assert await count(session, ReportingEvent) == 2  # conversation_opened + message_received, once


async def test_three_spellings_of_one_phone_give_one_card(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    results = [
        await ingest(session, message(api_account.id, f"m{i}", ("phone", spelling)))
        for i, spelling in enumerate(["8 (913) 909-73-32", "+7 913 909 73 32", "79139097332"])
    ]
    assert len({r.contact_id for r in results}) == 1
    assert len({r.conversation_id for r in results}) == 1
    assert await count(session, Contact) == 1
    identity = await session.scalar(select(Identity))
    assert identity is not None and (identity.kind, identity.value) == ("phone", "+79139097332")


async def test_unknown_sender_becomes_a_lead_with_its_source_channel(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    result = await ingest(session, message(api_account.id, "x", ("email", "New@Client.ru"), name="Мария"))
    contact = await session.get_one(Contact, result.contact_id)
    assert (contact.kind, contact.source_channel, contact.name) == ("lead", "api", "Мария")


async def test_messenger_threading_joins_the_last_unresolved_conversation(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    a = await ingest(session, message(api_account.id, "1", ("telegram", "42")))
    b = await ingest(session, message(api_account.id, "2", ("telegram", "42")))
    assert a.conversation_id == b.conversation_id
    conv = await session.get_one(Conversation, a.conversation_id)
    conv.status = "resolved"
    await session.commit()
    c = await ingest(session, message(api_account.id, "3", ("telegram", "42")))
    assert c.conversation_id != a.conversation_id
    assert c.contact_id == a.contact_id


async def test_reply_by_reference_reopens_its_conversation(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    first = await ingest(session, message(api_account.id, "<a@x>", ("email", "c@mail.ru"), subject="Заказ"))
    conv = await session.get_one(Conversation, first.conversation_id)
    conv.status = "resolved"
    await session.commit()
    reply = await ingest(
        session, message(api_account.id, "<b@x>", ("email", "c@mail.ru"), references=("<a@x>",))
    )
    assert reply.conversation_id == first.conversation_id
    await session.refresh(conv)
    assert conv.status == "open"
    names = list(await session.scalars(select(ReportingEvent.name).order_by(ReportingEvent.id)))
    assert names == ["conversation_opened", "message_received", "conversation_reopened", "message_received"]


async def test_auto_reply_is_stored_but_opens_no_dialog(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    result = await ingest(
        session, message(api_account.id, "oof", ("email", "away@mail.ru"), kind="auto_reply")
    )
    conv = await session.get_one(Conversation, result.conversation_id)
    assert conv.status == "resolved"
    assert conv.waiting_since is None
    assert await count(session, ReportingEvent) == 0


async def test_new_conversation_gets_the_account_team_and_sla(session: AsyncSession) -> None:
    team = Team(name="Sales")
    session.add(team)
    await session.flush()
    account = ChannelAccount(name="sales-api", kind="api", team_id=team.id)
    session.add(account)
    await session.commit()
    result = await ingest(session, message(account.id, "1", ("phone", "+79139097332")))
    conv = await session.get_one(Conversation, result.conversation_id)
    assert conv.team_id == team.id
    assert conv.waiting_since is not None and conv.first_response_due is not None
    assert conv.first_response_due > conv.waiting_since


async def test_sender_matching_two_cards_is_a_duplicate_candidate_not_a_merge(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    by_mail = await ingest(session, message(api_account.id, "1", ("email", "ivan@mail.ru")))
    by_phone = await ingest(session, message(api_account.id, "2", ("phone", "+79139097332")))
    both = await ingest(
        session, message(api_account.id, "3", ("email", "ivan@mail.ru"), ("phone", "89139097332"))
    )
    assert by_mail.contact_id != by_phone.contact_id
    assert both.contact_id == by_mail.contact_id  # the older card receives the message
    candidate = await session.scalar(select(DuplicateCandidate))
    assert candidate is not None
    assert {candidate.contact_a_id, candidate.contact_b_id} == {by_mail.contact_id, by_phone.contact_id}
    assert "ivan@mail.ru" in candidate.reason
    await ingest(session, message(api_account.id, "4", ("email", "ivan@mail.ru"), ("phone", "89139097332")))
    assert await count(session, DuplicateCandidate) == 1
    assert await count(session, Contact) == 2


async def test_known_sender_with_a_new_identity_keeps_it_on_the_card(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    first = await ingest(session, message(api_account.id, "1", ("webchat", "visitor-1")))
    second = await ingest(
        session, message(api_account.id, "2", ("webchat", "visitor-1"), ("email", "v@mail.ru"))
    )
    assert second.contact_id == first.contact_id
    kinds = set(await session.scalars(select(Identity.kind).where(Identity.contact_id == first.contact_id)))
    assert kinds == {"webchat", "email"}


async def test_invalid_identity_is_recorded_not_dropped(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    result = await ingest(session, message(api_account.id, "1", ("telegram", "42"), ("phone", "12")))
    stored = await session.get_one(Message, result.message_id)
    assert "invalid phone" in stored.meta["invalid_identities"][0]


async def test_sender_without_any_valid_identity_is_refused_clearly(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    with pytest.raises(IngestError, match="cannot tell who sent it: invalid email"):
        await ingest(session, message(api_account.id, "1", ("email", "nobody")))
    assert await count(session, Message) == 0


async def test_unknown_account_is_refused(session: AsyncSession) -> None:
    with pytest.raises(IngestError, match="unknown channel account"):
        await ingest(session, message(999, "1", ("email", "a@mail.ru")))


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.events.append(event)


async def test_group_commit_batches_concurrent_ingests_and_answers_each(
    sessionmaker: async_sessionmaker[AsyncSession], api_account: ChannelAccount
) -> None:
    recorder = Recorder()
    queue = IngestQueue(sessionmaker, publisher=recorder, max_batch=50)
    await queue.start()
    try:
        items = [message(api_account.id, f"m{i}", ("email", f"u{i % 20}@mail.ru")) for i in range(200)]
        items.append(items[0])  # a redelivery inside the same burst
        items.append(message(api_account.id, "bad", ("email", "broken")))
        results = await asyncio.gather(*(queue.submit(i) for i in items), return_exceptions=True)
    finally:
        await queue.stop()
    assert queue.batches < 200  # grouped, not one transaction per item
    good = [r for r in results if not isinstance(r, BaseException)]
    assert len(good) == 201
    assert good[-1].duplicate and good[-1].message_id == good[0].message_id
    assert isinstance(results[-1], IngestError)
    async with sessionmaker() as session:
        assert await count(session, Message) == 200
        assert await count(session, Contact) == 20
        assert await count(session, Conversation) == 20
    assert sum(e.type == "message.created" for e in recorder.events) == 200
    assert sum(e.type == "conversation.created" for e in recorder.events) == 20


async def test_a_queue_keeps_an_accounts_team_until_told_the_accounts_changed(
    sessionmaker: async_sessionmaker[AsyncSession], api_account: ChannelAccount
) -> None:
    """The batches read a channel account once (its kind and team change only when the hub writes its
    configuration, which then calls forget_accounts), not once per batch."""
    queue = IngestQueue(sessionmaker)
    await queue.start()

    async def team_of_new_dialog(sender: str) -> int | None:
        result = await queue.submit(message(api_account.id, sender, ("email", f"{sender}@mail.ru")))
        async with sessionmaker() as session:
            return (await session.get_one(Conversation, result.conversation_id)).team_id

    try:
        assert await team_of_new_dialog("first") is None
        async with sessionmaker() as session:
            team = Team(name="Sales")
            session.add(team)
            await session.flush()
            (await session.get_one(ChannelAccount, api_account.id)).team_id = team_id = team.id
            await session.commit()
        assert await team_of_new_dialog("second") is None  # as read by the first batch
        queue.forget_accounts()
        assert await team_of_new_dialog("third") == team_id
    finally:
        await queue.stop()


async def test_the_router_is_woken_after_a_batch_that_opened_a_dialog_only(
    sessionmaker: async_sessionmaker[AsyncSession], api_account: ChannelAccount
) -> None:
    wakes: list[bool] = []
    queue = IngestQueue(sessionmaker, on_opened=lambda: wakes.append(True))
    await queue.start()
    try:
        first = await queue.submit(message(api_account.id, "<a@x>", ("email", "c@mail.ru"), subject="Заказ"))
        assert first.opened and len(wakes) == 1
        reply = message(api_account.id, "<b@x>", ("email", "c@mail.ru"), references=("<a@x>",))
        joined = await queue.submit(reply)  # the dialog is open already: nothing new for the router
        assert joined.conversation_id == first.conversation_id and not joined.opened and len(wakes) == 1
        for status in ("pending", "resolved"):
            async with sessionmaker() as session:
                conv = await session.get_one(Conversation, first.conversation_id)
                conv.status = status
                await session.commit()
            again = message(api_account.id, f"<{status}@x>", ("email", "c@mail.ru"), references=("<a@x>",))
            back = await queue.submit(again)
            assert back.conversation_id == first.conversation_id and back.opened
    finally:
        await queue.stop()
    assert len(wakes) == 3


async def test_a_race_lost_to_another_process_falls_back_to_one_by_one(
    sessionmaker: async_sessionmaker[AsyncSession], api_account: ChannelAccount
) -> None:
    """Two queues (two hub processes) ingest the same burst: every item is stored once."""
    queues = [IngestQueue(sessionmaker), IngestQueue(sessionmaker)]
    for q in queues:
        await q.start()
    try:
        items = [message(api_account.id, f"r{i}", ("email", "same@mail.ru")) for i in range(30)]
        results = await asyncio.gather(*(q.submit(i) for i in items for q in queues))
    finally:
        for q in queues:
            await q.stop()
    assert sum(not r.duplicate for r in results) == 30
    async with sessionmaker() as session:
        assert await count(session, Message) == 30


async def test_conversation_hint_joins_its_conversation_on_the_same_account_only(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    first = await ingest(session, message(api_account.id, "1", ("email", "a@mail.ru")))
    conv = await session.get_one(Conversation, first.conversation_id)
    conv.status = "resolved"
    other = ChannelAccount(name="other", kind="api")
    session.add(other)
    await session.commit()
    hinted = InboundMessage(
        account_id=api_account.id,
        external_id="2",
        sender=Sender((IdentityRef("email", "b@mail.ru"),)),
        text="re",
        conversation_hint=first.conversation_id,
    )
    assert (await ingest(session, hinted)).conversation_id == first.conversation_id
    elsewhere = InboundMessage(
        account_id=other.id,
        external_id="3",
        sender=Sender((IdentityRef("email", "a@mail.ru"),)),
        text="re",
        conversation_hint=first.conversation_id,
    )
    assert (await ingest(session, elsewhere)).conversation_id != first.conversation_id


async def test_one_batch_keeps_a_new_senders_messages_on_one_card_and_one_conversation(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    first = message(api_account.id, "b1", ("email", "new@mail.ru"))
    items = [first, message(api_account.id, "b2", ("email", "New@Mail.ru")), first]
    results, events = await stage_batch(session, items, InboxPolicy())
    await session.commit()
    one, two, again = results
    assert isinstance(one, IngestResult) and isinstance(two, IngestResult) and isinstance(again, IngestResult)
    assert (one.contact_id, one.conversation_id) == (two.contact_id, two.conversation_id)
    assert not one.duplicate and not two.duplicate and one.message_id != two.message_id
    assert again.duplicate and again.message_id == one.message_id
    assert (await count(session, Contact), await count(session, Identity)) == (1, 1)
    assert (await count(session, Conversation), await count(session, Message)) == (1, 2)
    # The second message finds the client already waiting: no second reply wait.
    waits = sorted(await session.scalars(select(ReportWait.kind)))
    assert waits == ["first_response", "reply", "resolution"]
    names = sorted(await session.scalars(select(ReportingEvent.name)))
    assert names == ["conversation_opened", "message_received", "message_received"]
    assert [e.type for e in events] == ["conversation.created", "message.created", "message.created"]


async def test_a_typed_detail_vouched_for_later_in_the_same_batch_is_stored_once_as_vouched(
    session: AsyncSession,
) -> None:
    site = ChannelAccount(name="site", kind="webchat")
    session.add(site)
    await session.commit()
    visitor = IdentityRef("webchat", "V" * 24)

    def sent(external_id: str, phone: IdentityRef) -> InboundMessage:
        return InboundMessage(
            account_id=site.id, external_id=external_id, sender=Sender((visitor, phone)), text="hi"
        )

    items = [
        sent("v:1", IdentityRef("phone", "+79139097332", "typed")),
        sent("v:2", IdentityRef("phone", "+79139097332")),
    ]
    results, _ = await stage_batch(session, items, InboxPolicy())
    await session.commit()
    assert all(isinstance(r, IngestResult) for r in results)
    rows = {(i.kind, i.value, i.trust) for i in await session.scalars(select(Identity))}
    assert rows == {("webchat", "V" * 24, "vouched"), ("phone", "+79139097332", "vouched")}
    assert await count(session, DuplicateCandidate) == 0


async def test_a_conversation_the_caller_holds_in_its_session_sees_what_the_batch_wrote(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    """The batch writes with Core statements; an ORM object of the same row must not stay stale."""
    first = await ingest(session, message(api_account.id, "h1", ("email", "a@mail.ru")))
    conv = await session.get_one(Conversation, first.conversation_id)
    conv.status, conv.resolved_at, conv.waiting_since = "resolved", utcnow(), None
    await session.commit()
    item = InboundMessage(
        account_id=api_account.id,
        external_id="h2",
        sender=Sender((IdentityRef("email", "a@mail.ru"),)),
        text="one more thing",
        conversation_hint=first.conversation_id,
    )
    [result], _ = await stage_batch(session, [item], InboxPolicy())
    assert isinstance(result, IngestResult) and result.conversation_id == conv.id
    assert conv.status == "open" and conv.resolved_at is None and conv.waiting_since is not None
    await session.commit()
    names = list(await session.scalars(select(ReportingEvent.name).order_by(ReportingEvent.id)))
    assert names[-2:] == ["conversation_reopened", "message_received"]


async def test_a_nameless_card_takes_the_name_its_sender_gives(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    nameless = message(api_account.id, "n1", ("email", "anon@mail.ru"), name=None)
    first = await ingest(session, nameless)
    card = await session.get_one(Contact, first.contact_id)
    assert card.name is None
    named = await ingest(session, message(api_account.id, "n2", ("email", "anon@mail.ru"), name="Анна"))
    assert named.contact_id == first.contact_id
    assert card.name == "Анна"  # the object the caller holds, in step with the row
    session.expunge_all()
    stored = await session.get_one(Contact, first.contact_id)
    assert stored.name == "Анна" and stored.updated_at >= stored.created_at


async def test_a_mixed_batch_files_each_messages_own_events_and_waits_with_its_own_times(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    """One batch of a new dialog, a reopened one, an auto-reply and a message with the platform's time:
    each message's events and waits, with its conversation, card and time (on PostgreSQL they are made
    from the messages' own rows in the statement that inserts them: inbox.pg_messages)."""
    old = await ingest(session, message(api_account.id, "m0", ("telegram", "7")))
    conv = await session.get_one(Conversation, old.conversation_id)
    conv.status, conv.resolved_at, conv.waiting_since = "resolved", utcnow(), None
    await session.commit()
    events_before = await session.scalar(select(func.max(ReportingEvent.id)))
    waits_before = await session.scalar(select(func.max(ReportWait.id)))
    written = utcnow() - timedelta(minutes=5)
    again = InboundMessage(
        account_id=api_account.id,
        external_id="m3",
        sender=Sender((IdentityRef("telegram", "7"),)),
        text="again",
        conversation_hint=old.conversation_id,
    )
    items = [
        message(api_account.id, "m1", ("telegram", "8"), sent_at=written),
        message(api_account.id, "m2", ("email", "oof@mail.ru"), kind="auto_reply"),
        again,
    ]
    results, _ = await stage_batch(session, items, InboxPolicy())
    await session.commit()
    new, _oof, reopened = cast(list[IngestResult], results)
    assert reopened.conversation_id == old.conversation_id

    rows = await session.execute(
        select(
            ReportingEvent.name,
            ReportingEvent.conversation_id,
            ReportingEvent.contact_id,
            ReportingEvent.account_id,
            ReportingEvent.channel_kind,
            ReportingEvent.occurred_at,
        )
        .where(ReportingEvent.id > events_before)
        .order_by(ReportingEvent.id)
    )
    events = [tuple(row) for row in rows]
    stored = {m.id: m for m in await session.scalars(select(Message))}
    at_reopen = stored[reopened.message_id].created_at
    assert events == [
        ("conversation_opened", new.conversation_id, new.contact_id, api_account.id, "api", written),
        ("message_received", new.conversation_id, new.contact_id, api_account.id, "api", written),
        ("conversation_reopened", old.conversation_id, old.contact_id, api_account.id, "api", at_reopen),
        ("message_received", old.conversation_id, old.contact_id, api_account.id, "api", at_reopen),
    ]
    waits = await session.execute(
        select(ReportWait.kind, ReportWait.conversation_id, ReportWait.started_at)
        .where(ReportWait.id > waits_before)
        .order_by(ReportWait.id)
    )
    assert [tuple(w) for w in waits] == [
        ("first_response", new.conversation_id, written),
        ("resolution", new.conversation_id, written),
        ("reply", new.conversation_id, written),
        ("first_response", old.conversation_id, at_reopen),
        ("resolution", old.conversation_id, at_reopen),
        ("reply", old.conversation_id, at_reopen),
    ]


async def test_a_reused_external_id_with_another_content_key_is_a_new_message_and_the_same_key_a_duplicate(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    """The stored message's content key is read back from its meta (JSON): on PostgreSQL through asyncpg
    itself (inbox.pg_raw), which must hand back the decoded value as SQLAlchemy does."""

    def mail(key: str) -> InboundMessage:
        item = message(api_account.id, "<same@x>", ("email", "c@mail.ru"), text=key)
        return replace(item, content_key=key)

    first = await ingest(session, mail("k1"))
    again = await ingest(session, mail("k1"))
    other = await ingest(session, mail("k2"))
    assert again.duplicate and again.message_id == first.message_id
    assert not other.duplicate and other.message_id != first.message_id
    stored = await session.get_one(Message, other.message_id)
    assert stored.external_id == "<same@x>#k2" and stored.meta["content_key"] == "k2"
