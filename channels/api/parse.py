"""Parsing the generic API channel's JSON body into an InboundMessage (pure; errors name the field)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from channels.base import AccountContext, IdentityRefused, PayloadError
from channels.payloads import load_json
from inbox.identities import InvalidIdentity, normalize
from inbox.items import IdentityRef, InboundMessage, Sender
from inbox.timestamps import Timestamp


def _one_of_them(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [
        {"required": [name], "properties": {name: {"type": "string", "minLength": 1}}}
        for name in ("email", "phone", "external_id")
    ]


class SenderBody(BaseModel):
    """Who wrote: at least one of email, phone, external_id."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_one_of_them)
    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=40)
    external_id: str | None = Field(None, min_length=1, max_length=150, pattern=r"^[A-Za-z0-9_.:@\-]+$")


class MessageBody(BaseModel):
    """One message from any system, into the generic API channel (its JSON Schema is the API's)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    external_id: str = Field(
        min_length=1,
        max_length=200,
        description="your id of the message: sending it again is a no-op (duplicate)",
    )
    sender: SenderBody
    text: str = Field(min_length=1, max_length=100_000)
    sent_at: Timestamp | None = None


def _first_error(exc: ValidationError) -> PayloadError:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or None
    return PayloadError(err["msg"], field)


def external_identity(account_name: str, external_id: str) -> str:
    """Senders' ids of different API accounts live in one namespace, so they carry the account's name."""
    return f"{account_name}:{external_id}"


def parse_file(
    data: bytes, name: str, *, account: AccountContext, region: str = "RU"
) -> Iterator[InboundMessage | PayloadError]:
    """A JSON file with one message object or an array of them (errors are yielded, not raised)."""
    try:
        payload = load_json(data)
    except PayloadError as exc:
        yield exc
        return
    items = payload if isinstance(payload, list) else [payload]
    for index, entry in enumerate(items):
        try:
            yield parse(entry, account_id=account.id, account_name=account.name, region=region)
        except PayloadError as exc:
            refused = (
                PayloadError(f"item {index}: {exc.reason}", exc.field) if isinstance(payload, list) else exc
            )
            yield refused.with_raw(json.dumps(entry, ensure_ascii=False).encode())  # the one item


def parse(payload: Any, *, account_id: int, account_name: str, region: str = "RU") -> InboundMessage:
    """One message from the generic API; :class:`PayloadError` names what is wrong."""
    if not isinstance(payload, dict):
        raise PayloadError("expected a JSON object")
    try:
        body = MessageBody.model_validate(payload)
    except ValidationError as exc:
        raise _first_error(exc) from None
    sender = body.sender
    identities: list[IdentityRef] = []
    for kind, value in (("email", sender.email), ("phone", sender.phone)):
        if value:
            try:
                identities.append(IdentityRef(kind, normalize(kind, value, region)))  # type: ignore[arg-type]
            except InvalidIdentity as exc:
                raise IdentityRefused(exc.reason, f"sender.{kind}") from None
    if sender.external_id:
        identities.append(IdentityRef("external", external_identity(account_name, sender.external_id)))
    if not identities:
        raise PayloadError("give at least one of email, phone, external_id", "sender")
    return InboundMessage(
        account_id=account_id,
        external_id=body.external_id,
        sender=Sender(tuple(identities), name=sender.name),
        text=body.text,
        sent_at=body.sent_at,
        raw=payload,
    )
