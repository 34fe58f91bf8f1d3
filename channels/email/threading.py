"""E-mail threading: Message-IDs, references, reply subjects and Okno's reply token.

An inbound mail is threaded by the domain (`inbox.ingest`) in this order, from what is decided here:

1. ``references``: the mail's In-Reply-To, then its References newest first — matched against the
   external ids of every stored message of the account, ours (the Message-ID we sent) and theirs;
2. ``conversation_hint``: a reply token found in the recipients (``support+c42-1f0e…@example.com``, from
   the Reply-To of our reply) or in a referenced Message-ID (``<c42-1f0e….okno-…@example.com>``),
   else a ``[#42]`` in the subject;
3. otherwise the contact's open conversation, or a new one.

The token is ``c<conversation id>-<10 hex digits of an HMAC>``: the HMAC (keyed with the account's
``secret``, else its password) covers the account and conversation ids, so a guessed or edited token is
ignored. A forwarded mail gets neither references nor a hint: it starts a conversation of its own.

External ids are Message-IDs without angle brackets; a mail without a usable Message-ID gets
``sha256:<hex>`` of its content, so fetching it again (or importing it twice) is still idempotent.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

MAX_ID = 500  # inbox.models.Message.external_id
MAX_REFERENCES = 100

_MSGID = re.compile(r"<([^<>\s]{1,998})>")
_BARE_MSGID = re.compile(r"^[^<>\s@]+@[^<>\s@]+$")
_TOKEN = re.compile(r"(?<![0-9a-z])c(\d{1,18})-([0-9a-f]{10})(?![0-9a-f])", re.IGNORECASE)
_SUBJECT_TAG = re.compile(r"\[#(\d{1,18})\]")
# Reply and forward prefixes in the languages our users' clients speak, with counters ("Re[2]:", "RE (3):").
_PREFIX = re.compile(
    r"^\s*(re|fwd?|fw|aw|wg|sv|vs|antw|rif|tr|ответ|отв|пересл|перес|переслано)"
    r"\s*(\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)
_FORWARD_PREFIX = re.compile(
    r"^\s*(fwd?|fw|wg|tr|пересл|перес|переслано)\s*(\[\d+\])?\s*[:：]", re.IGNORECASE
)


def clean_message_id(value: str | None) -> str | None:
    """The Message-ID in a header value, without angle brackets; None if there is none."""
    if not value:
        return None
    found = _MSGID.search(value)
    if found:
        ident = found.group(1)
    else:
        bare = value.strip()
        if not _BARE_MSGID.match(bare):
            return None
        ident = bare
    return ident if len(ident) <= MAX_ID else None


def message_ids(value: str | None) -> list[str]:
    """Every Message-ID in a References / In-Reply-To value, in order."""
    if not value:
        return []
    found = [m for m in _MSGID.findall(value) if len(m) <= MAX_ID]
    if not found:
        single = clean_message_id(value)
        return [single] if single else []
    return found


def content_id(parts: Iterable[bytes]) -> str:
    """The external id of a mail without a usable Message-ID: a hash of what identifies its content."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.replace(b"\r\n", b"\n"))
        digest.update(b"\x00")
    return "sha256:" + digest.hexdigest()


def references_of(in_reply_to: str | None, references: str | None) -> tuple[str, ...]:
    """In-Reply-To first, then References newest first; no duplicates, at most MAX_REFERENCES."""
    ordered: list[str] = []
    for ident in [*message_ids(in_reply_to), *reversed(message_ids(references))]:
        if ident not in ordered:
            ordered.append(ident)
        if len(ordered) >= MAX_REFERENCES:
            break
    return tuple(ordered)


# -- subjects -----------------------------------------------------------------------------------------


def strip_prefixes(subject: str) -> str:
    """The subject without any stack of reply/forward prefixes ("RE: Fwd: AW: Ответ: x" → "x")."""
    previous = None
    text = subject.strip()
    while previous != text:
        previous = text
        text = _PREFIX.sub("", text, count=1).strip()
    return text


def is_forward_subject(subject: str | None) -> bool:
    return bool(subject and _FORWARD_PREFIX.match(subject))


def subject_hint(subject: str | None) -> int | None:
    """The conversation number of a ``[#N]`` tag in the subject (the last one if several)."""
    if not subject:
        return None
    found = _SUBJECT_TAG.findall(subject)
    return int(found[-1]) if found else None


def reply_subject(subject: str | None, conversation_id: int | None, *, tag: bool = True) -> str:
    """``Re: <subject> [#N]``: one ``Re:``, whatever prefixes and tags the subject had collected."""
    base = _SUBJECT_TAG.sub("", strip_prefixes(subject or "")).strip()
    base = re.sub(r"\s{2,}", " ", base)
    text = f"Re: {base}" if base else "Re:"
    if tag and conversation_id is not None:
        text = f"{text} [#{conversation_id}]"
    return text


# -- reply tokens -------------------------------------------------------------------------------------


class ReplyTokens:
    """Makes and checks the signed reply tokens of one account."""

    def __init__(self, key: bytes, account_id: int) -> None:
        self._key = key
        self._account_id = account_id

    def _sign(self, conversation_id: int) -> str:
        mac = hmac.new(self._key, f"okno-reply:{self._account_id}:{conversation_id}".encode(), "sha256")
        return mac.hexdigest()[:10]

    def make(self, conversation_id: int) -> str:
        return f"c{conversation_id}-{self._sign(conversation_id)}"

    def find(self, texts: Iterable[str]) -> int | None:
        """The conversation id of the first valid token in `texts` (addresses, Message-IDs)."""
        for text in texts:
            for match in _TOKEN.finditer(text):
                conversation_id = int(match.group(1))
                if hmac.compare_digest(match.group(2).lower(), self._sign(conversation_id)):
                    return conversation_id
        return None


def plus_address(address: str, token: str) -> str:
    """``support@example.com`` + token → ``support+<token>@example.com``."""
    local, _, domain = address.rpartition("@")
    return f"{local}+{token}@{domain}" if local else address


def outbound_message_id(idempotency_key: str, domain: str, token: str | None) -> str:
    """Our Message-ID (without brackets): stable for one outbox row, carrying the reply token.

    The idempotency key enters as a short hash, so the header fits one line (a folded Message-ID is
    legal, but not every parser takes it).
    """
    key = hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]
    left = f"{token}.{key}" if token else f"okno.{key}"
    return f"{left}@{domain}"
