"""Visitor tokens: a random visitor id and an HMAC over it, so the hub can tell its own tokens apart.

The widget keeps the token in the visitor's localStorage and presents it on every connection; the hub
verifies it with the account's key and serves only that visitor's conversation. The token holds no
secret of its own: it is ``<visitor id>.<MAC>``, where the MAC binds the id to one channel account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_MAC_CHARS = 43  # the unpadded base64url of a SHA-256 digest


def new_visitor_id() -> str:
    """A random visitor id (144 bits), usable as an identity value as it is."""
    return secrets.token_urlsafe(18)


def _mac(key: bytes, account_id: int, visitor_id: str) -> str:
    digest = hmac.new(key, f"okno-webchat:{account_id}:{visitor_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:_MAC_CHARS]


def sign(key: bytes, account_id: int, visitor_id: str) -> str:
    """The token of `visitor_id` on the account `account_id`."""
    if not VISITOR_ID.fullmatch(visitor_id):
        raise ValueError("visitor ids are 16-64 letters, digits, '-' or '_'")
    return f"{visitor_id}.{_mac(key, account_id, visitor_id)}"


def verify(key: bytes, account_id: int, token: object) -> str | None:
    """The visitor id of a valid token of this account, else None (wrong key, account, or shape)."""
    if not isinstance(token, str) or len(token) > 200:
        return None
    visitor_id, dot, mac = token.partition(".")
    if not dot or not VISITOR_ID.fullmatch(visitor_id):
        return None
    if not hmac.compare_digest(mac.encode(), _mac(key, account_id, visitor_id).encode()):
        return None
    return visitor_id
