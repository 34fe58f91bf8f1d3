"""Edits of inbound messages: new text in place, previous versions kept, redeliveries harmless, unknown
messages ingested as new ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.bus import Event
from inbox.edits import apply_edit
from inbox.ingest import ingest
from inbox.items import MessageEdit
from inbox.models import ChannelAccount, Conversation, Message, ReportingEvent
from tests.inbox.helpers import message

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


class Collect:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.events.append(event)


def edit(account_id: int, text: str, at: datetime, external_id: str = "m1") -> MessageEdit:
    return MessageEdit(message(account_id, external_id, ("telegram", "42"), text=text), at)


async def test_edit_replaces_the_text_and_keeps_the_previous_one_with_timestamps(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    original = await ingest(
        session, message(api_account.id, "m1", ("telegram", "42"), text="Заказ 12", sent_at=T0)
    )
    bus = Collect()
    result = await apply_edit(
        session,
        MessageEdit(
            message(api_account.id, "m1", ("telegram", "42"), text="Заказ 21"), T0 + timedelta(minutes=1)
        ),
        publisher=bus,
    )
    assert result.outcome == "updated" and result.message_id == original.message_id
    stored = await session.get_one(Message, original.message_id, populate_existing=True)
    assert stored.body_text == "Заказ 21"
    assert stored.edited_at == T0 + timedelta(minutes=1)
    assert stored.meta["previous_versions"] == [
        {
            "text": "Заказ 12",
            "written_at": T0.isoformat(),
            "replaced_at": (T0 + timedelta(minutes=1)).isoformat(),
        }
    ]
    (event,) = bus.events
    assert event.type == "message.updated" and event.conversation_id == original.conversation_id
    assert event.data["message_id"] == original.message_id and event.data["preview"] == "Заказ 21"


async def test_each_edit_adds_the_text_it_replaces_oldest_first(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    first = await ingest(session, message(api_account.id, "m1", ("telegram", "42"), text="v1", sent_at=T0))
    for minute, text in ((1, "v2"), (2, "v3")):
        item = MessageEdit(
            message(api_account.id, "m1", ("telegram", "42"), text=text), T0 + timedelta(minutes=minute)
        )
        await apply_edit(session, item)
    stored = await session.get_one(Message, first.message_id, populate_existing=True)
    assert stored.body_text == "v3"
    versions = stored.meta["previous_versions"]
    assert [v["text"] for v in versions] == ["v1", "v2"]
    assert versions[1]["written_at"] == (T0 + timedelta(minutes=1)).isoformat()


async def test_a_redelivered_or_older_edit_changes_nothing(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    await ingest(session, message(api_account.id, "m1", ("telegram", "42"), text="v1", sent_at=T0))
    item = MessageEdit(
        message(api_account.id, "m1", ("telegram", "42"), text="v2"), T0 + timedelta(minutes=5)
    )
    assert (await apply_edit(session, item)).outcome == "updated"
    again = await apply_edit(session, item)
    assert again.outcome == "unchanged" and again.duplicate
    older = MessageEdit(
        message(api_account.id, "m1", ("telegram", "42"), text="v1.5"), T0 + timedelta(minutes=2)
    )
    assert (await apply_edit(session, older)).outcome == "stale"
    stored = await session.scalar(select(Message).execution_options(populate_existing=True))
    assert stored is not None and stored.body_text == "v2" and len(stored.meta["previous_versions"]) == 1


async def test_an_edit_of_an_unknown_message_is_ingested_as_a_new_message(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    bus = Collect()
    item = MessageEdit(message(api_account.id, "never-seen", ("telegram", "42"), text="исправлено"), T0)
    result = await apply_edit(session, item, publisher=bus)
    assert result.outcome == "created" and not result.duplicate
    stored = await session.get_one(Message, result.message_id, populate_existing=True)
    assert stored.body_text == "исправлено" and stored.edited_at == T0
    conv = await session.get_one(Conversation, result.conversation_id)
    assert conv.status == "open"
    assert await session.scalar(select(func.count()).select_from(ReportingEvent)) == 2
    assert [e.type for e in bus.events] == ["conversation.created", "message.created"]


async def test_an_edit_never_rewrites_an_outbound_message(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    first = await ingest(session, message(api_account.id, "m1", ("telegram", "42"), text="вопрос"))
    session.add(
        Message(
            conversation_id=first.conversation_id,
            account_id=api_account.id,
            direction="out",
            body_text="ответ",
            external_id="out-1",
            meta={},
        )
    )
    await session.commit()
    item = MessageEdit(message(api_account.id, "out-1", ("telegram", "42"), text="подмена"), T0)
    assert (await apply_edit(session, item)).outcome == "not_inbound"
    assert await session.scalar(select(Message.body_text).where(Message.external_id == "out-1")) == "ответ"


def test_an_edit_must_say_when_it_was_made_in_a_known_timezone() -> None:
    plain = message(1, "m1", ("telegram", "42"))
    assert MessageEdit(plain, T0).external_id == "m1"
    with pytest.raises(ValueError, match="timezone"):
        MessageEdit(plain, datetime(2026, 3, 1, 10, 0))
