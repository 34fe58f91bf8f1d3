"""The one door into the inbox: each inbound item type reaches its handler and comes back typed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import get_args

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.calls import CallResult
from inbox.conversation_marks import MarkResult
from inbox.dispatch import HANDLERS, Receiver, RefusedResult, UnsupportedItem, handle
from inbox.edits import EditResult
from inbox.ingest import IngestQueue, IngestResult
from inbox.items import CallEvent, ConversationMark, IdentityRef, InboundItem, MessageEdit, Refused, Sender
from inbox.models import Call, ChannelAccount, Conversation, Message, QuarantineItem
from tests.inbox.helpers import message

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
OLGA = ("telegram", "42")


@pytest.fixture
async def receiver(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[Receiver]:
    queue = IngestQueue(sessionmaker)
    await queue.start()
    yield Receiver(sessionmaker, queue)
    await queue.stop()


def test_every_inbound_item_type_has_exactly_one_handler() -> None:
    assert set(HANDLERS) == set(get_args(InboundItem))


async def test_a_new_message_goes_through_the_ingest_queue(
    receiver: Receiver, api_account: ChannelAccount
) -> None:
    result = await handle(receiver, message(api_account.id, "m1", OLGA, text="v1"))
    assert isinstance(result, IngestResult) and not result.duplicate
    assert receiver.ingest.batches == 1  # the group-commit path, not a transaction of its own


async def test_an_edit_reaches_the_edit_handler(
    receiver: Receiver, api_account: ChannelAccount, session: AsyncSession
) -> None:
    first = await handle(receiver, message(api_account.id, "m1", OLGA, text="v1", sent_at=T0))
    edit = MessageEdit(message(api_account.id, "m1", OLGA, text="v2"), T0.replace(hour=11))
    result = await receiver(edit)
    assert isinstance(result, EditResult) and result.outcome == "updated"
    assert isinstance(first, IngestResult) and result.message_id == first.message_id
    stored = await session.get_one(Message, first.message_id, populate_existing=True)
    assert stored.body_text == "v2"


async def test_a_block_reaches_the_mark_handler_and_marks_the_conversation(
    receiver: Receiver, api_account: ChannelAccount, session: AsyncSession
) -> None:
    first = await handle(receiver, message(api_account.id, "m1", OLGA))
    mark = ConversationMark(
        account_id=api_account.id,
        external_id="member:1",
        sender=Sender((IdentityRef(*OLGA),)),
        blocked=True,
        reason="The user blocked the bot",
    )
    result = await handle(receiver, mark)
    assert isinstance(result, MarkResult) and result.blocked_reason == "The user blocked the bot"
    assert isinstance(first, IngestResult) and result.conversation_id == first.conversation_id
    conv = await session.get_one(Conversation, first.conversation_id, populate_existing=True)
    assert conv.blocked_reason == "The user blocked the bot"


async def test_a_call_event_reaches_the_call_handler(receiver: Receiver, session: AsyncSession) -> None:
    pbx = ChannelAccount(name="pbx", kind="sip")
    session.add(pbx)
    await session.commit()
    call = CallEvent(
        account_id=pbx.id, call_id="c1", event_id="e1", stage="ring", at=T0,
        direction="inbound", from_number="+79139097332", to_number="+74951234567",
    )  # fmt: skip
    result = await handle(receiver, call)
    assert isinstance(result, CallResult) and result.external_call_id == "c1"
    assert await session.scalar(select(func.count()).select_from(Call)) == 1


async def test_a_refused_item_is_quarantined_and_logged_without_its_payload(
    receiver: Receiver, api_account: ChannelAccount, session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    item = Refused(api_account.id, b'{"token": "s3cret"}', "not JSON an update", position="update 17")
    with caplog.at_level(logging.DEBUG, logger="inbox.quarantine"):
        result = await handle(receiver, item)
    assert isinstance(result, RefusedResult)
    assert (result.account_id, result.reason, result.position) == (
        api_account.id,
        "not JSON an update",
        "update 17",
    )
    assert result.quarantine_id is not None and not result.duplicate
    assert "update 17" in caplog.text and "s3cret" not in caplog.text
    assert await session.scalar(select(func.count()).select_from(Message)) == 0
    assert await session.scalar(select(func.count()).select_from(QuarantineItem)) == 1


async def test_an_item_of_an_unknown_type_is_an_error_not_dropped(receiver: Receiver) -> None:
    with pytest.raises(UnsupportedItem, match="str"):
        await handle(receiver, "a stray payload")  # type: ignore[arg-type]
