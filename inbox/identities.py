"""Normalizing identities before they are stored or looked up.

E-mail: validated by email-validator (syntax only, no DNS) and lower-cased whole, because in practice
mailboxes are not case-sensitive and agents type them every way. The common address (one "@", a plain
ASCII dot-atom before it) has only its domain checked by email-validator, once per domain: the rest of
what it would check is the dot-atom pattern (its own) and the lengths, the same rules (about a tenth of
the ingest's CPU per message went to validating new senders' addresses whole). Phones: parsed by
phonenumbers with the configured default region (RU out of the box) and kept as E.164, so
`8 (913) 909-73-32`, `+7 913 909 73 32` and `79139097332` are one identity.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import DOT_ATOM_TEXT, EMAIL_MAX_LENGTH

from inbox.items import IDENTITY_KINDS, IdentityRef


class InvalidIdentity(ValueError):
    """A sender identity that cannot be normalized; the message names the kind and the reason."""

    def __init__(self, kind: str, value: str, reason: str) -> None:
        super().__init__(f"invalid {kind} {value!r}: {reason}")
        self.kind = kind
        self.value = value
        self.reason = reason


_NUMERIC_ID = re.compile(r"-?\d{1,20}")
_TOKEN = re.compile(r"[A-Za-z0-9_.:@\-]{1,200}")


def normalize_email(value: str) -> str:
    text = value.strip()
    local, at, domain = text.partition("@")
    if at and text.isascii() and DOT_ATOM_TEXT.match(local) and len(text) <= EMAIL_MAX_LENGTH:
        # What validate_email does with such an address: the local part as it is, the domain checked
        # and normalized, then the lengths (ASCII: one byte a character) — all but the domain here.
        normalized = _email_domain(domain)
        if normalized is not None and len(local) + 1 + len(normalized) <= EMAIL_MAX_LENGTH:
            return f"{local}@{normalized}".lower()
    try:  # anything else (and any refusal, for its reason) through email-validator whole
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidIdentity("email", value, str(exc)) from None
    return result.normalized.lower()


@functools.lru_cache(maxsize=4096)
def _email_domain(domain: str) -> str | None:
    """The normalized form of an e-mail domain as email-validator gives it, or None if it refuses it."""
    try:
        return validate_email(f"a@{domain}", check_deliverability=False).domain
    except EmailNotValidError:
        return None


def normalize_phone(value: str, region: str = "RU") -> str:
    raw = value.strip()
    digits = re.sub(r"\D", "", raw)
    # The default region first: PBXs and people in Russia write Moscow numbers as "8 495 123-45-67",
    # which read as international would be "+84…" (Vietnam). phonenumbers itself strips a country code
    # written without "+" ("79139097332" in RU); "+" + digits is the fallback for foreign numbers.
    candidates = [raw]
    if not raw.startswith("+") and len(digits) > 10:
        candidates.append("+" + digits)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    raise InvalidIdentity("phone", value, "not a valid phone number")


@functools.lru_cache(maxsize=65536)  # pure, and returning senders repeat: parsing costs more than lookup
def normalize(kind: str, value: str, region: str = "RU") -> str:
    """The stored form of one identity, or :class:`InvalidIdentity`."""
    if kind == "email":
        return normalize_email(value)
    if kind == "phone":
        return normalize_phone(value, region)
    if kind in ("telegram", "vk"):
        text = value.strip()
        if not _NUMERIC_ID.fullmatch(text):
            raise InvalidIdentity(kind, value, "expected a numeric user id")
        return str(int(text))
    if kind in ("webchat", "external"):
        text = value.strip()
        if not _TOKEN.fullmatch(text):
            raise InvalidIdentity(kind, value, "expected 1-200 letters, digits or _.:@-")
        return text
    raise InvalidIdentity(kind, value, f"unknown identity kind (known: {', '.join(IDENTITY_KINDS)})")


def normalize_ref(ref: IdentityRef, region: str = "RU") -> IdentityRef:
    return IdentityRef(ref.kind, normalize(ref.kind, ref.value, region), ref.trust)
