"""What a visitor sends, as items for the one ingest path (pure functions; errors name the field).

A message's external id is ``<visitor id>:<client message id>``: the widget makes the client id before
the first attempt and keeps it across resends, so a message sent again after a lost acknowledgement is
a duplicate, never a second message; the visitor id in front keeps one visitor's ids from colliding
with (or probing) another's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from channels.base import AccountContext, PayloadError
from channels.webchat.tokens import VISITOR_ID
from inbox.identities import InvalidIdentity, normalize
from inbox.items import IdentityRef, InboundMessage, Sender

CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_NAME = 200
MAX_URL = 1000


@dataclass(frozen=True, slots=True)
class Profile:
    """What the pre-chat (or offline) form asked: a name, an e-mail, a phone; all normalized.

    A person typed them, so they are *typed* identities: kept on the visitor's card, never matched on.
    """

    name: str | None = None
    email: str | None = None
    phone: str | None = None

    def identities(self) -> tuple[IdentityRef, ...]:
        refs = []
        if self.email:
            refs.append(IdentityRef("email", self.email, "typed"))
        if self.phone:
            refs.append(IdentityRef("phone", self.phone, "typed"))
        return tuple(refs)


def _optional_text(raw: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise PayloadError(f"must be text of at most {limit} characters", name)
    return value.strip() or None


def profile(raw: Any, *, region: str = "RU") -> Profile:
    """A form's name, e-mail and phone; a wrong e-mail or phone is refused naming the field."""
    if not isinstance(raw, Mapping):
        raise PayloadError("expected an object with name, email, phone")
    found: dict[str, str | None] = {"name": _optional_text(raw, "name", MAX_NAME)}
    for kind in ("email", "phone"):
        value = _optional_text(raw, kind, 320)
        try:
            found[kind] = normalize(kind, value, region) if value else None
        except InvalidIdentity as exc:
            raise PayloadError(exc.reason, kind) from None
    return Profile(**found)


def message_text(raw: Any, max_chars: int) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise PayloadError("must not be empty", "text")
    if len(raw) > max_chars:
        raise PayloadError(f"is longer than {max_chars} characters", "text")
    if "\x00" in raw:
        raise PayloadError("contains a NUL character", "text")
    return raw


def client_id(raw: Any) -> str:
    if not isinstance(raw, str) or not CLIENT_ID.fullmatch(raw):
        raise PayloadError("must be 1-64 letters, digits, '-' or '_'", "id")
    return raw


def external_id(visitor_id: str, client_message_id: str) -> str:
    return f"{visitor_id}:{client_message_id}"


def client_id_of(external: str | None, visitor_id: str) -> str | None:
    """The widget's own id of a message this visitor sent (None for anyone else's)."""
    prefix = f"{visitor_id}:"
    return external[len(prefix) :] if external and external.startswith(prefix) else None


def visitor_message(
    *,
    account_id: int,
    visitor_id: str,
    client_message_id: str,
    text: str,
    person: Profile | None = None,
    page: str | None = None,
    subject: str | None = None,
    sent_at: datetime | None = None,
    offline_form: bool = False,
    verified: tuple[IdentityRef, ...] = (),
) -> InboundMessage:
    """One visitor message as an InboundMessage: the visitor id (vouched: the hub issued it), what the
    site signed for its logged-in user (`verified`, vouched) and the form's answers (typed)."""
    person = person or Profile()
    meta: dict[str, Any] = {"client_id": client_message_id}
    if page:
        meta["page"] = page[:MAX_URL]
    return InboundMessage(
        account_id=account_id,
        external_id=external_id(visitor_id, client_message_id),
        sender=Sender(
            (IdentityRef("webchat", visitor_id), *verified, *person.identities()), name=person.name
        ),
        text=text,
        subject=subject,
        sent_at=sent_at,
        offline_form=offline_form,
        meta=meta,
    )


def _file_item(entry: Any, account: AccountContext, region: str) -> InboundMessage:
    if not isinstance(entry, dict):
        raise PayloadError("expected a JSON object")
    visitor = entry.get("visitor_id")
    if not isinstance(visitor, str) or not VISITOR_ID.fullmatch(visitor):
        raise PayloadError("must be 16-64 letters, digits, '-' or '_'", "visitor_id")
    sent_at = None
    if entry.get("sent_at") is not None:
        try:
            sent_at = datetime.fromisoformat(str(entry["sent_at"]))
        except ValueError:
            raise PayloadError("must be an ISO 8601 time", "sent_at") from None
        if sent_at.tzinfo is None:
            raise PayloadError("needs a timezone (e.g. 2026-01-31T12:00:00Z)", "sent_at")
        sent_at = sent_at.astimezone(UTC)
    return visitor_message(
        account_id=account.id,
        visitor_id=visitor,
        client_message_id=client_id(entry.get("id")),
        text=message_text(entry.get("text"), 100_000),
        person=profile({k: entry.get(k) for k in ("name", "email", "phone")}, region=region),
        page=_optional_text(entry, "page", MAX_URL),
        sent_at=sent_at,
    )


def parse_file(
    data: bytes, name: str, *, account: AccountContext, region: str = "RU"
) -> Iterator[InboundMessage | PayloadError]:
    """`okno ingest webchat FILE.json`: one visitor message object or an array of them.

    Each object: ``visitor_id``, ``id`` (the message's id, unique per visitor), ``text``, and optional
    ``name``, ``email``, ``phone``, ``page``, ``sent_at``. Errors are yielded, not raised.
    """
    try:
        payload = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        yield PayloadError(f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        return
    except json.JSONDecodeError as exc:
        yield PayloadError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        return
    entries = payload if isinstance(payload, list) else [payload]
    for index, entry in enumerate(entries):
        try:
            yield _file_item(entry, account, region)
        except PayloadError as exc:
            refused = (
                PayloadError(f"item {index}: {exc.reason}", exc.field) if isinstance(payload, list) else exc
            )
            yield refused.with_raw(json.dumps(entry, ensure_ascii=False).encode())  # the one item
