"""Parsed mail through the real ingest path: threading, noise that opens no dialog, bounces, idempotency."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import AccountContext
from channels.email.parse import ParseOptions, parse, parse_file
from channels.email.threading import ReplyTokens
from inbox.agents import create_agent
from inbox.bounces import apply_bounce, mark_failed
from inbox.ingest import IngestResult, ingest
from inbox.models import Attachment, ChannelAccount, Conversation, Message, utcnow
from inbox.policy import InboxPolicy
from inbox.replies import add_reply
from tests.channels.email.conftest import fixture

POLICY = InboxPolicy()
KEY = b"account-secret"


async def email_account(session: AsyncSession) -> ChannelAccount:
    account = ChannelAccount(name="support", kind="email")
    session.add(account)
    await session.commit()
    return account


async def take(session: AsyncSession, account: ChannelAccount, data: bytes) -> IngestResult:
    item = parse(data, account_id=account.id, options=ParseOptions(tokens=ReplyTokens(KEY, account.id)))
    return await ingest(session, item, POLICY)


async def sent_reply(session: AsyncSession, conversation_id: int, external_id: str) -> Message:
    """An agent's reply as the outbox leaves it after the SMTP server took it."""
    agent = await create_agent(session, email="anna@example.com", name="Анна", password="long-password")
    conv = await session.get_one(Conversation, conversation_id)
    message, _ = await add_reply(session, conv, agent, "Заказ в пути", policy=POLICY)
    message.external_id = external_id
    message.delivery_status = "sent"
    message.sent_at = utcnow()
    await session.commit()
    return message


FIRST = (
    b"From: Olga <olga@example.ru>\r\nTo: support@example.com\r\nSubject: Where is my order\r\n"
    b"Message-ID: <first@example.ru>\r\n\r\nHello\r\n"
)


def answer(headers: str, body: str = "Спасибо!") -> bytes:
    return (
        "From: Olga <olga@example.ru>\r\nTo: support@example.com\r\nSubject: Re: Where is my order\r\n"
        f"{headers}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


async def resolve(session: AsyncSession, conversation_id: int) -> None:
    conv = await session.get_one(Conversation, conversation_id)
    conv.status, conv.resolved_at = "resolved", utcnow()
    await session.commit()


async def test_answer_to_our_reply_joins_by_reference_even_when_the_dialog_was_resolved(
    session: AsyncSession,
) -> None:
    account = await email_account(session)
    first = await take(session, account, FIRST)
    await sent_reply(session, first.conversation_id, "c1-x.okno-1@example.com")
    await resolve(session, first.conversation_id)
    again = await take(
        session, account, answer("Message-ID: <a1@example.ru>\r\nIn-Reply-To: <c1-x.okno-1@example.com>")
    )
    assert again.conversation_id == first.conversation_id
    conv = await session.get_one(Conversation, first.conversation_id)
    await session.refresh(conv)
    assert conv.status == "open"


async def test_answer_that_lost_its_references_joins_by_the_reply_token(session: AsyncSession) -> None:
    account = await email_account(session)
    first = await take(session, account, FIRST)
    await resolve(session, first.conversation_id)
    token = ReplyTokens(KEY, account.id).make(first.conversation_id)
    data = fixture("reply_token_only.eml").replace(b"{token}", token.encode())
    assert (await take(session, account, data)).conversation_id == first.conversation_id


async def test_answer_with_only_the_subject_tag_joins_the_conversation(session: AsyncSession) -> None:
    account = await email_account(session)
    first = await take(session, account, FIRST)
    await resolve(session, first.conversation_id)
    data = fixture("reply_subject_tag.eml").replace(b"{n}", str(first.conversation_id).encode())
    assert (await take(session, account, data)).conversation_id == first.conversation_id


async def test_forward_of_a_thread_starts_a_new_conversation(session: AsyncSession) -> None:
    account = await email_account(session)
    first = await take(session, account, FIRST)
    await sent_reply(session, first.conversation_id, "okno-out-1@example.com")
    forwarded = await take(session, account, fixture("forward_inline.eml"))  # References our reply
    assert forwarded.conversation_id != first.conversation_id


async def test_new_mail_without_marks_opens_a_new_conversation_after_resolution(
    session: AsyncSession,
) -> None:
    account = await email_account(session)
    first = await take(session, account, FIRST)
    await resolve(session, first.conversation_id)
    other = await take(session, account, answer("Message-ID: <new-topic@example.ru>", "Другой вопрос"))
    assert other.conversation_id != first.conversation_id


async def test_auto_reply_joins_the_thread_without_reopening_it(session: AsyncSession) -> None:
    account = await email_account(session)
    first = await take(session, account, FIRST)
    await sent_reply(session, first.conversation_id, "okno-out-1@example.com")
    await resolve(session, first.conversation_id)
    result = await take(session, account, fixture("autoreply_x_autoreply.eml"))
    assert result.conversation_id == first.conversation_id
    conv = await session.get_one(Conversation, first.conversation_id)
    await session.refresh(conv)
    assert conv.status == "resolved"


async def test_auto_reply_and_bounce_without_a_thread_never_open_a_dialog(session: AsyncSession) -> None:
    account = await email_account(session)
    for name in ("autoreply_auto_submitted_like.eml", "bounce_dsn_ours.eml"):
        data = (
            fixture("autoreply_subject_en.eml").replace(b"In-Reply-To: <okno-out-1@example.com>\r\n", b"")
            if name.startswith("autoreply")
            else fixture(name)
        )
        result = await take(session, account, data)
        conv = await session.get_one(Conversation, result.conversation_id)
        assert conv.status == "resolved", name


async def test_bounce_naming_our_message_marks_it_failed_with_the_reason(session: AsyncSession) -> None:
    account = await email_account(session)
    first = await take(session, account, FIRST)
    ours = await sent_reply(session, first.conversation_id, "okno-test-outbound-1@example.com")
    bounce = await take(session, account, fixture("bounce_dsn_ours.eml"))
    assert bounce.conversation_id == first.conversation_id  # it threads by the original's Message-ID
    stored = await session.get_one(Message, bounce.message_id)
    # What the ingest path does for a stored bounce (nothing is left to do once it does it itself).
    events = await apply_bounce(session, stored)
    await session.commit()
    await session.refresh(ours)
    assert ours.delivery_status == "failed"
    assert ours.delivery_error == (
        "bounced: olga@example.ru: 550 5.1.1 <olga@example.ru>: Recipient address rejected: User unknown"
    )
    assert all(e.data["message_id"] == ours.id for e in events)
    assert await apply_bounce(session, stored) == []  # the same report twice changes nothing


async def test_marking_failed_publishes_the_delivery_status(session: AsyncSession) -> None:
    account = await email_account(session)
    first = await take(session, account, FIRST)
    ours = await sent_reply(session, first.conversation_id, "okno-out-9@example.com")
    events = await mark_failed(
        session, account_id=account.id, message_ids=["okno-out-9@example.com", "unknown@x"], reason="550 gone"
    )
    assert [(e.type, e.conversation_id, e.data) for e in events] == [
        (
            "message.delivery",
            first.conversation_id,
            {
                "message_id": ours.id,
                "delivery_status": "failed",
                "error": "bounced: 550 gone",
                "bounced": True,
            },
        )
    ]


async def test_delayed_report_does_not_fail_the_message(session: AsyncSession) -> None:
    account = await email_account(session)
    first = await take(session, account, FIRST)
    ours = await sent_reply(session, first.conversation_id, "okno-test-outbound-1@example.com")
    result = await take(session, account, fixture("bounce_delayed.eml"))
    assert await apply_bounce(session, await session.get_one(Message, result.message_id)) == []
    await session.refresh(ours)
    assert ours.delivery_status == "sent"


async def test_bounces_touch_only_outbound_messages_of_the_same_account(session: AsyncSession) -> None:
    account = await email_account(session)
    other = ChannelAccount(name="other", kind="email")
    session.add(other)
    await session.commit()
    first = await take(session, account, FIRST)
    events = await mark_failed(session, account_id=other.id, message_ids=["first@example.ru"], reason="x")
    assert events == []
    events = await mark_failed(session, account_id=account.id, message_ids=["first@example.ru"], reason="x")
    assert events == []  # an inbound message is never marked failed
    message = await session.get_one(Message, first.message_id)
    assert message.delivery_status is None


async def test_the_same_mail_twice_is_stored_once(session: AsyncSession) -> None:
    account = await email_account(session)
    for name in ("reply_gmail_ru.eml", "no_message_id.eml"):
        first = await take(session, account, fixture(name))
        again = await take(session, account, b"Received: by mx2\r\n" + fixture(name))
        assert again.duplicate and again.message_id == first.message_id
    assert await session.scalar(select(func.count()).select_from(Message)) == 2


async def test_attachments_are_stored_with_refused_ones_recorded(session: AsyncSession) -> None:
    account = await email_account(session)
    context = AccountContext(
        id=account.id, name="support", kind="email", options={"max_attachment_bytes": 2048}
    )
    [item] = list(parse_file(fixture("attachments.eml"), "attachments.eml", account=context))
    assert not isinstance(item, Exception)
    result = await ingest(session, item, POLICY)
    rows = (await session.scalars(select(Attachment).where(Attachment.message_id == result.message_id))).all()
    assert len(rows) == 6
    refused = [r for r in rows if r.refused]
    assert [(r.filename, r.sha256) for r in refused] == [("Прайс.xls", None)]
    assert all(r.sha256 for r in rows if not r.refused)
