"""An agent's changes to a client card, kept within their reach and announced to those who may see it.

Each function checks that the viewer may see the card (a card they may not see is ContactNotFound, as if
it did not exist; a card named in the request, like ``merge_id``, a ContactError naming the field), makes
the change through :mod:`inbox.contacts` (which writes the audit row), and returns the contact-level event
(:func:`inbox.visibility.contact_event`). The caller commits, then publishes.

An identity an agent adds by hand is what a person typed: it never joins a card that another live card
already holds. That is refused (:class:`IdentityTaken`, naming the other card only if the agent may see
it, so the UI can offer merging the two instead); an internal caller (the demo) may still list such a pair
as duplicates through :func:`inbox.contacts.add_identity`. None of these changes whom the web-chat widget
shows history to: that is the conversations a visitor started (:mod:`inbox.visitor_history`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import contacts
from inbox.bus import Event
from inbox.contacts import ContactError
from inbox.conversations import Viewer, visible
from inbox.identities import normalize
from inbox.models import Agent, Contact, Conversation, Identity
from inbox.visibility import can_see_contact, contact_event


async def edit_card(
    session: AsyncSession, viewer: Viewer, contact_id: int, changes: Mapping[str, Any]
) -> tuple[Contact, list[Event]]:
    """Change a card's fields (:data:`inbox.contacts.EDITABLE_FIELDS`); tags are trimmed and kept once."""
    fields = dict(changes)
    card = await contacts.get_visible_contact(session, viewer, contact_id)
    owner = fields.get("owner_id")
    if owner is not None:
        agent = await session.get(Agent, owner)
        if agent is None:
            raise ContactError(f"agent {owner} not found", "owner_id")
        if not agent.is_active:
            raise ContactError(f"agent {owner} is deactivated: choose an active agent", "owner_id")
    if "tags" in fields:
        fields["tags"] = list(dict.fromkeys(t.strip() for t in fields["tags"]))
    await contacts.update_contact(session, card, fields, viewer.agent_id)
    data = {"contact_id": card.id, "changed": sorted(fields)}
    return card, [await contact_event(session, "contact.updated", (card.id,), data)]


class IdentityTaken(ContactError):
    """The identity belongs to another live card; `other_id` is that card if the viewer may see it."""

    def __init__(self, kind: str, value: str, other_id: int | None) -> None:
        if other_id is not None:
            message = (
                f"{kind} {value} belongs to another card, #{other_id}: merge the two cards instead "
                "(a supervisor or admin can)"
            )
        else:
            message = (
                f"{kind} {value} belongs to another client's card that you cannot see; "
                "ask a supervisor to merge them"
            )
        super().__init__(message, "value")
        self.other_id = other_id


async def _owners(session: AsyncSession, contact_id: int, kind: str, value: str) -> list[int]:
    """The other live cards that hold (kind, value), oldest first."""
    rows = await session.scalars(
        select(Identity.contact_id)
        .join(Contact, Contact.id == Identity.contact_id)
        .where(
            Identity.kind == kind,
            Identity.value == value,
            Identity.contact_id != contact_id,
            Contact.merged_into_id.is_(None),
        )
        .order_by(Identity.contact_id)
    )
    return list(dict.fromkeys(rows))


async def add_card_identity(
    session: AsyncSession, viewer: Viewer, contact_id: int, kind: str, value: str, *, region: str
) -> tuple[Contact, list[Event]]:
    """Add an e-mail, phone … to a card; refused (:class:`IdentityTaken`) if another card holds it."""
    card = await contacts.get_visible_contact(session, viewer, contact_id)
    normalized = normalize(kind, value, region)
    owners = await _owners(session, card.id, kind, normalized)
    if owners:
        visible = [o for o in owners if await can_see_contact(session, viewer, o)]
        raise IdentityTaken(kind, normalized, visible[0] if visible else None)
    await contacts.add_identity(session, card, kind, value, region=region, actor_id=viewer.agent_id)
    data = {"contact_id": card.id, "changed": ["identities"]}
    return card, [await contact_event(session, "contact.updated", (card.id,), data)]


async def merge_cards(
    session: AsyncSession, viewer: Viewer, survivor_id: int, merge_id: int
) -> tuple[Contact, list[Event]]:
    """Merge card `merge_id` into `survivor_id`; both must be live cards the viewer may see."""
    await contacts.get_visible_contact(session, viewer, survivor_id)
    # Columns, not the entity: a Contact put in the identity map here would reach merge_contacts
    # without its identities loaded (session.get does not apply loader options to it again).
    other = (await session.execute(select(Contact.merged_into_id).where(Contact.id == merge_id))).first()
    if (
        other is None
        or other.merged_into_id is not None
        or not await can_see_contact(session, viewer, merge_id)
    ):
        raise ContactError(f"contact {merge_id} not found (or already merged)", "merge_id")
    card = await contacts.merge_contacts(session, survivor_id, merge_id, viewer.agent_id)
    data = {"contact_id": card.id, "merged_id": merge_id}
    return card, [await contact_event(session, "contact.merged", (card.id,), data)]


async def remove_card_identity(
    session: AsyncSession, viewer: Viewer, contact_id: int, identity_id: int
) -> tuple[Contact, list[Event]]:
    """Take an identity off a card (:func:`inbox.contacts.remove_identity` says what is refused)."""
    card = await contacts.get_visible_contact(session, viewer, contact_id)
    await contacts.remove_identity(session, card, identity_id, actor_id=viewer.agent_id)
    data = {"contact_id": card.id, "changed": ["identities"]}
    return card, [await contact_event(session, "contact.updated", (card.id,), data)]


@dataclass(frozen=True, slots=True)
class CardSummary:
    """What the merge box shows of a card beside another: who, how to reach them, how many dialogs."""

    id: int
    name: str | None
    company: str | None
    kind: str
    identities: tuple[tuple[str, str], ...]
    conversations: int  # those the viewer may see


async def card_summary(session: AsyncSession, viewer: Viewer, contact_id: int) -> CardSummary:
    """A live card the viewer may see (ContactNotFound otherwise), summed up for a merge's confirmation."""
    card = await contacts.get_visible_contact(session, viewer, contact_id)
    count = await session.scalar(
        select(func.count(Conversation.id)).where(Conversation.contact_id == card.id, visible(viewer))
    )
    return CardSummary(
        card.id,
        card.name,
        card.company,
        card.kind,
        tuple((i.kind, i.value) for i in card.identities),
        int(count or 0),
    )
