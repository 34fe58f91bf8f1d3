"""Conversation marks: "blocked the bot" / "unblocked" stored as events that never open a dialog, and the
blocked reason set on (and cleared from) the contact's conversations on that account."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.bus import Event
from inbox.conversation_marks import apply_mark, as_event
from inbox.ingest import ingest
from inbox.items import ConversationMark, IdentityRef, Sender
from inbox.models import ChannelAccount, Conversation, Message, ReportingEvent
from tests.inbox.helpers import message

OLGA = Sender((IdentityRef("telegram", "42"),), name="Ольга")


def block(account_id: int, external_id: str, *, blocked: bool = True) -> ConversationMark:
    reason = "The user blocked the bot" if blocked else "The user unblocked the bot"
    return ConversationMark(
        account_id=account_id,
        external_id=external_id,
        sender=OLGA,
        blocked=blocked,
        reason=reason,
        sent_at=datetime(2026, 3, 1, tzinfo=UTC),
    )


class Collect:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.events.append(event)


async def test_a_block_is_an_event_on_the_open_dialog_and_sets_its_blocked_reason(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    first = await ingest(session, message(api_account.id, "m1", ("telegram", "42"), text="Привет"))
    bus = Collect()
    result = await apply_mark(session, block(api_account.id, "member:1"), publisher=bus)
    assert result.conversation_id == first.conversation_id and not result.duplicate
    conv = await session.get_one(Conversation, first.conversation_id, populate_existing=True)
    assert conv.blocked_reason == "The user blocked the bot"
    event_message = await session.get_one(Message, result.message_id)
    assert (event_message.kind, event_message.body_text) == ("event", "The user blocked the bot")
    assert [e.type for e in bus.events] == ["message.created", "conversation.updated"]
    assert bus.events[1].data == {"blocked_reason": "The user blocked the bot"}


async def test_unblocking_clears_the_reason(session: AsyncSession, api_account: ChannelAccount) -> None:
    first = await ingest(session, message(api_account.id, "m1", ("telegram", "42")))
    await apply_mark(session, block(api_account.id, "member:1"))
    result = await apply_mark(session, block(api_account.id, "member:2", blocked=False))
    assert result.blocked_reason is None
    conv = await session.get_one(Conversation, first.conversation_id, populate_existing=True)
    assert conv.blocked_reason is None


async def test_a_block_without_a_dialog_is_kept_but_opens_none(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    result = await apply_mark(session, block(api_account.id, "member:1"))
    conv = await session.get_one(Conversation, result.conversation_id, populate_existing=True)
    assert conv.status == "resolved" and conv.blocked_reason == "The user blocked the bot"
    assert await session.scalar(select(func.count()).select_from(ReportingEvent)) == 0


async def test_a_redelivered_block_after_an_unblock_changes_nothing(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    first = await ingest(session, message(api_account.id, "m1", ("telegram", "42")))
    await apply_mark(session, block(api_account.id, "member:1"))
    await apply_mark(session, block(api_account.id, "member:2", blocked=False))
    again = await apply_mark(session, block(api_account.id, "member:1"))
    assert again.duplicate
    conv = await session.get_one(Conversation, first.conversation_id, populate_existing=True)
    assert conv.blocked_reason is None
    assert await session.scalar(select(func.count()).select_from(Message)) == 3


def test_a_mark_is_stored_as_a_service_event_that_keeps_what_it_said() -> None:
    event = as_event(block(1, "member:1"))
    assert event.kind == "event" and event.text == "The user blocked the bot"
    assert event.meta["mark"] == {"blocked": True, "reason": "The user blocked the bot"}
