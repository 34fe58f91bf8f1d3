"""A mail is identified by its Message-ID and what its sender wrote: a reused Message-ID is no redelivery."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Message
from tests.channels.email.test_ingest import email_account, take


def mail(body: str, *, received: str = "mx1.example.ru", subject: str = "Order") -> bytes:
    return (
        f"Received: from {received} by imap.example.com; Mon, 3 Mar 2025 12:00:01 +0300\r\n"
        f"Delivered-To: support@example.com\r\n"
        "From: Shop robot <robot@shop.example.ru>\r\nTo: support@example.com\r\n"
        f"Subject: {subject}\r\nDate: Mon, 3 Mar 2025 12:00:00 +0300\r\n"
        "Message-ID: <static-id@shop.example.ru>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()


async def stored_texts(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(Message.body_text).order_by(Message.id)))


async def test_a_different_mail_reusing_a_message_id_is_stored_too(session: AsyncSession) -> None:
    account = await email_account(session)
    first = await take(session, account, mail("Order 1 paid"))
    second = await take(session, account, mail("Order 2 paid", subject="Order 2"))
    assert not first.duplicate and not second.duplicate
    assert second.message_id != first.message_id
    assert await stored_texts(session) == ["Order 1 paid", "Order 2 paid"]


async def test_the_same_mail_delivered_twice_stays_one_message(session: AsyncSession) -> None:
    account = await email_account(session)
    first = await take(session, account, mail("Order 1 paid"))
    again = await take(session, account, mail("Order 1 paid", received="mx2.example.ru"))
    assert again.duplicate and again.message_id == first.message_id
    await take(session, account, mail("Order 2 paid"))
    redelivered = await take(session, account, mail("Order 2 paid", received="mx3.example.ru"))
    assert redelivered.duplicate
    assert await session.scalar(select(func.count()).select_from(Message)) == 2
