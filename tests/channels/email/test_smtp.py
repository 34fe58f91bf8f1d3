"""Replies over SMTP, against a real SMTP server (aiosmtpd) delivering into the customer's Maildir."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from channels.base import AccountContext
from channels.email.config import EmailConfigError, EmailSettings
from channels.email.connector import EmailConnector
from channels.email.smtp import OutgoingFile, build_reply, text_to_html
from channels.email.threading import ReplyTokens
from inbox.items import DeliveryError, IdentityRef, OutboundAttachment, OutboundMessage
from tests.channels.email.servers import Dovecot, MailServer, free_port

SECRET = "support-secret"


def account(smtp_port: int, **options: Any) -> AccountContext:
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "login": "support",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_security": "plain",
        "from_address": "support@example.com",
        "from_name": "Support",
    }
    base.update(options)
    return AccountContext(id=3, name="support", kind="email", options=base, secrets={"password": SECRET})


def outbound(**changes: Any) -> OutboundMessage:
    data: dict[str, Any] = {
        "outbox_id": 1,
        "message_id": 10,
        "account_id": 3,
        "conversation_id": 5,
        "idempotency_key": "okno-10-0f1e2d3c",
        "text": "Ольга, добрый день!\nЗаказ в пути.\n\n> Где мой заказ?",
        "html": None,
        "recipients": (IdentityRef("email", "customer@example.ru"),),
        "contact_name": "Ольга",
        "agent_name": "Анна",
        "subject": "Где мой заказ?",
        "in_reply_to": "CAcustomer-2@mail.gmail.com",
        "references": (
            "CAcustomer-1@mail.gmail.com",
            "c5-x.okno-9-aa@example.com",
            "CAcustomer-2@mail.gmail.com",
        ),
        "meta": {"from": "customer@example.ru", "message_id": "CAcustomer-2@mail.gmail.com"},
    }
    data.update(changes)
    return OutboundMessage(**data)


async def send(context: AccountContext, out: OutboundMessage) -> str | None:
    connector = EmailConnector(context)
    try:
        return (await connector.send(out)).external_id
    finally:
        await connector.close()


async def test_reply_reaches_the_customer_with_threading_headers_and_the_reply_token(
    mailboxes: Dovecot, smtp: MailServer
) -> None:
    context = account(smtp.port)
    external_id = await send(context, outbound())
    [mail] = mailboxes.messages("customer")
    token = ReplyTokens(SECRET.encode(), 3).make(5)
    assert (
        external_id is not None
        and external_id.startswith(f"{token}.")
        and external_id.endswith("@example.com")
    )
    assert mail["Message-ID"] == f"<{external_id}>"
    [sender] = mail["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Анна (Support)", "support@example.com")
    assert str(mail["To"]) == "Ольга <customer@example.ru>"
    assert str(mail["Subject"]) == "Re: Где мой заказ? [#5]"
    assert mail["In-Reply-To"] == "<CAcustomer-2@mail.gmail.com>"
    assert str(mail["References"]).split() == [
        "<CAcustomer-1@mail.gmail.com>",
        "<c5-x.okno-9-aa@example.com>",
        "<CAcustomer-2@mail.gmail.com>",
    ]
    [reply_to] = mail["Reply-To"].addresses
    assert reply_to.addr_spec == f"support+{token}@example.com"
    assert mail.get_content_type() == "multipart/alternative"
    plain = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert plain is not None and html is not None
    assert (
        plain.get_content().replace("\r\n", "\n").strip()
        == "Ольга, добрый день!\nЗаказ в пути.\n\n> Где мой заказ?"
    )
    assert "<blockquote>Где мой заказ?</blockquote>" in html.get_content()
    [envelope] = smtp.received
    assert envelope.mail_from == "support@example.com"
    assert smtp.auth.logins == ["support"]


async def test_a_retried_send_carries_the_same_message_id(mailboxes: Dovecot, smtp: MailServer) -> None:
    context = account(smtp.port)
    first = await send(context, outbound())
    second = await send(context, outbound())
    assert first == second
    ids = {m["Message-ID"] for m in mailboxes.messages("customer")}
    assert ids == {f"<{first}>"}  # a receiving system deduplicates on it


@pytest.mark.parametrize(
    ("recipient", "permanent", "text"),
    [
        ("tempfail@example.ru", False, "451 Greylisted, please try again later"),
        ("reject@example.ru", True, "550 <reject@example.ru>: Recipient address rejected"),
    ],
)
async def test_4xx_is_retried_and_5xx_fails_with_the_servers_words(
    smtp: MailServer, recipient: str, permanent: bool, text: str
) -> None:
    out = outbound(recipients=(IdentityRef("email", recipient),), meta={})
    with pytest.raises(DeliveryError) as err:
        await send(account(smtp.port), out)
    assert err.value.permanent is permanent
    assert text in err.value.reason.replace(" 4.7.1", "").replace(" 5.1.1", "")


async def test_unreachable_server_is_a_temporary_failure() -> None:
    with pytest.raises(DeliveryError, match="unreachable") as err:
        await send(account(free_port()), outbound())
    assert not err.value.permanent


async def test_refused_login_is_retried_with_a_hint(smtp: MailServer) -> None:
    context = account(smtp.port)
    wrong = AccountContext(
        id=3, name="support", kind="email", options=context.options, secrets={"password": "wrong"}
    )
    with pytest.raises(
        DeliveryError, match=r"SMTP login refused .* check smtp_login and smtp_password"
    ) as err:
        await send(wrong, outbound())
    assert not err.value.permanent


@pytest.mark.parametrize("security", ["starttls", "ssl"])
async def test_tls_to_the_smtp_server(
    mailboxes: Dovecot, certificate: tuple[Path, Path], security: str
) -> None:
    server = MailServer(mailboxes, tls=certificate, implicit_tls=security == "ssl")
    server.start()
    try:
        context = account(server.port, smtp_security=security, ca_file=str(certificate[0]))
        await send(context, outbound())
    finally:
        server.stop()
    assert len(mailboxes.messages("customer")) == 1


async def test_tls_with_an_unknown_certificate_is_refused(
    mailboxes: Dovecot, certificate: tuple[Path, Path]
) -> None:
    server = MailServer(mailboxes, tls=certificate, implicit_tls=True)
    server.start()
    try:
        with pytest.raises(DeliveryError, match="unreachable"):
            await send(account(server.port, smtp_security="ssl"), outbound())
    finally:
        server.stop()


# -- building the mail (no server needed) -------------------------------------------------------------


def settings(**options: Any) -> EmailSettings:
    return EmailSettings(account(25, **options))


def built(out: OutboundMessage, **options: Any) -> tuple[EmailMessage, str, list[str]]:
    return build_reply(out, settings(**options))


def test_reply_goes_to_the_reply_to_of_the_customers_last_mail() -> None:
    out = outbound(meta={"from": "olga@example.ru", "reply_to": ["orders@example.ru"]})
    assert built(out)[2] == ["orders@example.ru"]
    assert built(out, honor_reply_to=False)[2] == ["olga@example.ru"]


def test_reply_after_a_bounce_or_auto_reply_goes_to_the_card_not_the_mail_system() -> None:
    for noise in ({"bounce": {"action": "failed"}}, {"auto_reply": "X-Autoreply header"}):
        out = outbound(meta={"from": "mailer-daemon@mx.example.ru", **noise})
        assert built(out)[2] == ["customer@example.ru"]


def test_reply_never_goes_to_ourselves_or_a_no_reply_address() -> None:
    out = outbound(
        meta={"from": "noreply@shop.example.ru"},
        recipients=(IdentityRef("email", "support@example.com"), IdentityRef("email", "olga@example.ru")),
    )
    assert built(out)[2] == ["olga@example.ru"]


def test_contact_without_an_address_fails_permanently() -> None:
    out = outbound(meta={}, recipients=(IdentityRef("phone", "+79139097332"),))
    with pytest.raises(DeliveryError, match="no e-mail address") as err:
        built(out)
    assert err.value.permanent


def test_account_without_a_from_address_fails_permanently() -> None:
    context = AccountContext(id=3, name="support", kind="email", options={"login": "support"}, secrets={})
    with pytest.raises(DeliveryError, match="no from_address") as err:
        build_reply(outbound(), EmailSettings(context))
    assert err.value.permanent


def test_agents_html_is_sent_and_files_are_attached() -> None:
    out = outbound(html="<p>Заказ <b>в пути</b></p>")
    files = [OutgoingFile("Счёт № 5.pdf", "application/pdf", b"%PDF-1.4")]
    msg, _, _ = build_reply(out, settings(), files)
    html = msg.get_body(("html",))
    assert html is not None and "<b>в пути</b>" in html.get_content()
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "Счёт № 5.pdf"
    assert attachment.get_content() == b"%PDF-1.4"


def test_first_message_without_a_thread_still_carries_the_conversation_tag() -> None:
    msg, _, _ = built(outbound(subject=None, in_reply_to=None, references=()))
    assert msg["Subject"] == "[#5]"
    assert msg["In-Reply-To"] is None and msg["References"] is None


def test_only_real_message_ids_go_into_references() -> None:
    out = outbound(references=("sha256:abc", "x@y", "z@w"), in_reply_to="x@y")
    msg, _, _ = built(out)
    assert str(msg["References"]).split() == ["<z@w>", "<x@y>"]


def test_text_becomes_escaped_html_paragraphs() -> None:
    assert (
        text_to_html("a <b>\nc\n\n> q")
        == '<div dir="auto"><p>a &lt;b&gt;<br>\nc</p>\n<blockquote>q</blockquote></div>'
    )


async def test_a_reply_with_files_reaches_the_customer_with_them_attached(
    mailboxes: Dovecot, smtp: MailServer
) -> None:
    files = (
        OutboundAttachment("счёт.pdf", "application/pdf", b"%PDF-1.4 invoice"),
        OutboundAttachment("схема.png", "image/png", b"\x89PNG\r\n\x1a\nfake"),
    )
    await send(account(smtp.port), replace(outbound(), attachments=files))
    [mail] = mailboxes.messages("customer")
    attached = [
        (part.get_filename(), part.get_content_type(), part.get_content()) for part in mail.iter_attachments()
    ]
    assert attached == [
        ("счёт.pdf", "application/pdf", b"%PDF-1.4 invoice"),
        ("схема.png", "image/png", b"\x89PNG\r\n\x1a\nfake"),
    ]


@pytest.fixture
def open_relay(mailboxes: Dovecot) -> Iterator[MailServer]:
    """An SMTP server that offers no AUTH at all (a relay that trusts the hub's address)."""
    server = MailServer(mailboxes, auth=False)
    server.start()
    yield server
    server.stop()


async def test_smtp_auth_off_sends_without_logging_in(open_relay: MailServer) -> None:
    external_id = await send(account(open_relay.port, smtp_auth=False), outbound())
    assert external_id is not None
    assert len(open_relay.received) == 1
    assert open_relay.auth.logins == []


async def test_a_server_without_auth_is_reported_as_such_not_as_unreachable(open_relay: MailServer) -> None:
    with pytest.raises(DeliveryError) as err:
        await send(account(open_relay.port), outbound())
    assert "unreachable" not in err.value.reason
    assert f"SMTP server 127.0.0.1:{open_relay.port} does not offer AUTH" in err.value.reason
    assert "smtp_auth = false" in err.value.reason
    assert not err.value.permanent  # fixing the configuration delivers the queue


def test_an_empty_smtp_login_is_refused_naming_the_way_to_switch_auth_off() -> None:
    with pytest.raises(EmailConfigError, match=r"smtp_login is empty.*smtp_auth = false"):
        settings(smtp_login="")


def test_an_auto_reply_is_marked_auto_submitted_and_an_agents_reply_is_not() -> None:
    # RFC 3834 §5: another system's responder must not answer the hub's own automatic answer.
    automatic, _, _ = built(outbound(automatic=True))
    assert automatic["Auto-Submitted"] == "auto-replied"
    written, _, _ = built(outbound())
    assert written["Auto-Submitted"] is None
