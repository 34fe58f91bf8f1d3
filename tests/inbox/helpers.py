"""Small builders for test items (not fixtures: plain functions, so tests read as what they send)."""

from __future__ import annotations

from datetime import datetime

from inbox.items import IdentityKind, IdentityRef, InboundMessage, MessageKind, Sender


def message(
    account_id: int,
    external_id: str,
    *identities: tuple[IdentityKind, str],
    text: str = "Здравствуйте! Hello",
    name: str | None = "Иван Петров",
    references: tuple[str, ...] = (),
    kind: MessageKind = "message",
    subject: str | None = None,
    sent_at: datetime | None = None,
) -> InboundMessage:
    return InboundMessage(
        account_id=account_id,
        external_id=external_id,
        sender=Sender(tuple(IdentityRef(k, v) for k, v in identities), name=name),
        text=text,
        references=references,
        kind=kind,
        subject=subject,
        sent_at=sent_at,
    )
