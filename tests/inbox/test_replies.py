"""What a reply decides besides its text: who takes the conversation, which account it goes through."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.agents import create_agent
from inbox.ingest import ingest
from inbox.items import IdentityRef, InboundMessage, Sender
from inbox.models import AuditLog, ChannelAccount, Conversation, Team
from inbox.policy import InboxPolicy
from inbox.replies import add_reply, reply_account
from tests.inbox.helpers import message

POLICY = InboxPolicy()
HASH = "not-a-real-hash"  # these agents never log in: no argon2 in the tests


async def team_dialog(session: AsyncSession) -> tuple[int, Conversation]:
    """An unassigned dialog in the Sales queue; returns the team id and the conversation."""
    team = Team(name="Sales")
    session.add(team)
    await session.flush()
    account = ChannelAccount(name="shop", kind="api", team_id=team.id)
    session.add(account)
    await session.flush()
    result = await ingest(session, message(account.id, "in-1", ("email", "client@mail.ru")))
    conv = await session.get_one(Conversation, result.conversation_id)
    assert (conv.team_id, conv.assignee_id) == (team.id, None)
    return team.id, conv


async def test_reply_that_takes_a_conversation_tells_teammates(session: AsyncSession) -> None:
    team_id, conv = await team_dialog(session)
    anna = await create_agent(
        session, email="anna@okno.ru", name="Анна", password="long-password", password_hash=HASH
    )
    _, events = await add_reply(session, conv, anna, "Добрый день!", policy=POLICY)
    await session.commit()
    assert conv.assignee_id == anna.id
    assigned = [(e.team_id, e.assignee_id) for e in events if e.type == "conversation.assigned"]
    # The new audience (Anna) and the old one (the Sales queue, where teammates still list it).
    assert assigned == [(team_id, anna.id), (team_id, None)]
    assert events[0].type == "message.created"
    audit = await session.scalar(select(AuditLog).where(AuditLog.action == "conversation.assign"))
    assert audit is not None and (audit.actor_agent_id, audit.entity_id) == (anna.id, conv.id)
    assert audit.detail["before"] == {"conversation_id": conv.id, "team_id": team_id, "assignee_id": None}


async def test_reply_to_a_taken_conversation_or_a_note_assigns_nothing(session: AsyncSession) -> None:
    _, conv = await team_dialog(session)
    anna = await create_agent(
        session, email="anna@okno.ru", name="Анна", password="long-password", password_hash=HASH
    )
    _, note_events = await add_reply(session, conv, anna, "VIP", note=True, policy=POLICY)
    assert conv.assignee_id is None
    await add_reply(session, conv, anna, "Добрый день!", policy=POLICY)
    _, events = await add_reply(session, conv, anna, "Ещё вопрос?", policy=POLICY)
    await session.commit()
    assert [e.type for e in note_events + events] == ["message.created", "message.created"]
    audits = await session.scalars(select(AuditLog.id).where(AuditLog.action == "conversation.assign"))
    assert len(list(audits)) == 1


async def test_offline_form_message_is_answered_through_the_named_mail_account(session: AsyncSession) -> None:
    widget = ChannelAccount(name="site", kind="webchat")
    mail = ChannelAccount(name="mail", kind="email")
    session.add_all([widget, mail])
    await session.flush()
    fallback = {widget.id: mail.id}

    def visitor(external_id: str, *, offline: bool) -> InboundMessage:
        return InboundMessage(
            account_id=widget.id,
            external_id=external_id,
            sender=Sender((IdentityRef("webchat", "visitor-1"), IdentityRef("email", "olga@mail.ru"))),
            text="Перезвоните мне",
            meta={"offline_form": True} if offline else {},
        )

    result = await ingest(session, visitor("visitor-1:c1", offline=True))
    conv = await session.get_one(Conversation, result.conversation_id)
    assert await reply_account(session, conv, offline_form_mail=fallback) == mail.id
    assert await reply_account(session, conv) == widget.id  # the widget names no mail account
    await ingest(session, visitor("visitor-1:c2", offline=False))  # back in the chat
    assert await reply_account(session, conv, offline_form_mail=fallback) == widget.id
