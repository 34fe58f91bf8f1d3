"""Read markers (inbox.reads): opening a conversation reads it for that agent alone; a new client message
makes it unread again; the agent's own replies and notes are never unread; markers never move back; the
agent's time zone is an IANA name or refused."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.agents import AgentError, create_agent, set_timezone, time_zone
from inbox.ingest import ingest
from inbox.models import Agent, ChannelAccount, Conversation, ConversationRead
from inbox.policy import InboxPolicy
from inbox.reads import last_read, mark_read, unread_counts
from inbox.replies import add_reply
from tests.inbox.helpers import message

HASH = "not-a-real-hash"  # these agents never log in: no argon2 in the tests
CLIENT = ("email", "client@example.ru")


async def world(session: AsyncSession) -> tuple[int, Agent, Agent]:
    """An account, a conversation with one client message, and two agents."""
    account = ChannelAccount(name="support", kind="api")
    session.add(account)
    await session.flush()
    result = await ingest(session, message(account.id, "m-1", CLIENT, text="Где мой заказ?"))
    anna = await create_agent(
        session, email="anna@okno.ru", name="Anna", password="x" * 8, password_hash=HASH
    )
    boris = await create_agent(
        session, email="boris@okno.ru", name="Boris", password="x" * 8, password_hash=HASH
    )
    await session.commit()
    return result.conversation_id, anna, boris


async def test_every_client_message_is_unread_until_the_agent_opens_the_conversation(
    session: AsyncSession,
) -> None:
    conv_id, anna, _ = await world(session)
    account_id = (await session.scalars(select(ChannelAccount.id))).one()
    await ingest(session, message(account_id, "m-2", CLIENT, text="Алло?"))
    await session.commit()
    assert await unread_counts(session, anna.id, [conv_id]) == {conv_id: 2}

    marker = await mark_read(session, anna.id, conv_id)
    await session.commit()
    assert marker > 0 and await last_read(session, anna.id, conv_id) == marker
    assert await unread_counts(session, anna.id, [conv_id]) == {}


async def test_a_new_client_message_is_unread_again_for_the_agent_who_read_it(session: AsyncSession) -> None:
    conv_id, anna, _ = await world(session)
    await mark_read(session, anna.id, conv_id)
    await session.commit()
    account_id = (await session.scalars(select(ChannelAccount.id))).one()
    await ingest(session, message(account_id, "m-2", CLIENT, text="Есть новости?"))
    await session.commit()
    assert await unread_counts(session, anna.id, [conv_id]) == {conv_id: 1}


async def test_reading_is_per_agent(session: AsyncSession) -> None:
    conv_id, anna, boris = await world(session)
    await mark_read(session, anna.id, conv_id)
    await session.commit()
    assert await unread_counts(session, anna.id, [conv_id]) == {}
    assert await unread_counts(session, boris.id, [conv_id]) == {conv_id: 1}


async def test_replies_and_notes_are_never_unread(session: AsyncSession) -> None:
    conv_id, anna, boris = await world(session)
    await mark_read(session, boris.id, conv_id)
    await session.commit()
    conv = await session.get_one(Conversation, conv_id)
    await add_reply(session, conv, anna, "Уже едет", policy=InboxPolicy())
    await add_reply(session, conv, anna, "Проверить СДЭК", note=True, policy=InboxPolicy())
    await session.commit()
    assert await unread_counts(session, boris.id, [conv_id]) == {}


async def test_a_marker_never_moves_back(session: AsyncSession) -> None:
    conv_id, anna, _ = await world(session)
    latest = await mark_read(session, anna.id, conv_id)
    await session.commit()
    # An older marker arriving late (a slow request) keeps the newer one.
    await session.execute(
        update(ConversationRead)
        .where(ConversationRead.agent_id == anna.id)
        .values(last_read_message_id=latest + 10)
    )
    await session.commit()
    await mark_read(session, anna.id, conv_id)
    await session.commit()
    assert await last_read(session, anna.id, conv_id) == latest + 10


async def test_the_agents_time_zone_is_an_iana_name_or_refused(session: AsyncSession) -> None:
    _, anna, _ = await world(session)
    assert time_zone(" Asia/Vladivostok ") == "Asia/Vladivostok"
    for bad in ("Mars/Olympus", "", "../etc/passwd", "Europe/Moscow/x", "+03:00"):
        with pytest.raises(AgentError) as refused:
            time_zone(bad)
        assert refused.value.field == "timezone"
    assert await set_timezone(session, anna.id, "Asia/Vladivostok") == "Asia/Vladivostok"
    await session.commit()
    await session.refresh(anna)
    assert anna.timezone == "Asia/Vladivostok"
    assert await set_timezone(session, anna.id, None) is None
