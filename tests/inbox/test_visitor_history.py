"""What a web-chat visitor reads back: their own conversations, their messages and released replies only."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.agents import create_agent
from inbox.ingest import ingest
from inbox.models import Agent, ChannelAccount, Conversation, Message
from inbox.policy import InboxPolicy
from inbox.replies import add_reply
from inbox.visitor_history import conversations_of, current_agent, mark_delivered, messages_of, visitor_typing
from tests.inbox.helpers import message

POLICY = InboxPolicy()


async def chat(session: AsyncSession) -> tuple[ChannelAccount, int, int]:
    """A widget where visitors v1 and v2 each wrote once; returns the account and both conversations."""
    widget = ChannelAccount(name="site", kind="webchat")
    session.add(widget)
    await session.flush()
    one = await ingest(session, message(widget.id, "v1:c1", ("webchat", "v1"), text="Здравствуйте"))
    two = await ingest(session, message(widget.id, "v2:c1", ("webchat", "v2"), text="чужое"))
    return widget, one.conversation_id, two.conversation_id


async def answer(session: AsyncSession, conversation_id: int, text: str, *, note: bool = False) -> Message:
    """A reply (or note) by Анна, who is made the first time."""
    agent = await session.scalar(select(Agent).where(Agent.email == "anna@okno.ru"))
    if agent is None:
        agent = await create_agent(
            session, email="anna@okno.ru", name="Анна", password="long-password", password_hash="not-a-hash"
        )
    conv = await session.get_one(Conversation, conversation_id)
    reply, _ = await add_reply(session, conv, agent, text, note=note, policy=POLICY)
    return reply


async def test_visitor_reads_only_own_messages_and_released_replies(session: AsyncSession) -> None:
    widget, mine, _theirs = await chat(session)
    queued = await answer(session, mine, "ещё в очереди")
    sent = await answer(session, mine, "отправлено")
    sent.delivery_status = "sent"
    await answer(session, mine, "заметка для своих", note=True)
    await session.commit()
    convs = await conversations_of(session, widget.id, "v1")
    assert [c.id for c in convs] == [mine]
    shown = await messages_of(session, [c.id for c in convs])
    assert [m.body_text for m in shown] == ["Здравствуйте", "отправлено"]
    assert queued.id not in [m.id for m in shown]
    assert await current_agent(session, convs) == "Анна"  # the first reply took the dialog


async def test_seen_replies_turn_delivered_once_and_only_in_the_visitors_conversations(
    session: AsyncSession,
) -> None:
    _, mine, theirs = await chat(session)
    own = await answer(session, mine, "вам")
    other = await answer(session, theirs, "не вам")
    own.delivery_status = other.delivery_status = "sent"
    await session.commit()
    events = await mark_delivered(session, [mine], [own.id, other.id])
    await session.commit()
    assert [(e.type, e.data["message_id"], e.conversation_id) for e in events] == [
        ("message.delivery", own.id, mine)
    ]
    await session.refresh(own)
    await session.refresh(other)
    assert (own.delivery_status, other.delivery_status) == ("delivered", "sent")
    assert await mark_delivered(session, [mine], [own.id]) == []  # only once


async def test_visitor_typing_reaches_the_queue_of_their_latest_conversation(session: AsyncSession) -> None:
    _, mine, _ = await chat(session)
    [typing] = await visitor_typing(session, [mine], True)
    assert (typing.type, typing.conversation_id, typing.data) == (
        "conversation.typing",
        mine,
        {"from": "visitor", "on": True},
    )
    assert await visitor_typing(session, [], True) == []
