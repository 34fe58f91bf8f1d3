"""The one contact matcher: who a sender or caller is, for messages and calls alike.

A sender is matched to a card by their *vouched* identities (what a platform says: a Telegram id, an
e-mail From, a caller id), against the vouched identities of cards. A *typed* identity (what a person wrote
into a form) never chooses the card: it is kept on the sender's own card as an unverified detail (an
identity row with trust "typed"), and a card that has the same value is listed as a duplicate candidate
("typed_email", "typed_phone") for an agent to decide. A sender whose vouched identities lead to several
cards joins the oldest and the others are listed as duplicate candidates too. Someone unknown gets a new
lead card holding what they showed.

:class:`Matcher` works in batches (the ingest path's group commit): :meth:`Matcher.load` fetches the cards
of every identity in the batch with one query, :meth:`Matcher.match` decides each sender in memory, and
:meth:`Matcher.record_duplicates` writes the candidates once the rows have ids (after a flush).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.items import IdentityRef
from inbox.models import Contact, DuplicateCandidate, Identity, utcnow


@dataclass(slots=True)
class Matcher:
    session: AsyncSession
    # (kind, value) → cards holding it as a vouched identity (the only ones matching uses) …
    by_identity: dict[tuple[str, str], list[Contact]] = field(default_factory=dict)
    # … and as a typed one (kept as a detail, reported as a duplicate candidate, never matched on).
    typed: dict[tuple[str, str], list[Contact]] = field(default_factory=dict)
    # (id(card), kind, value) → the card's identity row, to upgrade a typed row a sender now vouches for.
    rows: dict[tuple[int, str, str], Identity] = field(default_factory=dict)
    pairs: list[tuple[Contact, Contact, str]] = field(default_factory=list)

    async def load(self, identities: Iterable[IdentityRef]) -> None:
        """The cards of these (normalized) identities, in one query."""
        by_kind: dict[str, set[str]] = {}
        for ref in identities:
            by_kind.setdefault(ref.kind, set()).add(ref.value)
        if not by_kind:
            return
        clause = or_(*((Identity.kind == k) & Identity.value.in_(sorted(v)) for k, v in by_kind.items()))
        rows = await self.session.execute(
            select(Identity, Contact)
            .join(Contact, Contact.id == Identity.contact_id)
            .where(clause, Contact.merged_into_id.is_(None))
            .order_by(Contact.id)
        )
        for identity, contact in rows:
            key = (identity.kind, identity.value)
            table = self.typed if identity.trust == "typed" else self.by_identity
            table.setdefault(key, []).append(contact)
            self.rows[(id(contact), *key)] = identity

    def find(self, identities: Sequence[IdentityRef], *, name: str | None = None) -> Contact | None:
        """The card of these (normalized) identities, by the vouched ones only, or None. A found card keeps
        every identity shown (see the module) and takes `name` if it has none."""
        found: list[Contact] = []
        for ref in identities:
            if ref.trust == "vouched":
                for contact in self.by_identity.get((ref.kind, ref.value), ()):
                    if contact not in found:
                        found.append(contact)
        if not found:
            return None
        contact = found[0]
        for other in found[1:]:
            self._note_pair(contact, other, identities)
        if not contact.name and name:
            contact.name = name
        self._keep(contact, identities)
        return contact

    def match(
        self,
        identities: Sequence[IdentityRef],
        *,
        name: str | None,
        source_channel: str,
        source_detail: str | None = None,
        first_seen: datetime | None = None,
    ) -> Contact:
        """The card of these identities (:meth:`find`), or a new lead card holding them.

        `first_seen` dates a new card from when the client wrote or called (a call log or history imported
        later still counts its leads on their own day); never later than now."""
        found = self.find(identities, name=name)
        if found is not None:
            return found
        contact = Contact(
            name=name,
            kind="lead",
            source_channel=source_channel,
            source_detail=source_detail,
            tags=[],
            custom_fields={},
            created_at=min(first_seen, utcnow()) if first_seen is not None else utcnow(),
        )
        self.session.add(contact)
        self._keep(contact, identities)
        return contact

    def _keep(self, contact: Contact, identities: Sequence[IdentityRef]) -> None:
        for ref in identities:
            self._keep_identity(contact, ref)

    def _keep_identity(self, contact: Contact, ref: IdentityRef) -> None:
        """Keep one identity the sender showed on their card; list the cards that have it too."""
        key = (ref.kind, ref.value)
        row = self.rows.get((id(contact), *key))
        if ref.trust == "vouched":
            if row is not None:
                if row.trust != "vouched":  # a detail once typed, now vouched for (e.g. a site-signed e-mail)
                    row.trust = "vouched"
                    self.by_identity.setdefault(key, []).append(contact)
                return
            if key in self.by_identity:
                # Another card holds it (the sender matched both: listed above): not copied onto this one.
                return
            for other in self.typed.get(key, ()):
                self._note_typed(contact, other, ref)
            self._add_row(contact, ref)
            self.by_identity[key] = [contact]
            return
        for other in [*self.by_identity.get(key, ()), *self.typed.get(key, ())]:
            if other is not contact:
                self._note_typed(contact, other, ref)
        if row is None:
            self._add_row(contact, ref)
            self.typed.setdefault(key, []).append(contact)

    def _add_row(self, contact: Contact, ref: IdentityRef) -> None:
        identity = Identity(kind=ref.kind, value=ref.value, trust=ref.trust)
        if contact.id is None:
            contact.identities.append(identity)
        else:
            identity.contact_id = contact.id
            self.session.add(identity)
        self.rows[(id(contact), ref.kind, ref.value)] = identity

    def _note_pair(self, a: Contact, b: Contact, identities: Sequence[IdentityRef]) -> None:
        shown = ", ".join(f"{r.kind}:{r.value}" for r in identities if r.trust == "vouched")
        self.pairs.append((a, b, f"one sender ({shown}) matches both cards"))

    def _note_typed(self, a: Contact, b: Contact, ref: IdentityRef) -> None:
        reason = (
            f"typed_{ref.kind}: {ref.value} was typed into a form (not vouched for); the other card has it"
        )
        self.pairs.append((a, b, reason[:400]))

    async def record_duplicates(self) -> None:
        """List the pairs noted as duplicate candidates (once each); call after a flush gave cards ids."""
        wanted: dict[tuple[int, int], str] = {}
        for a, b, reason in self.pairs:
            low, high = sorted((a.id, b.id))
            if low != high:
                wanted.setdefault((low, high), reason)
        for pair in set(wanted) - await _candidates_exist(self.session, set(wanted)):
            self.session.add(
                DuplicateCandidate(contact_a_id=pair[0], contact_b_id=pair[1], reason=wanted[pair])
            )
        self.pairs.clear()


async def _candidates_exist(session: AsyncSession, pairs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Pairs already listed (in either state), so a sender seen again does not list them twice."""
    if not pairs:
        return set()
    rows = await session.execute(
        select(DuplicateCandidate.contact_a_id, DuplicateCandidate.contact_b_id).where(
            or_(
                *(
                    (DuplicateCandidate.contact_a_id == a) & (DuplicateCandidate.contact_b_id == b)
                    for a, b in pairs
                )
            )
        )
    )
    return {(a, b) for a, b in rows}
