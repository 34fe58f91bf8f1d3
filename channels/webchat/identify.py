"""Identity verification for sites that know their logged-in users (the way Chatwoot and Intercom do).

The site computes ``identifier_hash`` = hex HMAC-SHA256(identity secret, identifier) on its server and
passes both to the widget; the hub checks the hash in constant time with the account's
``identity_secret`` (``identity_secret_env = "VAR"``). A verified identifier is *vouched*: it may
match, and join, the card that has it. An identifier that is an e-mail address becomes a vouched
e-mail identity (a site that signs its users' e-mail addresses lets their chats join the cards of
their e-mails); any other identifier becomes ``external`` ``<account>:<identifier>``. An e-mail the
visitor merely typed next to a signed identifier stays typed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from channels.base import PayloadError
from inbox.identities import InvalidIdentity, normalize
from inbox.items import IdentityRef

IDENTIFIER = re.compile(r"[A-Za-z0-9_.:@+-]{1,128}")
HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def identifier_hash(secret: str, identifier: str) -> str:
    """What the site's server computes (and what the hub expects) for `identifier`."""
    return hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


def verified_identity(raw: Mapping[str, Any], *, secret: str | None, account_name: str) -> IdentityRef | None:
    """The vouched identity of a signed ``identifier`` in `raw`, None if none was given.

    :class:`PayloadError` naming the field for a malformed identifier, a wrong hash, or an account
    without an identity secret.
    """
    identifier, given = raw.get("identifier"), raw.get("identifier_hash")
    if identifier in (None, "") and given in (None, ""):
        return None
    if not isinstance(identifier, str) or not IDENTIFIER.fullmatch(identifier):
        raise PayloadError("must be 1-128 letters, digits or _.:@+-", "identifier")
    if not secret:
        raise PayloadError(
            "this account does not verify identities (set identity_secret_env)", "identifier_hash"
        )
    if not isinstance(given, str) or not HEX_SHA256.fullmatch(given):
        raise PayloadError("must be the hex HMAC-SHA256 of the identifier", "identifier_hash")
    if not hmac.compare_digest(identifier_hash(secret, identifier), given.lower()):
        raise PayloadError("does not match the identifier", "identifier_hash")
    if "@" in identifier:
        try:
            return IdentityRef("email", normalize("email", identifier))
        except InvalidIdentity:
            pass
    if "+" in identifier:
        raise PayloadError("must be an e-mail address or letters, digits and _.:@-", "identifier")
    return IdentityRef("external", f"{account_name}:{identifier}")
