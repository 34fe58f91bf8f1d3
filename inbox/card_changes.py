"""An agent's changes to a client card, kept within their reach and announced to those who may see it.

Each function checks that the viewer may see the card (a card they may not see is ContactNotFound, as if
it did not exist; a card named in the request, like ``merge_id``, a ContactError naming the field), makes
the change through :mod:`inbox.contacts` (which writes the audit row), and returns the contact-level event
(:func:`inbox.visibility.contact_event`). The caller commits, then publishes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import contacts
from inbox.bus import Event
from inbox.contacts import ContactError
from inbox.conversations import Viewer
from inbox.models import Agent, Contact
from inbox.visibility import can_see_contact, contact_event


async def edit_card(
    session: AsyncSession, viewer: Viewer, contact_id: int, changes: Mapping[str, Any]
) -> tuple[Contact, list[Event]]:
    """Change a card's fields (:data:`inbox.contacts.EDITABLE_FIELDS`); tags are trimmed and kept once."""
    fields = dict(changes)
    card = await contacts.get_visible_contact(session, viewer, contact_id)
    owner = fields.get("owner_id")
    if owner is not None and await session.get(Agent, owner) is None:
        raise ContactError(f"agent {owner} not found", "owner_id")
    if "tags" in fields:
        fields["tags"] = list(dict.fromkeys(t.strip() for t in fields["tags"]))
    await contacts.update_contact(session, card, fields, viewer.agent_id)
    data = {"contact_id": card.id, "changed": sorted(fields)}
    return card, [await contact_event(session, "contact.updated", (card.id,), data)]


async def add_card_identity(
    session: AsyncSession, viewer: Viewer, contact_id: int, kind: str, value: str, *, region: str
) -> tuple[Contact, list[Event]]:
    """Add an e-mail, phone … to a card; if another card has it too, the two are listed as duplicates."""
    card = await contacts.get_visible_contact(session, viewer, contact_id)
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
