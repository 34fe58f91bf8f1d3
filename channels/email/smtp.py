"""Sending replies over SMTP (aiosmtplib): threading headers, a reply token, and errors agents can read.

One reply is one mail:

* ``Message-ID`` made from the outbox row's idempotency key (and the reply token), so a retry after an
  unknown outcome sends the same Message-ID, which receiving systems deduplicate; it is returned as the
  delivery's external id, so the customer's answer (In-Reply-To / References) threads by reference;
* ``In-Reply-To`` / ``References`` from the conversation's stored Message-IDs, ``Re: <subject> [#N]``
  without stacked prefixes, ``Reply-To: support+<token>@…`` (the token also threads answers from clients
  that drop the references);
* text plus an HTML alternative (the agent's sanitized HTML, or the text as simple HTML), attachments,
  and ``From: "<agent> (<from_name>)" <from_address>``.

SMTP answers map onto the outbox's retry rules: 4xx and network failures are retried with backoff; 5xx
fail the message with the server's own words, which the agent sees. Errors say what happened: a server
that cannot be reached, one that closed the connection or stopped answering, one that lacks something we
asked for (AUTH, STARTTLS) — "unreachable" only when no connection was made.
"""

from __future__ import annotations

import contextlib
import html
import logging
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from channels.email.config import EmailConfigError, EmailSettings
from channels.email.noise import one_line
from channels.email.threading import outbound_message_id, plus_address, reply_subject
from inbox.identities import InvalidIdentity, normalize_email
from inbox.items import Delivery, DeliveryError, OutboundMessage

log = logging.getLogger(__name__)

MAX_REFERENCES = (
    30  # the first and the latest: enough for every client to thread, short enough for every server
)
_NO_REPLY = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply)@", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class OutgoingFile:
    filename: str
    content_type: str
    content: bytes


def _is_message_id(value: str | None) -> bool:
    return bool(value) and "@" in (value or "") and not (value or "").startswith("sha256:")


def _references(out: OutboundMessage, own_id: str) -> list[str]:
    ids = [r for r in out.references if _is_message_id(r) and r != own_id]
    if out.in_reply_to and _is_message_id(out.in_reply_to):
        ids = [r for r in ids if r != out.in_reply_to] + [out.in_reply_to]
    if len(ids) > MAX_REFERENCES:
        ids = ids[:1] + ids[-(MAX_REFERENCES - 1) :]
    return ids


def _recipients(out: OutboundMessage, settings: EmailSettings) -> list[str]:
    """Where the reply goes: the Reply-To (else From) of the customer's last mail, else the card's address.

    The last inbound mail's addresses are not used when it was a bounce or an auto-reply: a reply must
    never go to the mail system or an autoresponder.
    """
    meta = out.meta
    preferred: list[str] = []
    if "bounce" not in meta and "auto_reply" not in meta:
        reply_to = meta.get("reply_to")
        if settings.options.honor_reply_to and isinstance(reply_to, list) and reply_to:
            preferred = [str(a) for a in reply_to]
        elif isinstance(meta.get("from"), str):
            preferred = [str(meta["from"])]
    own = (settings.from_address or "").lower()

    def usable(addresses: list[str]) -> list[str]:
        found: list[str] = []
        for candidate in addresses:
            try:
                address = normalize_email(candidate)
            except InvalidIdentity:
                continue
            if address != own and not _NO_REPLY.match(address) and address not in found:
                found.append(address)
        return found

    card = [r.value for r in out.recipients if r.kind == "email"]
    return (usable(preferred) or usable(card)[:1])[:10]


def text_to_html(text: str) -> str:
    """The plain text as simple HTML (paragraphs, line breaks, quoted lines in a blockquote)."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    out = []
    for paragraph in paragraphs:
        lines = paragraph.split("\n")
        body = "<br>\n".join(html.escape(line) for line in lines)
        if all(line.startswith(">") for line in lines):
            body = "<br>\n".join(html.escape(line.lstrip("> ")) for line in lines)
            out.append(f"<blockquote>{body}</blockquote>")
        else:
            out.append(f"<p>{body}</p>")
    return '<div dir="auto">' + "\n".join(out) + "</div>"


def _display_name(out: OutboundMessage, settings: EmailSettings) -> str:
    agent = (out.agent_name or "").strip()
    company = (settings.options.from_name or "").strip()
    if agent and company:
        return f"{agent} ({company})"
    return agent or company


def build_reply(
    out: OutboundMessage,
    settings: EmailSettings,
    files: Sequence[OutgoingFile] = (),
    now: datetime | None = None,
) -> tuple[EmailMessage, str, list[str]]:
    """The mail for `out`, its Message-ID (without brackets) and its recipients."""
    sender = settings.from_address
    if not sender:
        raise DeliveryError(
            f"account {settings.account.name!r} has no from_address: replies cannot be sent", permanent=True
        )
    recipients = _recipients(out, settings)
    if not recipients:
        raise DeliveryError("the contact has no e-mail address to reply to", permanent=True)
    domain = sender.rpartition("@")[2]
    token = settings.tokens.make(out.conversation_id) if settings.tokens else None
    message_id = outbound_message_id(out.idempotency_key, domain, token)
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = Address(_display_name(out, settings), addr_spec=sender)
    msg["To"] = [
        Address((out.contact_name or "") if i == 0 else "", addr_spec=r) for i, r in enumerate(recipients)
    ]
    tag = settings.options.subject_tag
    if out.in_reply_to or out.subject:
        msg["Subject"] = reply_subject(out.subject, out.conversation_id, tag=tag)
    else:
        msg["Subject"] = f"[#{out.conversation_id}]" if tag else ""
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = f"<{message_id}>"
    references = _references(out, message_id)
    if out.in_reply_to and _is_message_id(out.in_reply_to):
        msg["In-Reply-To"] = f"<{out.in_reply_to}>"
    if references:
        msg["References"] = " ".join(f"<{r}>" for r in references)
    if token and settings.options.reply_token_in_address:
        msg["Reply-To"] = Address(_display_name(out, settings), addr_spec=plus_address(sender, token))
    msg["X-Auto-Response-Suppress"] = "OOF, AutoReply"  # Exchange: no out-of-office answers to replies
    if out.automatic:
        msg["Auto-Submitted"] = "auto-replied"  # RFC 3834 §5: a responder's answer; none answers it back
    msg.set_content(out.text)
    msg.add_alternative(out.html or text_to_html(out.text), subtype="html")
    for file in files:
        maintype, _, subtype = file.content_type.partition("/")
        msg.add_attachment(
            file.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=file.filename,
        )
    return msg, message_id, recipients


def _smtp_error(exc: aiosmtplib.SMTPException, where: str) -> DeliveryError:
    detail = one_line(str(exc), 200)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        texts = "; ".join(f"{r.recipient}: {r.code} {one_line(r.message, 200)}" for r in exc.recipients)
        permanent = bool(codes) and all(code >= 500 for code in codes)
        return DeliveryError(f"the mail server refused the recipient: {texts}", permanent=permanent)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        # Our credentials, not this message: retried, so fixing the configuration delivers the queue.
        return DeliveryError(
            f"SMTP login refused by {where} ({exc.code} {one_line(exc.message, 200)}):"
            " check smtp_login and smtp_password"
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"SMTP server {where} answered {exc.code} {one_line(exc.message, 300)}"
        return DeliveryError(text, permanent=500 <= exc.code < 600)
    if isinstance(exc, aiosmtplib.SMTPConnectTimeoutError):
        return DeliveryError(f"SMTP server {where} unreachable: no connection within the timeout")
    if isinstance(exc, aiosmtplib.SMTPConnectError):
        return DeliveryError(f"SMTP server {where} unreachable: {detail}")
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return DeliveryError(f"SMTP server {where} stopped answering: {detail}")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return DeliveryError(f"SMTP server {where} closed the connection: {detail}")
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        # The configuration asks for what the server lacks: retried, so fixing it delivers the queue.
        return DeliveryError(f"SMTP server {where} does not support what we asked: {detail}")
    return DeliveryError(f"SMTP error with {where}: {exc.__class__.__name__}: {detail}")


def _client(settings: EmailSettings, host: str, port: int, security: str) -> aiosmtplib.SMTP:
    options = settings.options
    sender = settings.from_address or ""
    return aiosmtplib.SMTP(
        hostname=host,
        port=port,
        use_tls=security == "ssl",
        start_tls=security == "starttls",
        validate_certs=options.tls_verify,
        tls_context=settings.tls_context() if security != "plain" else None,
        timeout=options.smtp_timeout,
        # Never the default (socket.getfqdn(), a blocking DNS lookup on the event loop).
        local_hostname=options.helo_name or sender.rpartition("@")[2] or "localhost",
    )


async def _log_in(client: aiosmtplib.SMTP, where: str, login: str | None, password: str | None) -> bool:
    """AUTH when the account has a login (EHLO first if the connection has not said it); whether it did."""
    if not (login and password):
        return False
    if not client.esmtp_extensions:
        await client.ehlo()  # connect() says EHLO only for STARTTLS
    if not client.supports_extension("auth"):
        # Retried: fixing the configuration (smtp_auth = false, or TLS) delivers the queue.
        raise DeliveryError(
            f"SMTP server {where} does not offer AUTH on this connection, so we cannot log in:"
            " set smtp_auth = false if it needs no login, or use TLS (smtp_security)"
        )
    await client.login(login, password)
    return True


@contextlib.asynccontextmanager
async def _smtp_session(settings: EmailSettings) -> AsyncIterator[tuple[aiosmtplib.SMTP, str, bool]]:
    """A connected, logged-in SMTP client, its `host:port` and whether it logged in; QUIT at the end. Every
    failure is a :class:`DeliveryError` worded by what happened (refused, lost, never reached)."""
    try:
        host, port, security, login, password = settings.smtp()
    except EmailConfigError as exc:
        raise DeliveryError(str(exc)) from None
    where = f"{host}:{port}"
    client = _client(settings, host, port, security)
    connected = False
    try:
        await client.connect()
        connected = True
        if not client.esmtp_extensions:
            await client.ehlo()
        logged_in = await _log_in(client, where, login, password)
        yield client, where, logged_in
    except aiosmtplib.SMTPException as exc:
        raise _smtp_error(exc, where) from None
    except (OSError, TimeoutError) as exc:
        what = "connection lost" if connected else "unreachable"
        raise DeliveryError(f"SMTP server {where} {what}: {exc.__class__.__name__}: {exc}") from None
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()  # a mail was accepted (or not) already; QUIT is a courtesy


async def check_smtp(settings: EmailSettings) -> str:
    """The "test connection" of the sending side: connect, EHLO, AUTH when configured, QUIT — no mail is
    sent. What happened in one line; :class:`DeliveryError` worded like a failed delivery otherwise."""
    async with _smtp_session(settings) as (_, where, logged_in):
        login = settings.smtp()[3]
    done = f"logged in as {login!r}" if logged_in else "no login configured (smtp_auth off)"
    return f"SMTP {where}: answered EHLO, {done}"


async def deliver(settings: EmailSettings, msg: EmailMessage, recipients: list[str]) -> None:
    """Hand `msg` to the account's SMTP server; :class:`DeliveryError` on failure."""
    sender = settings.from_address or ""
    async with _smtp_session(settings) as (client, where, _):
        errors, _ = await client.send_message(msg, sender=sender, recipients=recipients)
        if errors:
            log.warning("SMTP %s refused some recipients of %s: %s", where, msg["Message-ID"], errors)


async def send_reply(
    settings: EmailSettings, out: OutboundMessage, files: Sequence[OutgoingFile] = ()
) -> Delivery:
    msg, message_id, recipients = build_reply(out, settings, files)
    await deliver(settings, msg, recipients)
    return Delivery(external_id=message_id, status="sent")
