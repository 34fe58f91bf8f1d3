"""Mail that is not a person writing: auto-replies and bounces.

Both are stored (kind ``auto_reply`` / ``bounce``) but never auto-answered and never open a dialog of their
own. A bounce also says which of our messages failed and why (:class:`Bounce`), which
:mod:`inbox.bounces` turns into a failed delivery status.

Auto-replies (RFC 3834 and what real systems send instead): ``Auto-Submitted`` other than ``no``,
``X-Autoreply``, ``X-Autorespond``, ``X-Auto-Response-Suppress`` together with an out-of-office subject,
``Precedence: bulk | junk | auto_reply``, and out-of-office subjects in Russian and English (German too).

Bounces are recognised by their structure, never by their sender (a mail system's From is often no
address at all: ``MAILER-DAEMON (Mail Delivery System)``): a ``multipart/report;
report-type=delivery-status`` (RFC 3464), a ``message/delivery-status`` part anywhere, Exim's
``X-Failed-Recipients``, or a subject saying the mail was not delivered together with an empty
Return-Path or the original's Message-ID. The original's Message-ID comes from the attached
``message/rfc822`` or ``text/rfc822-headers`` part, or from a ``Message-ID:`` line quoted in the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import Any

from channels.email import charsets
from channels.email.threading import clean_message_id, message_ids

HeaderGetter = Callable[[str], str | None]

_OOF_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|autoresponse|out of (the )?office|"
    r"ooo\b|away from (the )?office|on vacation|vacation reply|"
    r"автоматический ответ|автоответ|автоответчик|нет на месте|вне офиса|в отпуске|"
    r"automatische antwort|abwesenheitsnotiz|réponse automatique|absence du bureau)",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"(undeliver|undelivered|delivery status notification|delivery failure|delivery has failed|"
    r"returned mail|mail delivery failed|failure notice|could not be delivered|"
    r"недоставлен|не доставлен|не может быть доставлено|ошибка доставки|"
    r"unzustellbar|nicht zustellbar)",
    re.IGNORECASE,
)
_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
_REPORTING_MTA = re.compile(r"^\s*Reporting-MTA:\s*dns;\s*([A-Za-z0-9.\-]+\.[A-Za-z]{2,})", re.I | re.M)
_QUOTED_MSGID = re.compile(r"^\s*Message-ID:\s*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_SMTP_LINE = re.compile(r"\b[45]\d\d[ -][245]\.\d{1,3}\.\d{1,3}\b.*|\b[45]\d\d\s.{4,}", re.IGNORECASE)
_SPACES = re.compile(r"\s+")

MAX_REASON = 400  # inbox.models.Message.delivery_error has room; the UI shows one line


@dataclass(frozen=True, slots=True)
class Bounce:
    """What a delivery report says. `action` is "failed" for a permanent failure, "delayed" for a warning."""

    action: str
    reason: str
    recipients: tuple[str, ...] = ()
    status: str | None = None
    message_ids: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.action == "failed"

    def to_meta(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reason": self.reason,
            "recipients": list(self.recipients),
            "status": self.status,
            "message_ids": list(self.message_ids),
        }


def one_line(text: str, limit: int = MAX_REASON) -> str:
    line = _SPACES.sub(" ", text).strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def auto_reply_reason(header: HeaderGetter, subject: str | None) -> str | None:
    """Why this mail is an automatic reply, or None if a person wrote it."""
    auto = (header("Auto-Submitted") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if header(name) is not None:
            return f"{name} header"
    precedence = (header("Precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "auto_reply", "auto-reply"):
        return f"Precedence: {precedence}"
    if subject and _OOF_SUBJECT.match(subject):
        return f"out-of-office subject: {one_line(subject, 80)}"
    return None


def _param_report_type(msg: Message) -> str:
    value = msg.get_param("report-type")
    return value.lower() if isinstance(value, str) else ""


def _walk_no_nested(msg: Message) -> Iterable[Message]:
    """The parts of `msg`, not descending into attached messages."""
    yield msg
    if msg.get_content_type() == "message/rfc822" or not msg.is_multipart():
        return
    payload = msg.get_payload()
    if isinstance(payload, list):
        for part in payload:
            if isinstance(part, Message):
                yield from _walk_no_nested(part)


def _field(block: Message, name: str) -> str:
    """A field of a delivery-status block, raw 8-bit bytes decoded (get() would turn them into U+FFFD)."""
    wanted = name.lower()
    for key, value in block.raw_items():
        if key.lower() == wanted:
            return one_line(charsets.from_surrogates(str(value)))
    return ""


def _after_type(value: str) -> str:
    """'rfc822; user@example.com' → 'user@example.com'."""
    return value.split(";", 1)[1].strip() if ";" in value else value.strip()


def _original_ids(msg: Message, texts: Iterable[str]) -> list[str]:
    found: list[str] = []
    for part in _walk_no_nested(msg):
        ctype = part.get_content_type()
        headers: Message | None = None
        if ctype == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                headers = payload[0]
        elif ctype == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
        if headers is not None:
            try:
                ident = clean_message_id(str(headers.get("Message-ID", "")))
            except Exception:
                ident = None
            if ident and ident not in found:
                found.append(ident)
    for text in texts:
        for quoted in _QUOTED_MSGID.findall(text):
            for ident in message_ids(quoted):
                if ident not in found:
                    found.append(ident)
    return found


def find_bounce(
    msg: Message,
    header: HeaderGetter,
    subject: str | None,
    texts: list[str],
) -> Bounce | None:
    """The delivery report in `msg`, or None if it is not a bounce (see the module docstring).

    `texts` are the decoded text parts (for reports that are only prose).
    """
    parts = list(_walk_no_nested(msg))
    is_report = msg.get_content_type() == "multipart/report" and _param_report_type(msg) == "delivery-status"
    has_status = any(p.get_content_type() in _STATUS_TYPES for p in parts)
    return_path = header("Return-Path")
    null_path = return_path is not None and return_path.strip() in ("<>", "")
    failed_header = header("X-Failed-Recipients")
    original_ids = _original_ids(msg, texts)
    prose = bool(subject and _BOUNCE_SUBJECT.search(subject)) and (null_path or bool(original_ids))
    if not (is_report or has_status or prose or failed_header):
        return None
    actions: list[str] = []
    recipients: list[str] = []
    statuses: list[str] = []
    reasons: list[str] = []
    for part in parts:
        if part.get_content_type() not in _STATUS_TYPES:
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            continue
        for block in blocks:
            if not isinstance(block, Message) or not block.get("Action"):
                continue
            action = _field(block, "Action").lower()
            recipient = _after_type(_field(block, "Final-Recipient") or _field(block, "Original-Recipient"))
            status = _field(block, "Status")
            diagnostic = _after_type(_field(block, "Diagnostic-Code"))
            actions.append(action)
            if recipient:
                recipients.append(recipient)
            if status:
                statuses.append(status)
            detail = diagnostic or (f"status {status}" if status else action)
            reasons.append(f"{recipient}: {detail}" if recipient else detail)
    if failed_header:
        for address in failed_header.split(","):
            if address.strip() and address.strip() not in recipients:
                recipients.append(address.strip())
    if not reasons:
        line = next((m.group(0) for t in texts for m in [_SMTP_LINE.search(t)] if m), None)
        reasons.append(line or (subject or "delivery failed"))
        if not actions:
            actions.append("failed")
    if "failed" in actions:
        action = "failed"
    elif actions:
        action = actions[0] or "failed"
    else:
        action = "failed"
    if action not in ("failed", "delayed", "delivered", "relayed", "expanded"):
        action = "failed"
    return Bounce(
        action=action,
        reason=one_line("; ".join(reasons)),
        recipients=tuple(recipients),
        status=statuses[0] if statuses else None,
        message_ids=tuple(original_ids),
    )


def reporting_domain(msg: Message, texts: Iterable[str]) -> str | None:
    """The domain of the mail system that wrote a report (its Reporting-MTA), for a sender it did not give."""
    for part in _walk_no_nested(msg):
        if part.get_content_type() not in _STATUS_TYPES:
            continue
        blocks = part.get_payload()
        for block in blocks if isinstance(blocks, list) else ():
            if isinstance(block, Message):
                found = _REPORTING_MTA.match("Reporting-MTA: " + _field(block, "Reporting-MTA"))
                if found:
                    return found.group(1).lower()
    for text in texts:
        found = _REPORTING_MTA.search(text)
        if found:
            return found.group(1).lower()
    return None
