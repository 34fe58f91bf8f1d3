"""Delivery reports are recognised by their structure, not by a sender that is often no address at all."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from channels.email.parse import ParseOptions, parse
from inbox.ingest import ingest
from inbox.models import Message
from inbox.policy import InboxPolicy
from tests.channels.email.conftest import fixture
from tests.channels.email.test_ingest import FIRST, email_account, sent_reply, take


@pytest.mark.parametrize(
    ("name", "original", "daemon"),
    [
        ("bounce_from_daemon_comment.eml", "okno-chanfix-outbound-1@example.com", "relay.example.net"),
        ("bounce_from_empty_quoted.eml", "okno-chanfix-outbound-2@example.com", "mx2.example.org"),
        ("bounce_from_empty_address.eml", "okno-chanfix-outbound-3@example.com", "gw.example.com"),
    ],
)
def test_bounce_without_a_sender_address_is_a_bounce_from_the_reporting_mail_system(
    name: str, original: str, daemon: str
) -> None:
    item = parse(fixture(name), account_id=1, options=ParseOptions())
    assert item.kind == "bounce"
    assert item.meta["bounce"]["action"] == "failed"
    assert item.meta["bounce"]["message_ids"] == [original]
    assert item.sender.identities[0].value == f"mailer-daemon@{daemon}"
    assert original in item.references  # it threads to the conversation of the mail it reports on


def test_a_person_writing_about_delivery_is_not_a_bounce() -> None:
    mail = (
        b"From: Olga <olga@example.ru>\r\nTo: support@example.com\r\nSubject: Undelivered parcel\r\n"
        b"Message-ID: <p1@example.ru>\r\n\r\nMy parcel could not be delivered, what now?\r\n"
    )
    item = parse(mail, account_id=1, options=ParseOptions())
    assert item.kind == "message"


async def test_bounce_from_mailer_daemon_without_an_address_marks_our_reply_failed(
    session: AsyncSession,
) -> None:
    account = await email_account(session)
    first = await take(session, account, FIRST)
    ours = await sent_reply(session, first.conversation_id, "okno-chanfix-outbound-1@example.com")
    item = parse(fixture("bounce_from_daemon_comment.eml"), account_id=account.id, options=ParseOptions())
    result = await ingest(session, item, InboxPolicy())
    assert result.conversation_id == first.conversation_id
    await session.refresh(ours)
    stored = await session.get_one(Message, result.message_id)
    assert stored.kind == "bounce"
    assert ours.delivery_status == "failed"
    assert (
        ours.delivery_error == "bounced: ivan@example.org: 550 5.1.1 <ivan@example.org>: mailbox unavailable"
    )
