"""Visitor tokens: a random visitor id, when it was issued, and an HMAC over both.

The widget keeps the token in the visitor's localStorage and presents it on every connection; the hub
verifies it with the account's key and serves only that visitor's conversations. The token holds no
secret of its own: it is ``<visitor id>.<issued, unix seconds>.<MAC>``, where the MAC binds the id and
the time to one channel account. A token lives `lifetime` seconds (90 days by default): an expired one
starts a new visitor. Past half its life it is renewed on use (the hub hands back a fresh one, which
the widget keeps), so a visitor who returns now and then keeps their history.

Tokens issued before expiry existed (``<visitor id>.<MAC>``) are still honoured, and always renewed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_ISSUED = re.compile(r"\d{1,12}")
_MAC_CHARS = 43  # the unpadded base64url of a SHA-256 digest
DEFAULT_LIFETIME = 90 * 86400.0


def new_visitor_id() -> str:
    """A random visitor id (144 bits), usable as an identity value as it is."""
    return secrets.token_urlsafe(18)


def _mac(key: bytes, account_id: int, visitor_id: str, issued: int | None) -> str:
    message = f"okno-webchat:{account_id}:{visitor_id}"
    if issued is not None:
        message += f":{issued}"
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:_MAC_CHARS]


def sign(key: bytes, account_id: int, visitor_id: str, now: float) -> str:
    """The token of `visitor_id` on the account `account_id`, issued at `now` (unix seconds)."""
    if not VISITOR_ID.fullmatch(visitor_id):
        raise ValueError("visitor ids are 16-64 letters, digits, '-' or '_'")
    issued = int(now)
    return f"{visitor_id}.{issued}.{_mac(key, account_id, visitor_id, issued)}"


@dataclass(frozen=True, slots=True)
class Checked:
    """A valid token's visitor, and whether it is past half its life (to be renewed)."""

    visitor_id: str
    renew: bool


def verify(
    key: bytes, account_id: int, token: object, *, now: float, lifetime: float = DEFAULT_LIFETIME
) -> Checked | None:
    """The visitor of a valid, unexpired token of this account, else None (wrong key, account, shape,
    or too old)."""
    if not isinstance(token, str) or len(token) > 200:
        return None
    parts = token.split(".")
    if len(parts) == 2:  # issued before tokens expired: honoured once more, and renewed
        visitor_id, mac = parts
        issued = None
    elif len(parts) == 3 and _ISSUED.fullmatch(parts[1]):
        visitor_id, mac = parts[0], parts[2]
        issued = int(parts[1])
    else:
        return None
    if not VISITOR_ID.fullmatch(visitor_id):
        return None
    if not hmac.compare_digest(mac.encode(), _mac(key, account_id, visitor_id, issued).encode()):
        return None
    if issued is None:
        return Checked(visitor_id, renew=True)
    age = now - issued
    if age >= lifetime or age < -300:  # expired, or from the future (a clock far off: start afresh)
        return None
    return Checked(visitor_id, renew=age >= lifetime / 2)


def current(
    key: bytes, account_id: int, token: object, *, now: float, lifetime: float = DEFAULT_LIFETIME
) -> tuple[str, str] | None:
    """The visitor of a valid token and the token to hand back: the same one, or a renewed one past
    half its life. None if the token is not valid (the caller starts a new visitor)."""
    checked = verify(key, account_id, token, now=now, lifetime=lifetime)
    if checked is None:
        return None
    if checked.renew:
        return checked.visitor_id, sign(key, account_id, checked.visitor_id, now)
    assert isinstance(token, str)
    return checked.visitor_id, token
