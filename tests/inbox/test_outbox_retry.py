"""Sending a failed reply again (issue 15): the same outbox row and key, only from failed, audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.conversations import NotAllowed, Viewer
from inbox.items import DeliveryError
from inbox.models import AuditLog, ChannelAccount, Message, Outbox
from inbox.outbox import MessageNotFound, OutboxWorker, RetryRefused, retry_failed
from tests.inbox.test_replies_outbox import FAST, FakeChannel, reply


def admin(agent_id: int) -> Viewer:
    return Viewer(agent_id=agent_id, role="admin", team_ids=frozenset())


async def failed_reply(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, account: ChannelAccount
) -> Message:
    msg = await reply(session, account)
    broken = FakeChannel(DeliveryError("mailbox unavailable: 550 5.1.1 user unknown", permanent=True))
    await OutboxWorker(sessionmaker, lambda _id: broken, retry=FAST).run_once()
    return msg


async def test_a_failed_reply_is_sent_again_with_the_same_idempotency_key_and_audited(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, api_account: ChannelAccount
) -> None:
    msg = await failed_reply(sessionmaker, session, api_account)
    async with sessionmaker() as s:
        key = (await s.scalars(select(Outbox.idempotency_key))).one()
        assert msg.agent_id is not None
        stored, events = await retry_failed(s, admin(msg.agent_id), msg.id, actor_id=msg.agent_id)
        assert (stored.delivery_status, stored.delivery_error) == ("queued", None)
        await s.commit()
    assert [e.data["delivery_status"] for e in events] == ["queued"]
    channel = FakeChannel()
    assert await OutboxWorker(sessionmaker, lambda _id: channel, retry=FAST).run_once() == 1
    assert [out.idempotency_key for out in channel.sent] == [key]
    async with sessionmaker() as s:
        sent = await s.get_one(Message, msg.id)
        assert (sent.delivery_status, sent.delivery_error) == ("sent", None)
        [row] = (await s.scalars(select(Outbox))).all()  # the same row, not a second one
        assert (row.status, row.idempotency_key, row.attempts) == ("sent", key, 1)
        [entry] = (await s.scalars(select(AuditLog).where(AuditLog.action == "message.retry"))).all()
        assert (entry.entity, entry.entity_id, entry.actor_agent_id) == ("message", msg.id, msg.agent_id)
        assert entry.detail["error"] == "mailbox unavailable: 550 5.1.1 user unknown"


async def test_only_a_failed_reply_can_be_retried(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, api_account: ChannelAccount
) -> None:
    msg = await reply(session, api_account)  # still queued
    assert msg.agent_id is not None
    async with sessionmaker() as s:
        with pytest.raises(RetryRefused, match="has not failed"):
            await retry_failed(s, admin(msg.agent_id), msg.id, actor_id=msg.agent_id)
        inbound = await s.scalar(select(Message.id).where(Message.direction == "in"))
        assert inbound is not None
        with pytest.raises(RetryRefused, match="not a reply"):
            await retry_failed(s, admin(msg.agent_id), inbound, actor_id=msg.agent_id)
        with pytest.raises(MessageNotFound):
            await retry_failed(s, admin(msg.agent_id), msg.id + 1000, actor_id=msg.agent_id)
        assert await s.scalar(select(AuditLog.id).where(AuditLog.action == "message.retry")) is None


async def test_a_retry_needs_the_conversation_to_be_visible(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, api_account: ChannelAccount
) -> None:
    msg = await failed_reply(sessionmaker, session, api_account)
    stranger = Viewer(agent_id=10_000, role="agent", team_ids=frozenset({10_000}))
    async with sessionmaker() as s:
        with pytest.raises(NotAllowed):
            await retry_failed(s, stranger, msg.id, actor_id=10_000)
        row = (await s.scalars(select(Outbox))).one()
        assert row.status == "dead"
