"""Parsing one e-mail (bytes, RFC 5322 / MIME) into an InboundMessage — pure, and robust to real mail.

The standard library's parser does the MIME work (its compat32 policy, which reads headers only when asked;
the header values Okno uses are decoded through ``policy.default``'s header registry); around it:

* repairs before parsing: an mbox ``From`` line, header lines that lost their folding whitespace, a
  multipart whose boundary is missing or wrong (the boundary is found in the body);
* headers with raw 8-bit bytes or odd charsets are decoded by :mod:`channels.email.charsets`, RFC 2047
  words by the standard library;
* text/plain is preferred (format=flowed undone); HTML-only mail is converted to text, and the HTML is
  kept only sanitized (nh3); the quoted history of a reply is folded away from the text (the full text
  stays in ``meta["full_text"]``, the full HTML in ``html``);
* attachments and inline images become :class:`InboundAttachment` with a safe file name, or are
  recorded as refused over ``max_attachment_bytes``; the mail is ingested either way;
* auto-replies and bounces get their kind (:mod:`channels.email.noise`), threading its references and
  hint (:mod:`channels.email.threading`).

A mail that cannot be taken (no sender address at all, not a mail) raises :class:`PayloadError` with a
one-line reason. :func:`parse_file` reads a single .eml or a whole mbox for ``okno ingest email``.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

import nh3

from channels.base import AccountContext, PayloadError
from channels.email import charsets
from channels.email.config import MIB, EmailConfigError, EmailSettings
from channels.email.htmltext import html_to_text
from channels.email.noise import Bounce, auto_reply_reason, find_bounce, one_line, reporting_domain
from channels.email.quoting import fold, unflow
from channels.email.threading import (
    ReplyTokens,
    clean_message_id,
    content_id,
    is_forward_subject,
    references_of,
    subject_hint,
)
from inbox.identities import InvalidIdentity, normalize
from inbox.items import HintSource, IdentityRef, InboundAttachment, InboundMessage, MessageKind, Sender

# Column sizes of inbox.models, so PostgreSQL never refuses a value.
MAX_SUBJECT = 500
MAX_NAME = 200
MAX_FILENAME = 255
MAX_CONTENT_TYPE = 120
MAX_TEXT = 1_000_000
MAX_LISTED = 20  # addresses kept in meta per header
MAX_NESTING = 10  # multipart depth; deeper parts are ignored (a crafted mail must not exhaust the stack)

_PARSER = BytesParser(policy=policy.compat32)  # structure only: fast, lenient
_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")
_ADDRESS_HEADERS = frozenset({b"from", b"to", b"cc", b"bcc", b"reply-to", b"sender"})
# Fields whose presence further down shows the header block has not ended yet.
_KNOWN_HEADERS = frozenset(
    {
        *_ADDRESS_HEADERS,
        b"subject",
        b"date",
        b"message-id",
        b"in-reply-to",
        b"references",
        b"mime-version",
        b"content-type",
        b"content-transfer-encoding",
        b"received",
        b"return-path",
        b"thread-topic",
        b"thread-index",
        b"importance",
        b"content-language",
        b"accept-language",
        b"delivered-to",
    }
)
_BOUNDARY_LINE = re.compile(rb"^--([^\s]{1,200}?)(--)?[ \t]*\r?$", re.MULTILINE)
_CONTENT_TYPE_HEADER = re.compile(rb"(?im)^content-type[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*")
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}charset\s*=\s*["']?([A-Za-z0-9_.:\-]{1,40})""", re.IGNORECASE)
_FORWARD_MARKER = re.compile(
    r"^\s*(-{2,}\s*(forwarded message|original message follows|пересылаемое сообщение|"
    r"переадресованное сообщение|weitergeleitete nachricht|message transféré)\s*-{2,}|"
    r"begin forwarded message:|начало переадресованного сообщения:)",
    re.IGNORECASE | re.MULTILINE,
)
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)
_UNSAFE_FILENAME = re.compile(r'[<>:"|?*\x00-\x1f\x7f]')
_MBOX_FROM = re.compile(rb"^From [^\r\n]*\d{1,2}:\d\d[^\r\n]*\d{4}[^\r\n]*$", re.MULTILINE)
_MBOX_QUOTED_FROM = re.compile(rb"^>(>*From )", re.MULTILINE)
_RECIPIENT_HEADERS = (
    "To",
    "Cc",
    "Delivered-To",
    "X-Original-To",
    "Envelope-To",
    "X-Envelope-To",
    "X-Delivered-To",
)
_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "message/rfc822": ".eml",
    "application/zip": ".zip",
}


@dataclass(frozen=True, slots=True)
class ParseOptions:
    max_attachment_bytes: int = 25 * MIB
    tokens: ReplyTokens | None = None

    @classmethod
    def for_account(cls, account: AccountContext) -> ParseOptions:
        """The account's limits and reply-token key; defaults where its configuration says nothing."""
        try:
            settings = EmailSettings(account)
        except EmailConfigError:
            key = account.secrets.get("secret") or account.secrets.get("password")
            return cls(tokens=ReplyTokens(key.encode(), account.id) if key else None)
        return cls(max_attachment_bytes=settings.options.max_attachment_bytes, tokens=settings.tokens)


# -- repairs before parsing ----------------------------------------------------------------------------


def _strip_envelope(data: bytes) -> bytes:
    data = data.lstrip(b"\r\n\t ")
    if data.startswith(b"From "):
        newline = data.find(b"\n")
        data = data[newline + 1 :] if newline >= 0 else b""
    return data


def _header_block_continues(lines: list[bytes], start: int) -> list[bool]:
    """For each line from `start`: does a well-known header field follow it before the first empty line?"""
    after = [False] * len(lines)
    seen = False
    end = next((i for i in range(start, len(lines)) if not lines[i].rstrip(b"\r")), len(lines))
    for index in range(end - 1, start - 1, -1):
        after[index] = seen
        bare = lines[index].rstrip(b"\r")
        if _HEADER_LINE.match(bare):
            name = bare.split(b":", 1)[0].strip().lower()
            seen = seen or name in _KNOWN_HEADERS or name.startswith(b"x-")
    return after


def _repair_folding(data: bytes) -> bytes:
    """Re-fold header lines that lost their leading whitespace; end the header block where it ends.

    A line inside the header block that is neither a field nor a continuation is a continuation if it
    carries an encoded word (``=?utf-8?B?…?=``), continues an address list, or is followed by more
    well-known fields before the empty line (a long ``X-…`` value wrapped by an mbox exporter: cutting
    the block there would lose the subject and the sender below it); anything else means the body began
    without the empty line, which is then inserted.
    """
    lines = data.split(b"\n")
    previous_name = b""
    fixed: list[bytes] | None = None
    continues: list[bool] | None = None
    for index, line in enumerate(lines):
        bare = line.rstrip(b"\r")
        if not bare:
            break
        if bare[:1] in (b" ", b"\t"):
            continue
        match = _HEADER_LINE.match(bare)
        if match:
            previous_name = bare.split(b":", 1)[0].strip().lower()
            continue
        if fixed is None:
            fixed = list(lines)
            continues = _header_block_continues(lines, index)
        assert continues is not None
        stripped = bare.lstrip()
        continues_address = previous_name in _ADDRESS_HEADERS and (b"@" in stripped or stripped[:1] == b"<")
        if stripped.startswith(b"=?") or continues_address or continues[index]:
            fixed[index] = b" " + line
        else:
            fixed.insert(index, b"\r" if bare != line else b"")
            break
    return data if fixed is None else b"\n".join(fixed)


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = data.partition(separator)
        if found:
            return head + separator[: len(separator) // 2], body
    return data, b""


def _repair_boundary(data: bytes, msg: Message) -> Message:
    """A multipart whose boundary is missing or never used: find the boundary in the body, parse again."""
    if msg.get_content_maintype() != "multipart" or msg.is_multipart():
        return msg
    head, body = _split_head(data)
    match = _BOUNDARY_LINE.search(body)
    if match is None:
        return msg
    boundary = match.group(1)
    subtype = msg.get_content_subtype().encode("ascii", "replace") or b"mixed"
    header = b"Content-Type: multipart/" + subtype + b'; boundary="' + boundary + b'"'
    if _CONTENT_TYPE_HEADER.search(head):
        head = _CONTENT_TYPE_HEADER.sub(lambda _: header, head, count=1)
    else:
        head = head.rstrip(b"\r\n") + b"\n" + header + b"\n"
    repaired = _PARSER.parsebytes(head + b"\n" + body)
    return repaired if repaired.is_multipart() else msg


# -- headers -------------------------------------------------------------------------------------------


_ENCODED_WORD = re.compile(r"=\?([^?*\s]+)(\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")


def _known_to_python(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def _fix_encoded_words(value: str, hints: list[str | None]) -> str:
    """RFC 2047 words in charsets Python does not know (``win-1251``, ``x-unknown``), re-encoded as UTF-8."""
    if "=?" not in value:
        return value

    def fix(match: re.Match[str]) -> str:
        charset, _, encoding, payload = match.groups()
        if _known_to_python(charset):
            return match.group(0)
        try:
            if encoding.lower() == "b":
                raw = base64.b64decode(payload + "=" * (-len(payload) % 4))
            else:
                raw = quopri.decodestring(payload.replace("_", " ").encode("ascii", "replace"), header=True)
        except (ValueError, binascii.Error):
            return match.group(0)
        text = charsets.decode(raw, charset, hints)
        return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="

    return _ENCODED_WORD.sub(fix, value)


class _Headers:
    """Decoded header values: raw 8-bit bytes by charset guessing, encoded words by the standard library."""

    def __init__(self, msg: Message) -> None:
        self._msg = msg
        self._raw: dict[str, str] = {}
        for name, value in msg.raw_items():
            self._raw.setdefault(name.lower(), str(value))
        self._hints: list[str | None] | None = None

    def charset_hints(self) -> list[str | None]:
        if self._hints is None:
            hints: list[str | None] = []
            for part in _walk(self._msg, limit=20):
                charset = part.get_param("charset")
                if isinstance(charset, str) and charset not in hints:
                    hints.append(charset)
            self._hints = hints
        return self._hints

    def raw(self, name: str) -> str | None:
        value = self._raw.get(name.lower())
        if value is None:
            return None
        value = "".join(value.splitlines())
        hints = self.charset_hints()
        return _fix_encoded_words(charsets.from_surrogates(value, hints), hints)

    def text(self, name: str) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
        try:
            decoded = str(policy.default.header_factory(name, value))
        except Exception:  # the standard library's header parser on garbage: keep the raw text
            decoded = value
        return charsets.clean(decoded).strip()

    def addresses(self, name: str) -> list[tuple[str, str]]:
        """(display name, address) pairs of an address header."""
        value = self.raw(name)
        if value is None:
            return []
        # The quick parser first (the header registry's is ten times slower); the registry for what it
        # cannot read, and the registry's decoding for encoded words in the names.
        pairs = [(n, a) for n, a in getaddresses([value]) if a and "@" in a and " " not in a.strip()]
        if not pairs:
            try:
                header: Any = policy.default.header_factory(name, value)
                for address in getattr(header, "addresses", ()):
                    if isinstance(address, Address) and address.username:
                        pairs.append((address.display_name, address.addr_spec))
            except Exception:
                pairs = []
        return [(charsets.clean(_unstructured(n)).strip(), charsets.clean(a).strip()) for n, a in pairs]


# -- MIME walk -----------------------------------------------------------------------------------------


def _walk(msg: Message, limit: int = 1000, depth: int = 0) -> Iterator[Message]:
    """Parts of `msg` without descending into attached messages, at most `limit` of them."""
    yield msg
    if depth >= MAX_NESTING or msg.get_content_type() in ("message/rfc822", "message/global"):
        return
    payload = msg.get_payload() if msg.is_multipart() else None
    if isinstance(payload, list):
        count = 0
        for part in payload:
            if not isinstance(part, Message):
                continue
            for sub in _walk(part, limit, depth + 1):
                count += 1
                if count > limit:
                    return
                yield sub


def _payload_bytes(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("ascii", errors="surrogateescape")
    return b""


def _part_text(part: Message, hints: list[str | None]) -> str:
    raw = _payload_bytes(part)
    declared = part.get_param("charset")
    charset = declared if isinstance(declared, str) else None
    if charset is None and part.get_content_type() == "text/html":
        sniffed = _META_CHARSET.search(raw[:4096])
        charset = sniffed.group(1).decode("ascii") if sniffed else None
    text = charsets.decode(raw, charset, hints)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if part.get_content_type() == "text/plain" and str(part.get_param("format") or "").lower() == "flowed":
        text = unflow(text, delsp=str(part.get_param("delsp") or "").lower() == "yes")
    return charsets.clean(text)


def _unstructured(value: str) -> str:
    """Encoded words in a value outside the header registry's reach (a file name parameter)."""
    if "=?" not in value:
        return value
    try:
        return str(policy.default.header_factory("X-Okno-Value", _fix_encoded_words(value, [])))
    except Exception:
        return value


def _filename(part: Message, hints: list[str | None]) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        return None
    if name is None:
        return None
    return _unstructured(charsets.from_surrogates(str(name), hints))


def safe_filename(name: str | None, content_type: str, index: int) -> str:
    """A file name that is only a name: no directories, no control characters, no reserved names."""
    text = unicodedata.normalize("NFC", charsets.clean(name or ""))
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = _UNSAFE_FILENAME.sub("_", text).strip().strip(".").strip()
    if _WINDOWS_RESERVED.match(text):
        text = "_" + text
    if not text:
        extension = _EXTENSIONS.get(content_type, ".bin")
        return f"attachment-{index}{extension}"
    if len(text) > MAX_FILENAME:
        stem, dot, extension = text.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            text = stem[: MAX_FILENAME - len(extension) - 1] + "." + extension
        else:
            text = text[:MAX_FILENAME]
    return text


@dataclass(slots=True)
class _Content:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[InboundAttachment] = field(default_factory=list)
    attached_messages: list[Message] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # every decoded text part, for bounce reports


_REPORT_TYPES = frozenset(
    {
        "message/delivery-status",
        "message/global-delivery-status",
        "text/rfc822-headers",
        "message/disposition-notification",
    }
)


def _collect(msg: Message, max_attachment: int, hints: list[str | None]) -> _Content:
    content = _Content()
    for part in _walk(msg):
        ctype = part.get_content_type()
        if part.get_content_maintype() == "multipart":
            if not part.is_multipart():  # a multipart without usable boundaries: show its raw text
                text = _part_text(part, hints)
                content.texts.append(text)
                content.plain.append(text)
            continue
        if ctype in _REPORT_TYPES:
            content.texts.append(_part_text(part, hints))
            continue
        disposition = part.get_content_disposition()
        filename = _filename(part, hints)
        if ctype in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            nested = inner[0] if isinstance(inner, list) and inner else None
            if isinstance(nested, Message):
                content.attached_messages.append(nested)
                subject = _Headers(nested).text("Subject") or ""
                name = filename or f"{subject[:100] or 'message'}.eml"
                try:
                    data = nested.as_bytes()
                except Exception:
                    data = _payload_bytes(part)
                _attach(content, name, ctype, data, max_attachment)
            continue
        body_candidate = ctype in ("text/plain", "text/html") and disposition != "attachment"
        if body_candidate and filename and (content.plain or content.html):
            body_candidate = False  # a named text part after the body is a file (Apple Mail inlines them)
        if body_candidate:
            text = _part_text(part, hints)
            content.texts.append(text)
            (content.plain if ctype == "text/plain" else content.html).append(text)
            continue
        _attach(content, filename, ctype, _payload_bytes(part), max_attachment)
    return content


def _attach(content: _Content, name: str | None, ctype: str, data: bytes, limit: int) -> None:
    filename = safe_filename(name, ctype, len(content.attachments) + 1)
    ctype = ctype[:MAX_CONTENT_TYPE]
    if len(data) > limit:
        refused = f"larger than the limit of {limit} bytes ({len(data)} bytes)"
        content.attachments.append(InboundAttachment(filename, ctype, len(data), refused=refused))
    else:
        content.attachments.append(InboundAttachment(filename, ctype, len(data), content=data))


def _nested_text(nested: Message, hints: list[str | None]) -> str:
    """An attached (forwarded) message as text: its main headers, then its body."""
    headers = _Headers(nested)
    content = _collect(nested, 0, hints)
    body = "\n\n".join(t for t in content.plain if t.strip())
    if not body.strip() and content.html:
        body = html_to_text("\n".join(content.html))
    lines = [
        f"{name}: {value}" for name in ("From", "Date", "Subject", "To") if (value := headers.text(name))
    ]
    return "\n".join(["---------- Forwarded message ----------", *lines, "", body.strip()])


def sanitize_html(html: str) -> str:
    """The mail's HTML with scripts, styles, handlers and unsafe URLs removed (nh3), for showing to agents."""
    cleaned = nh3.clean(html, clean_content_tags={"script", "style", "title", "head", "template"})
    return charsets.clean(str(cleaned)).strip()


# -- the message ---------------------------------------------------------------------------------------


def _mail_system(headers: _Headers, msg: Message, texts: list[str]) -> tuple[Sender, str] | None:
    """The sender of a delivery report whose From is no address (``MAILER-DAEMON (Mail Delivery System)``):
    the mail system's daemon at the reporting domain (its Reporting-MTA, else its Message-ID's domain)."""
    domains = [reporting_domain(msg, texts)]
    ident = clean_message_id(headers.raw("Message-ID"))
    if ident and "@" in ident:
        domains.append(ident.rpartition("@")[2])
    for domain in domains:
        if not domain:
            continue
        try:
            value = normalize("email", f"mailer-daemon@{domain}")
        except InvalidIdentity:
            continue
        return Sender((IdentityRef("email", value),), name="Mail Delivery System"), value
    return None


def _display(name: str) -> str | None:
    """A display name without the quotes around it (only a pair: a quote inside the name stays)."""
    shown = name.strip()
    if len(shown) >= 2 and shown[0] == shown[-1] and shown[0] in "\"'":
        shown = shown[1:-1].strip()
    return " ".join(shown.split()) or None


def _sender(
    headers: _Headers,
    bounce: Bounce | None = None,
    msg: Message | None = None,
    texts: list[str] | None = None,
) -> tuple[Sender, str]:
    problems: list[str] = []
    for name in ("From", "Sender", "Reply-To", "Return-Path"):
        for display, address in headers.addresses(name):
            try:
                value = normalize("email", address)
            except InvalidIdentity as exc:
                problems.append(f"{name} {address!r}: {exc.reason}")
                continue
            shown = _display(display)
            if shown and shown.lower() == value:
                shown = None
            return Sender((IdentityRef("email", value),), name=shown[:MAX_NAME] if shown else None), value
    if bounce is not None and msg is not None:
        daemon = _mail_system(headers, msg, texts or [])
        if daemon is not None:
            return daemon
    raw_from = headers.raw("From")
    if problems:
        raise PayloadError(f"no usable sender address ({problems[0]})")
    if raw_from:
        raise PayloadError(f"no usable sender address (From: {one_line(raw_from, 120)!r})")
    raise PayloadError("no sender: the mail has no From header")


def _date(headers: _Headers) -> datetime | None:
    value = headers.raw("Date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    if parsed > datetime.now(UTC) + timedelta(days=1) or parsed.year < 1980:
        return None  # a sender's broken clock must not break waiting times and SLAs
    return parsed


def _addresses_only(pairs: list[tuple[str, str]]) -> list[str]:
    out: list[str] = []
    for _, address in pairs[:MAX_LISTED]:
        lowered = address.lower()
        if lowered not in out:
            out.append(lowered)
    return out


def _defects(msg: Message) -> list[str]:
    names: set[str] = set()
    for part in _walk(msg, limit=50):
        names.update(d.__class__.__name__ for d in getattr(part, "defects", ()))
    return sorted(names)[:10]


def _content_digest(headers: _Headers, data: bytes) -> str:
    """What the sender wrote (From, To, Date, Subject, body), not what mail systems added on the way
    (Received, Delivered-To): the same mail delivered twice has the same digest."""
    _, body = _split_head(data)
    parts = [(headers.raw(n) or "").encode("utf-8", "replace") for n in ("From", "To", "Date", "Subject")]
    return content_id([*parts, body])


def _identity(headers: _Headers, data: bytes) -> tuple[str, str | None]:
    """The external id (the Message-ID, else the content digest) and the content key that tells apart
    two different mails with one Message-ID (senders reuse them: broken scripts, copied templates)."""
    digest = _content_digest(headers, data)
    ident = clean_message_id(headers.raw("Message-ID"))
    if ident:
        return charsets.clean(ident), digest.removeprefix("sha256:")[:32]
    return digest, None


def parse(data: bytes, *, account_id: int, options: ParseOptions | None = None) -> InboundMessage:
    """One mail as an InboundMessage; :class:`PayloadError` (one line) if it cannot be taken."""
    options = options or ParseOptions()
    data = _strip_envelope(data)
    if not data.strip():
        raise PayloadError("empty message")
    try:
        return _parse(data, account_id, options)
    except PayloadError:
        raise
    except RecursionError:
        raise PayloadError("the MIME structure is nested too deeply") from None
    except Exception as exc:  # never crash an import or the receive loop on one mail: name the problem
        raise PayloadError(
            f"cannot parse the mail: {exc.__class__.__name__}: {one_line(str(exc), 200)}"
        ) from None


def _parse(data: bytes, account_id: int, options: ParseOptions) -> InboundMessage:
    data = _repair_folding(data)
    msg = _PARSER.parsebytes(data)
    if not msg.keys():
        raise PayloadError("not an e-mail message: no header fields at the start")
    msg = _repair_boundary(data, msg)
    headers = _Headers(msg)
    # Unfolding leaves the fold's tab in the subject (RFC 5322 keeps the whitespace); one space reads right.
    subject = " ".join((headers.text("Subject") or "").split()) or None
    if subject:
        subject = subject[:MAX_SUBJECT]
    hints = headers.charset_hints()
    content = _collect(msg, options.max_attachment_bytes, hints)
    bounce = find_bounce(msg, headers.text, subject, content.texts)
    sender, sender_address = _sender(headers, bounce, msg, content.texts)
    text = "\n\n".join(t.strip("\n") for t in content.plain if t.strip())
    html_source = "\n".join(content.html) if content.html else None
    if not text.strip() and html_source:
        text = html_to_text(html_source)
    folded = fold(text)
    references = references_of(headers.raw("In-Reply-To"), headers.raw("References"))
    attached_ids = {
        ident
        for m in content.attached_messages
        if (ident := clean_message_id(str(m.get("Message-ID") or ""))) is not None
    }
    forwarded = (
        is_forward_subject(subject)
        or bool(attached_ids & set(references))
        or bool(_FORWARD_MARKER.search(folded.shown))
    )
    if content.attached_messages and (forwarded or not text.strip()):
        nested = "\n\n".join(_nested_text(m, hints) for m in content.attached_messages[:5])
        text = f"{text.rstrip()}\n\n{nested}".strip() if text.strip() else nested

    kind: MessageKind = "message"
    meta: dict[str, Any] = {
        "message_id": clean_message_id(headers.raw("Message-ID")),
        "from": sender_address,
        "to": _addresses_only(headers.addresses("To")),
    }
    cc = _addresses_only(headers.addresses("Cc"))
    if cc:
        meta["cc"] = cc
    reply_to = _addresses_only(headers.addresses("Reply-To"))
    if reply_to:
        meta["reply_to"] = reply_to
    if bounce is not None:
        kind = "bounce"
        meta["bounce"] = bounce.to_meta()
        # The report threads to the conversation of the mail it reports on.
        references = tuple(dict.fromkeys([*bounce.message_ids, *references]))
    else:
        reason = auto_reply_reason(headers.text, subject)
        if reason is not None:
            kind = "auto_reply"
            meta["auto_reply"] = reason
    if kind == "message" and not forwarded and folded.folded:
        meta["full_text"] = text
        text = folded.shown
    hint: int | None = None
    hint_source: HintSource | None = None
    if forwarded and kind == "message":
        meta["forwarded"] = True
        references = ()
    else:
        if options.tokens is not None:
            recipients = [headers.raw(n) or "" for n in _RECIPIENT_HEADERS]
            hint = options.tokens.find([*recipients, *references])
            if hint is not None:
                hint_source = "reply_token"  # signed: only Okno can have written it
        if hint is None:
            hint = subject_hint(subject)
            if hint is not None:
                hint_source = "subject_tag"  # anyone can type "[#N]"
    if len(text) > MAX_TEXT:
        meta["truncated_from"] = len(text)
        text = text[: MAX_TEXT - 100] + f"\n\n[… cut: the text had {len(text)} characters]"
    defects = _defects(msg)
    if defects:
        meta["defects"] = defects
    html = sanitize_html(html_source) if html_source and html_source.strip() else None
    external_id, content_key = _identity(headers, data)
    return InboundMessage(
        account_id=account_id,
        external_id=external_id,
        content_key=content_key,
        sender=sender,
        text=charsets.clean(text),
        html=html,
        subject=subject,
        sent_at=_date(headers),
        attachments=tuple(content.attachments),
        references=references,
        conversation_hint=hint,
        hint_source=hint_source,
        kind=kind,
        meta=_clean_meta(meta),
        raw=data,
    )


def _clean_meta(value: Any) -> Any:
    """Every string in `meta` safe for the database (machine-written reports carry raw bytes too)."""
    if isinstance(value, str):
        return charsets.clean(value)
    if isinstance(value, dict):
        return {k: _clean_meta(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_meta(v) for v in value]
    return value


# -- files ---------------------------------------------------------------------------------------------


def split_mbox(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(line number, mail bytes) for each mail of an mbox; a file not starting with "From " is one mail.

    Separators are "From " lines that carry a time and a year (``From - Mon Jan  1 00:00:00 2024``,
    ``From user@example.com Sat Jan 03 01:05:34 +0000 2015``); ``>From`` quoting (mboxrd) is undone.
    """
    if not data.startswith(b"From "):
        yield 1, data
        return
    starts = [m.start() for m in _MBOX_FROM.finditer(data)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    line = 1
    previous = 0
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(data)
        line += data.count(b"\n", previous, start)
        previous = start
        chunk = data[start:end]
        yield line, _MBOX_QUOTED_FROM.sub(rb"\1", chunk)


def parse_file(
    data: bytes, name: str, *, account: AccountContext, region: str = "RU"
) -> Iterator[InboundMessage | PayloadError]:
    """`okno ingest email FILE`: a .eml file or an mbox; a mail that cannot be taken yields a PayloadError."""
    if not data.strip():
        yield PayloadError("empty file")
        return
    options = ParseOptions.for_account(account)
    mails = list(split_mbox(data)) if data.startswith(b"From ") else [(1, data)]
    several = len(mails) > 1
    for number, (line, mail) in enumerate(mails, start=1):
        try:
            yield parse(mail, account_id=account.id, options=options)
        except PayloadError as exc:
            refused = PayloadError(f"mail {number} (line {line}): {exc.reason}") if several else exc
            yield refused.with_raw(mail)  # the one mail, for the quarantine
