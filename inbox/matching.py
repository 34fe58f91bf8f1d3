"""The one contact matcher: who a sender or caller is, for messages and calls alike.

A sender is matched to a card by their *vouched* identities (what a platform says: a Telegram id, an
e-mail From, a caller id), against the vouched identities of cards. A *typed* identity (what a person wrote
into a form) never chooses the card: it is kept on the sender's own card as an unverified detail (an
identity row with trust "typed"), and a card that has the same value is listed as a duplicate candidate
("typed_email", "typed_phone") for an agent to decide. A sender whose vouched identities lead to several
cards joins the oldest and the others are listed as duplicate candidates too. Someone unknown gets a new
lead card holding what they showed.

The rules live once, in :class:`_Rules`, over cards of either shape:

* :class:`Matcher` (calls) works on ORM ``Contact`` objects: a new card and its identity rows are added
  to the session and written by its next flush.
* :class:`CardMatcher` (the ingest path's group commit) works on plain :class:`Card` records and writes
  with Core statements (:meth:`CardMatcher.write`: one multi-row INSERT … RETURNING for the new cards,
  one for their identity rows, one UPDATE per kind of change), which is several times cheaper per sender
  than the ORM's unit of work.

Both work in batches: ``load`` fetches the cards of every identity in the batch with one query, ``match``
decides each sender in memory, and ``record_duplicates`` writes the candidates once the cards have ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Table, bindparam, func, insert, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import attributes
from sqlalchemy.orm.util import identity_key

from inbox import pg_raw
from inbox.bulk import Step, run_steps
from inbox.items import IdentityRef
from inbox.lists import Statements, dialect_of, in_list, pairs_in
from inbox.models import Contact, DuplicateCandidate, Identity, utcnow
from inbox.pg_bulk import insert_rows, pair_params, per_pair, update_rows

C = TypeVar("C")
Key = tuple[str, str]  # (kind, normalized value)

CONTACTS = cast(Table, Contact.__table__)
IDENTITIES = cast(Table, Identity.__table__)
DUPLICATES = cast(Table, DuplicateCandidate.__table__)

# Built once, reused (a reused statement keeps its memoized cache key; see inbox.lists).
_INSERT_CONTACTS = insert(CONTACTS).returning(CONTACTS.c.id, sort_by_parameter_order=True)
_INSERT_IDENTITIES = insert(IDENTITIES)
_VOUCH = update(IDENTITIES).where(IDENTITIES.c.id == bindparam("row_id")).values(trust="vouched")
_RENAME = (
    update(CONTACTS)
    .where(CONTACTS.c.id == bindparam("card_id"))
    .values(name=bindparam("new_name"), updated_at=bindparam("at", type_=CONTACTS.c.updated_at.type))
)


class _Rules(Generic[C]):
    """The matching rules (see the module), over cards of type `C`; subclasses store what they decide."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # (kind, value) → cards holding it as a vouched identity (the only ones matching uses) …
        self.by_identity: dict[Key, list[C]] = {}
        # … and as a typed one (kept as a detail, reported as a duplicate candidate, never matched on).
        self.typed: dict[Key, list[C]] = {}
        # (id(card), kind, value) → the trust of the card's row (typed rows a sender vouches for go up).
        self.trust: dict[tuple[int, str, str], str] = {}
        self.pairs: list[tuple[C, C, str]] = []

    # What a subclass stores: ------------------------------------------------------------------------
    def _card_id(self, card: C) -> int | None:
        raise NotImplementedError

    def _card_name(self, card: C) -> str | None:
        raise NotImplementedError

    def _rename(self, card: C, name: str) -> None:
        raise NotImplementedError

    def _new_card(
        self, name: str | None, source_channel: str, source_detail: str | None, created_at: datetime
    ) -> C:
        raise NotImplementedError

    def _add_row(self, card: C, ref: IdentityRef) -> None:
        raise NotImplementedError

    def _vouch(self, card: C, key: Key) -> None:
        raise NotImplementedError

    # The rules: -----------------------------------------------------------------------------------
    def _loaded(self, card: C, kind: str, value: str, trust: str) -> None:
        """One identity row read from the database (in card order: the oldest card first)."""
        table = self.typed if trust == "typed" else self.by_identity
        table.setdefault((kind, value), []).append(card)
        self.trust[(id(card), kind, value)] = trust

    def find(self, identities: Sequence[IdentityRef], *, name: str | None = None) -> C | None:
        """The card of these (normalized) identities, by the vouched ones only, or None. A found card keeps
        every identity shown (see the module) and takes `name` if it has none."""
        found: list[C] = []
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
        if not self._card_name(contact) and name:
            self._rename(contact, name)
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
    ) -> C:
        """The card of these identities (:meth:`find`), or a new lead card holding them.

        `first_seen` dates a new card from when the client wrote or called (a call log or history imported
        later still counts its leads on their own day); never later than now."""
        found = self.find(identities, name=name)
        if found is not None:
            return found
        created_at = min(first_seen, utcnow()) if first_seen is not None else utcnow()
        contact = self._new_card(name, source_channel, source_detail, created_at)
        self._keep(contact, identities)
        return contact

    def _keep(self, contact: C, identities: Sequence[IdentityRef]) -> None:
        for ref in identities:
            self._keep_identity(contact, ref)

    def _keep_identity(self, contact: C, ref: IdentityRef) -> None:
        """Keep one identity the sender showed on their card; list the cards that have it too."""
        key = (ref.kind, ref.value)
        trust = self.trust.get((id(contact), *key))
        if ref.trust == "vouched":
            if trust is not None:
                if trust != "vouched":  # a detail once typed, now vouched for (e.g. a site-signed e-mail)
                    self.trust[(id(contact), *key)] = "vouched"
                    self._vouch(contact, key)
                    self.by_identity.setdefault(key, []).append(contact)
                return
            if key in self.by_identity:
                # Another card holds it (the sender matched both: listed above): not copied onto this one.
                return
            for other in self.typed.get(key, ()):
                self._note_typed(contact, other, ref)
            self._keep_row(contact, ref)
            self.by_identity[key] = [contact]
            return
        for other in [*self.by_identity.get(key, ()), *self.typed.get(key, ())]:
            if other is not contact:
                self._note_typed(contact, other, ref)
        if trust is None:
            self._keep_row(contact, ref)
            self.typed.setdefault(key, []).append(contact)

    def _keep_row(self, contact: C, ref: IdentityRef) -> None:
        self.trust[(id(contact), ref.kind, ref.value)] = ref.trust
        self._add_row(contact, ref)

    def _note_pair(self, a: C, b: C, identities: Sequence[IdentityRef]) -> None:
        shown = ", ".join(f"{r.kind}:{r.value}" for r in identities if r.trust == "vouched")
        self.pairs.append((a, b, f"one sender ({shown}) matches both cards"))

    def _note_typed(self, a: C, b: C, ref: IdentityRef) -> None:
        reason = (
            f"typed_{ref.kind}: {ref.value} was typed into a form (not vouched for); the other card has it"
        )
        self.pairs.append((a, b, reason[:400]))

    async def record_duplicates(self) -> None:
        """List the pairs noted as duplicate candidates (once each); call once the cards have ids."""
        wanted: dict[tuple[int, int], str] = {}
        for a, b, reason in self.pairs:
            a_id, b_id = self._card_id(a), self._card_id(b)
            if a_id is None or b_id is None:
                raise RuntimeError("record_duplicates() before the new cards were written")
            low, high = sorted((a_id, b_id))
            if low != high:
                wanted.setdefault((low, high), reason)
        new = sorted(set(wanted) - await _candidates_exist(self.session, set(wanted)))
        if new:
            now = utcnow()
            await self.session.execute(
                insert(DUPLICATES),
                [
                    {
                        "contact_a_id": a,
                        "contact_b_id": b,
                        "reason": wanted[(a, b)],
                        "status": "open",
                        "created_at": now,
                    }
                    for a, b in new
                ],
            )
        self.pairs.clear()


def _wanted(identities: Iterable[IdentityRef]) -> set[Key]:
    """The (kind, value) pairs asked for."""
    return {(ref.kind, ref.value) for ref in identities}


def _identity_query(session: AsyncSession, built: Statements, wanted: set[Key]) -> tuple[Any, dict[str, Any]]:
    """The identity SELECT `built` makes and its parameters for these pairs: a kinds × values pair of
    lists on SQLite, the pairs themselves on PostgreSQL (see inbox.lists)."""
    statement = built(session)
    if dialect_of(session) == "postgresql":
        by_kind: dict[str, set[str]] = {}
        for kind, value in wanted:
            by_kind.setdefault(kind, set()).add(value)
        if built is _IDENTITY_ROWS:  # the pairs bound as arrays (see inbox.pg_bulk.per_pair)
            return statement, pair_params(by_kind)
        return statement.where(pairs_in(IDENTITIES.c.kind, IDENTITIES.c.value, by_kind)), {}
    return statement, {"kinds": sorted({k for k, _ in wanted}), "values": sorted({v for _, v in wanted})}


def _identity_lists(dialect: str) -> list[Any]:
    """The two lists' conditions (SQLite), or none: PostgreSQL's are added per batch."""
    if dialect == "postgresql":
        return []
    return [in_list(IDENTITIES.c.kind, "kinds", dialect), in_list(IDENTITIES.c.value, "values", dialect)]


def _live(dialect: str) -> Any:
    """The card is not merged into another. On SQLite marked likely (true for nearly every card): with the
    lists read by json_each (see inbox.lists), SQLite without statistics would otherwise walk every live
    card by ix_contacts_merged_into_id instead of looking up the batch's identities by (kind, value)."""
    live = Contact.merged_into_id.is_(None)
    return func.likely(live) if dialect == "sqlite" else live


def _identity_rows(dialect: str) -> Any:
    """Every identity row of the kinds and values asked for, with its live card: one statement shape for
    any batch (see inbox.lists); the pairs asked for are picked out of the kinds × values in Python. On
    PostgreSQL one search of the (kind, value) index per pair asked for (inbox.pg_bulk.per_pair)."""
    if dialect == "postgresql":  # the pairs asked for, bound as arrays (see inbox.pg_bulk.per_pair)
        found = per_pair(
            select(
                Identity.id,
                Identity.kind,
                Identity.value,
                Identity.trust,
                Contact.id.label("card_id"),
                Contact.name,
                Contact.owner_id,
                Contact.merged_into_id,
            ).join(Contact, Contact.id == Identity.contact_id),
            IDENTITIES.c.kind,
            IDENTITIES.c.value,
        )
        # Live cards are picked out of what the pairs found, never the other way round: a generic plan made
        # before the first ANALYZE took "merged_into_id IS NULL" for a few cards, and walked every card
        # with its identities for each batch. (OFFSET 0 keeps the condition out of the join.)
        rows = found.offset(literal_column("0")).subquery()
        return (
            select(*(c for c in rows.c if c.name != "merged_into_id"))
            .where(rows.c.merged_into_id.is_(None))
            .order_by(rows.c.card_id)  # the oldest card first
        )
    return (
        select(
            Identity.id,
            Identity.kind,
            Identity.value,
            Identity.trust,
            Contact.id.label("card_id"),
            Contact.name,
            Contact.owner_id,
        )
        .join(Contact, Contact.id == Identity.contact_id)
        .where(_live(dialect), *_identity_lists(dialect))
        # The oldest card first. Not "ORDER BY contacts.id": SQLite would then walk every live card in id
        # order and look up its identities (a scan of the whole table) instead of the batch's identities
        # through their (kind, value) index.
        .order_by(Identity.contact_id)
    )


_IDENTITY_ROWS = Statements(_identity_rows)


def found_card_ids(dialect: str) -> Any:
    """The ids of the cards `CardMatcher.query` finds, as a SELECT taking the same parameters: for a
    caller that reads what those cards hold in the same trip (inbox.ingest: their open conversations).
    On SQLite a few more may come (any kind with any value asked for): pick by id."""
    return select(_identity_rows(dialect).order_by(None).subquery().c.card_id)


def card_statements(session: AsyncSession) -> list[Any]:
    """The SELECT that finds a batch's cards (CardMatcher.load), as fetch runs it: for a warm-up."""
    return [_IDENTITY_ROWS(session)]


def _card_id_of(row: Sequence[Any]) -> int:
    return int(row[4])


def _identity_objects(dialect: str) -> Any:
    return (
        select(Identity, Contact)
        .join(Contact, Contact.id == Identity.contact_id)
        .where(_live(dialect), *_identity_lists(dialect))
        .order_by(Identity.contact_id)  # see _identity_rows
    )


_IDENTITY_OBJECTS = Statements(_identity_objects)


class Matcher(_Rules[Contact]):
    """The rules on ORM cards: what it decides is added to the session (calls use it)."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        # (id(card), kind, value) → the card's identity row, to upgrade a typed row a sender now vouches for.
        self.rows: dict[tuple[int, str, str], Identity] = {}

    async def load(self, identities: Iterable[IdentityRef]) -> None:
        """The cards of these (normalized) identities, in one query."""
        wanted = _wanted(identities)
        if not wanted:
            return
        rows = await self.session.execute(*_identity_query(self.session, _IDENTITY_OBJECTS, wanted))
        for identity, contact in rows:
            if (identity.kind, identity.value) not in wanted:
                continue
            self._loaded(contact, identity.kind, identity.value, identity.trust)
            self.rows[(id(contact), identity.kind, identity.value)] = identity

    def _card_id(self, card: Contact) -> int | None:
        return card.id

    def _card_name(self, card: Contact) -> str | None:
        return card.name

    def _rename(self, card: Contact, name: str) -> None:
        card.name = name

    def _new_card(
        self, name: str | None, source_channel: str, source_detail: str | None, created_at: datetime
    ) -> Contact:
        contact = Contact(
            name=name,
            kind="lead",
            source_channel=source_channel,
            source_detail=source_detail,
            tags=[],
            custom_fields={},
            created_at=created_at,
        )
        self.session.add(contact)
        return contact

    def _add_row(self, card: Contact, ref: IdentityRef) -> None:
        identity = Identity(kind=ref.kind, value=ref.value, trust=ref.trust)
        if card.id is None:
            card.identities.append(identity)
        else:
            identity.contact_id = card.id
            self.session.add(identity)
        self.rows[(id(card), ref.kind, ref.value)] = identity

    def _vouch(self, card: Contact, key: Key) -> None:
        self.rows[(id(card), *key)].trust = "vouched"


@dataclass(slots=True, eq=False)
class Card:
    """A client card as the ingest path sees it: its id (None until :meth:`CardMatcher.write` inserts a
    new one), its name and its owner (bus events go to the owner of a returning client)."""

    id: int | None
    name: str | None = None
    owner_id: int | None = None
    new: dict[str, Any] | None = None  # a new card's other columns
    renamed: bool = False


@dataclass(slots=True)
class _Row:
    """An identity row a card keeps: an existing one (`id`) or one to insert."""

    card: Card
    kind: str
    value: str
    trust: str
    id: int | None = None
    vouched_now: bool = False


@dataclass(slots=True, eq=False)
class _Writes:
    new_cards: list[Card] = field(default_factory=list)
    rows: dict[tuple[int, str, str], _Row] = field(default_factory=dict)


class CardMatcher(_Rules[Card]):
    """The rules on plain :class:`Card` records, written with Core statements by :meth:`write`."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self.cards: dict[int, Card] = {}  # the loaded cards by id
        self._writes = _Writes()
        # What the last steps() wrote, for written(): renamed cards, upgraded rows, their time.
        self._renamed: list[Card] = []
        self._vouched: list[dict[str, Any]] = []
        self._now = utcnow()

    async def load(self, identities: Iterable[IdentityRef]) -> None:
        """The cards of these (normalized) identities, in one query."""
        query = self.query(identities)
        if query is not None:
            self.absorb(await pg_raw.fetch(self.session, *query), identities)

    def query(self, identities: Iterable[IdentityRef]) -> tuple[Any, dict[str, Any]] | None:
        """The SELECT `load` runs and its parameters (None: nothing to look up), for a caller that runs it
        with others (inbox.bulk.fetch_all); its rows then go to `absorb`."""
        wanted = _wanted(identities)
        return _identity_query(self.session, _IDENTITY_ROWS, wanted) if wanted else None

    def absorb(self, rows: Iterable[Any], identities: Iterable[IdentityRef]) -> None:
        """The cards of the rows of `query(identities)`."""
        wanted = _wanted(identities)
        # The oldest card first, as the query sorts them: rows read with others on PostgreSQL come in no
        # order (inbox.pg_raw.fetch_together).
        for row_id, kind, value, trust, contact_id, name, owner_id in sorted(rows, key=_card_id_of):
            if (kind, value) not in wanted:
                continue
            card = self.cards.get(contact_id)
            if card is None:
                card = self.cards[contact_id] = Card(contact_id, name, owner_id)
            self._loaded(card, kind, value, trust)
            self._writes.rows[(id(card), kind, value)] = _Row(card, kind, value, trust, row_id)

    def _card_id(self, card: Card) -> int | None:
        return card.id

    def _card_name(self, card: Card) -> str | None:
        return card.name

    def _rename(self, card: Card, name: str) -> None:
        card.name = name
        card.renamed = card.id is not None  # a new card is inserted with its name

    def _new_card(
        self, name: str | None, source_channel: str, source_detail: str | None, created_at: datetime
    ) -> Card:
        card = Card(
            None,
            name,
            new={
                "kind": "lead",
                "source_channel": source_channel,
                "source_detail": source_detail,
                "tags": [],
                "custom_fields": {},
                "created_at": created_at,
                "updated_at": utcnow(),
            },
        )
        self._writes.new_cards.append(card)
        return card

    def _add_row(self, card: Card, ref: IdentityRef) -> None:
        self._writes.rows[(id(card), ref.kind, ref.value)] = _Row(card, ref.kind, ref.value, ref.trust)

    def _vouch(self, card: Card, key: Key) -> None:
        row = self._writes.rows[(id(card), *key)]
        row.trust = "vouched"
        row.vouched_now = row.id is not None  # a row still to insert goes in vouched

    async def write(self) -> None:
        """Insert the new cards (each gets its id) and the new identity rows; upgrade and rename.

        Once per batch, after its last :meth:`match`. On SQLite :meth:`steps`, run, then :meth:`written`;
        on PostgreSQL each statement takes its rows as arrays (inbox.pg_bulk)."""
        if dialect_of(self.session) == "postgresql":
            await self._write_arrays()
            return
        await run_steps(self.session, self.steps())
        await self.written()

    def steps(self) -> list[Step]:
        """What :meth:`write` writes, as steps (see inbox.bulk) that the caller may run with its own: one
        multi-row INSERT … RETURNING for the new cards, one INSERT for their identity rows, one UPDATE per
        kind of change. Run them, then await :meth:`written`."""
        writes = self._writes
        now = self._now = utcnow()

        def new_cards() -> list[dict[str, Any]]:
            return [{"name": card.name, **(card.new or {})} for card in writes.new_cards]

        def card_ids(ids: list[int]) -> None:
            for card, contact_id in zip(writes.new_cards, ids, strict=True):
                card.id = contact_id
                card.new = None
                self.cards[contact_id] = card

        def inserts() -> list[dict[str, Any]]:
            return [
                {
                    "contact_id": row.card.id,
                    "kind": row.kind,
                    "value": row.value,
                    "trust": row.trust,
                    "created_at": now,
                }
                for row in writes.rows.values()
                if row.id is None
            ]

        def vouched() -> list[dict[str, Any]]:
            self._vouched = [
                {"row_id": row.id} for row in writes.rows.values() if row.id is not None and row.vouched_now
            ]
            return self._vouched

        def renamed() -> list[dict[str, Any]]:
            self._renamed = [c for c in self.cards.values() if c.renamed]
            return [{"card_id": c.id, "new_name": c.name, "at": now} for c in self._renamed]

        return [
            Step(_INSERT_CONTACTS, new_cards, card_ids),
            Step(_INSERT_IDENTITIES, inserts),
            Step(_VOUCH, vouched),
            Step(_RENAME, renamed),
        ]

    async def written(self) -> None:
        """After :meth:`steps` ran: ORM objects the caller holds in the session get what they wrote."""
        await _sync_session(self.session, self._renamed, self._vouched, self._writes, self._now)
        self._renamed, self._vouched = [], []

    async def _write_arrays(self) -> None:
        """PostgreSQL: :meth:`write`, each statement of one fixed text, its rows as arrays (inbox.pg_bulk)."""
        session, writes = self.session, self._writes
        if writes.new_cards:
            cards = [{"name": card.name, **(card.new or {})} for card in writes.new_cards]
            contact_ids = await insert_rows(session, CONTACTS, cards, fallback=_INSERT_CONTACTS, ids=True)
            for card, contact_id in zip(writes.new_cards, contact_ids, strict=True):
                card.id = contact_id
                card.new = None
                self.cards[contact_id] = card
        now = utcnow()
        inserts: list[dict[str, Any]] = []
        vouched: list[dict[str, Any]] = []
        for row in writes.rows.values():
            if row.id is None:
                inserts.append(
                    {
                        "contact_id": row.card.id,
                        "kind": row.kind,
                        "value": row.value,
                        "trust": row.trust,
                        "created_at": now,
                    }
                )
            elif row.vouched_now:
                vouched.append({"row_id": row.id})
        await insert_rows(session, IDENTITIES, inserts, fallback=_INSERT_IDENTITIES)
        if vouched:
            keys = [v["row_id"] for v in vouched]
            await update_rows(session, IDENTITIES, "id", ["trust"], keys, [{"trust": "vouched"}] * len(keys))
        renamed = [c for c in self.cards.values() if c.renamed]
        if renamed:
            names = [{"name": c.name, "updated_at": now} for c in renamed]
            await update_rows(session, CONTACTS, "id", ["name", "updated_at"], [c.id for c in renamed], names)
        await _sync_session(session, renamed, vouched, writes, now)


async def _sync_session(
    session: AsyncSession, renamed: list[Card], vouched: list[dict[str, Any]], writes: _Writes, now: datetime
) -> None:
    """Bring ORM objects the caller holds in `session` in step with what the Core statements wrote."""
    identity_map = session.sync_session.identity_map
    if not identity_map:
        return
    for card in renamed:
        contact = identity_map.get(identity_key(Contact, card.id))
        if contact is not None:
            attributes.set_committed_value(contact, "name", card.name)
            attributes.set_committed_value(contact, "updated_at", now)
    for params in vouched:
        row = identity_map.get(identity_key(Identity, params["row_id"]))
        if row is not None:
            attributes.set_committed_value(row, "trust", "vouched")
    grown = {r.card.id for r in writes.rows.values() if r.id is None}
    for contact_id in grown:
        contact = identity_map.get(identity_key(Contact, contact_id))
        if isinstance(contact, Contact) and "identities" in contact.__dict__:
            await session.refresh(contact, ["identities"])


async def _candidates_exist(session: AsyncSession, pairs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Pairs already listed (in either state), so a sender seen again does not list them twice."""
    if not pairs:
        return set()
    statement = _LISTED(session)
    if dialect_of(session) == "postgresql":  # the pairs themselves (see inbox.lists)
        by_a: dict[int, set[int]] = {}
        for a, b in pairs:
            by_a.setdefault(a, set()).add(b)
        rows = await session.execute(
            statement.where(pairs_in(DUPLICATES.c.contact_a_id, DUPLICATES.c.contact_b_id, by_a))
        )
    else:
        lists = {"a": sorted({a for a, _ in pairs}), "b": sorted({b for _, b in pairs})}
        rows = await session.execute(statement, lists)
    return {(a, b) for a, b in rows if (a, b) in pairs}


def _listed(dialect: str) -> Any:
    """Candidates of the a × b pairs (the ones asked for are picked out in Python; see inbox.lists)."""
    statement = select(DUPLICATES.c.contact_a_id, DUPLICATES.c.contact_b_id)
    if dialect == "postgresql":
        return statement  # the pairs are added per call
    return statement.where(
        in_list(DUPLICATES.c.contact_a_id, "a", dialect), in_list(DUPLICATES.c.contact_b_id, "b", dialect)
    )


_LISTED = Statements(_listed)
