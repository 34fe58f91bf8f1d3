"""Client cards: look-up, search, edits, identities, duplicate candidates and merging.

Two cards are listed as duplicate candidates when they share a normalized identity or when one sender's
identities point at both. Nothing is merged without a person asking: a merge moves identities,
conversations, messages, calls, tasks and reporting events to the surviving card, keeps the other card's
data wherever the survivor has none, and writes an audit entry.

Functions that answer an agent take a ``viewer`` and keep to the cards it may see
(:mod:`inbox.visibility`); ``viewer=None`` means no restriction (the CLI, the demo, internal callers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, ScalarSelect, Select, delete, func, or_, select, union, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from inbox.conversations import Viewer
from inbox.identities import normalize
from inbox.models import (
    AuditLog,
    Call,
    Contact,
    Conversation,
    DuplicateCandidate,
    Identity,
    Message,
    ReportingEvent,
    Task,
    utcnow,
)
from inbox.search import (
    Query,
    SearchError,
    card_matches,
    identity_match,
    parse_query,
    pg_card_text_match,
)
from inbox.visibility import can_see_contact, visible_contacts, visible_duplicates

EDITABLE_FIELDS = ("name", "company", "kind", "owner_id", "source_detail", "tags", "custom_fields", "notes")
# Taken from the merged card where the survivor has nothing.
FILL_FIELDS = ("name", "company", "owner_id", "source_channel", "source_detail", "notes")


class ContactError(ValueError):
    """A request about cards that cannot be carried out; `field` names the culprit where there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ContactNotFound(LookupError):
    pass


def _live() -> Select[Contact]:
    return select(Contact).where(Contact.merged_into_id.is_(None)).options(selectinload(Contact.identities))


async def _load(session: AsyncSession, contact_id: int) -> Contact | None:
    # populate_existing: a card already in the session would otherwise come back without its identities
    # loaded, and touching them would lazy-load under asyncio.
    return await session.get(
        Contact, contact_id, options=[selectinload(Contact.identities)], populate_existing=True
    )


async def get_contact(session: AsyncSession, contact_id: int) -> Contact:
    """A card with its identities; a merged card's id leads to the card it was merged into."""
    contact = await session.get(Contact, contact_id, options=[selectinload(Contact.identities)])
    seen = set()
    while contact is not None and contact.merged_into_id is not None and contact.id not in seen:
        seen.add(contact.id)
        contact = await session.get(
            Contact, contact.merged_into_id, options=[selectinload(Contact.identities)]
        )
    if contact is None:
        raise ContactNotFound(f"contact {contact_id} not found")
    return contact


async def contacts_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, Contact]:
    """The cards of these ids, by id (one query; none for no ids)."""
    wanted = set(ids)
    if not wanted:
        return {}
    return {c.id: c for c in await session.scalars(select(Contact).where(Contact.id.in_(wanted)))}


async def contact_summaries(
    session: AsyncSession, ids: Iterable[int]
) -> dict[int, Row[int, str | None, str | None, str]]:
    """The id, name, company and kind of the cards of these ids, by id, as plain rows (one query; none for
    no ids): what a list row shows of its card, without an ORM object per card."""
    wanted = set(ids)
    if not wanted:
        return {}
    stmt = select(Contact.id, Contact.name, Contact.company, Contact.kind).where(Contact.id.in_(wanted))
    return {row.id: row for row in await session.execute(stmt)}


async def get_visible_contact(session: AsyncSession, viewer: Viewer, contact_id: int) -> Contact:
    """:func:`get_contact`, and ContactNotFound as well for a card the viewer may not see."""
    contact = await get_contact(session, contact_id)
    if not await can_see_contact(session, viewer, contact.id):
        raise ContactNotFound(f"contact {contact_id} not found")
    return contact


@dataclass(frozen=True, slots=True)
class CardIdentity:
    """An identity of a :class:`Card`."""

    id: int
    kind: str
    value: str
    trust: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Card:
    """A card as a list of cards shows it, with its identities oldest first: read as plain rows, without
    an ORM object per card and identity (loading those was a third of a search's time in Python)."""

    id: int
    name: str | None
    company: str | None
    kind: str
    owner_id: int | None
    source_channel: str | None
    source_detail: str | None
    tags: list[str] | None
    custom_fields: dict[str, Any] | None
    notes: str | None
    created_at: datetime
    updated_at: datetime
    identities: tuple[CardIdentity, ...]


# A Card's columns, in its fields' order.
_CARD = (
    Contact.id,
    Contact.name,
    Contact.company,
    Contact.kind,
    Contact.owner_id,
    Contact.source_channel,
    Contact.source_detail,
    Contact.tags,
    Contact.custom_fields,
    Contact.notes,
    Contact.created_at,
    Contact.updated_at,
)


def _held_identities() -> ScalarSelect[Any]:
    """PostgreSQL: a card's identities oldest first, as one array of records (asyncpg reads each as a tuple
    of the Python values), read with the card in its own statement."""
    fields = (Identity.id, Identity.kind, Identity.value, Identity.trust, Identity.created_at)
    held = func.array_agg(aggregate_order_by(func.row(*fields), Identity.id))
    return select(held).where(Identity.contact_id == Contact.id).scalar_subquery()


async def _cards(session: AsyncSession, stmt: Select[Any]) -> list[Card]:
    """The cards of `stmt` (a select of `_CARD`), in its order, and their identities: on PostgreSQL in the
    same statement (one round trip fewer: on the loaded bench machine each cost 0.5-1 ms of a search),
    on SQLite by a second query."""
    if session.get_bind().dialect.name == "postgresql":
        rows = (await session.execute(stmt.add_columns(_held_identities()))).all()
        return [Card(*(*row[:-1], tuple(CardIdentity(*i) for i in row[-1] or ()))) for row in rows]
    rows = (await session.execute(stmt)).all()
    if not rows:
        return []
    held: dict[int, list[CardIdentity]] = {row[0]: [] for row in rows}
    identities = await session.execute(
        select(
            Identity.contact_id,
            Identity.id,
            Identity.kind,
            Identity.value,
            Identity.trust,
            Identity.created_at,
        )
        .where(Identity.contact_id.in_(held))
        .order_by(Identity.id)
    )
    for contact_id, identity_id, kind, value, trust, created_at in identities:
        held[contact_id].append(CardIdentity(identity_id, kind, value, trust, created_at))
    # Positionally: reading each row by its columns' names cost a third of building the cards.
    return [Card(*(*row, tuple(held[row[0]]))) for row in rows]


async def search_contacts(
    session: AsyncSession,
    query: str | None = None,
    *,
    limit: int = 50,
    offset: int = 0,
    viewer: Viewer | None = None,
    region: str = "RU",
) -> list[Card]:
    """Cards newest first; with `query`, those whose name or company match it through the full-text index
    (every word, each by its prefix: "смирн" finds "Смирнова", as :mod:`inbox.search` matches cards) or
    whose identity does (a phone in any format exactly, or by the digits it holds; an e-mail address or
    any value by its prefix). A query with no letter or digit finds nothing."""
    stmt = select(*_CARD).where(Contact.merged_into_id.is_(None))
    if viewer is not None:
        stmt = stmt.where(visible_contacts(viewer))
    if query and query.strip():
        try:
            parsed = parse_query(query, region)
        except SearchError:
            return []  # nothing to search for ("%", "_", punctuation); the API refuses what is malformed
        if viewer is not None and not viewer.is_admin and session.get_bind().dialect.name == "postgresql":
            # SQLite already walks the cards newest first, and the join makes it slower there.
            return await _pg_visible_cards(session, parsed, viewer, limit, offset)
        if session.get_bind().dialect.name == "postgresql":
            newest = (await _pg_newest_matches(session, parsed, limit + offset))[offset:]
            if not newest:
                return []
            return await _cards(session, stmt.where(Contact.id.in_(newest)).order_by(Contact.id.desc()))
        stmt = stmt.where(card_matches(session, parsed, phone_digits=True))
    return await _cards(session, stmt.order_by(Contact.id.desc()).limit(limit).offset(offset))


# How many of the newest cards a search on PostgreSQL reads one by one before it asks the full-text index.
NEWEST_CARDS = 1_000


def _words_only(parsed: Query) -> bool:
    """A query of letters alone — a name, a company — that many cards may hold (not a number, a phone, an
    e-mail address: those find a card or a few, at once, through the indexes)."""
    return all(part.isalpha() for chunk in parsed.chunks for part in chunk.parts)


async def _pg_newest_matches(session: AsyncSession, parsed: Query, wanted: int) -> list[int]:
    """The ids of the `wanted` newest live cards that match `parsed` (PostgreSQL, every card visible).

    For a query of words, the newest `NEWEST_CARDS` cards are read first, newest first, each tested as it
    comes, until `wanted` match: a common surname's prefix (10,000 hits of 100,000 cards) fills the page
    within the first few hundred. Only when they hold fewer does the index answer the rest, older than
    them (a rare word: a handful of hits, at once). Asked in one statement, PostgreSQL read every hit from
    the GIN indexes and sorted them all before the LIMIT (12-16 ms for «смирн»); walking the cards newest
    first with the text as a filter instead, as it chose by its estimates when allowed, it read all
    100,000 cards for a word none holds (0.4 s): the window bounds that walk, and the index part cannot
    walk (see :func:`_pg_indexed_matches`)."""
    if not _words_only(parsed):
        return await _pg_indexed_matches(session, parsed, wanted, None)
    live = Contact.merged_into_id.is_(None)
    # Named "contacts": the text match (inbox.search) names the table's columns so, as its index does.
    window = (
        select(Contact.id, Contact.name, Contact.company)
        .where(live)
        .order_by(Contact.id.desc())
        .limit(NEWEST_CARDS)
        .subquery("contacts")
    )
    by_identity = select(Identity.contact_id).where(identity_match(session, parsed, phone_digits=True))
    newest = (
        select(window.c.id)
        .where(or_(pg_card_text_match(parsed), window.c.id.in_(by_identity)))
        .order_by(window.c.id.desc())
        .limit(wanted)
    )
    ids = list(await session.scalars(newest))
    if len(ids) >= wanted:
        return ids
    # Below the window: the oldest card of it is the boundary (none when the window held every card).
    boundary = select(Contact.id).where(live).order_by(Contact.id.desc()).offset(NEWEST_CARDS - 1).limit(1)
    return ids + await _pg_indexed_matches(session, parsed, wanted - len(ids), boundary.scalar_subquery())


def _pg_hit_ids(session: AsyncSession, parsed: Query, live: list[ColumnElement[bool]]) -> Any:
    """The id column of the cards under `live` whose text or an identity matches `parsed` (PostgreSQL's
    full-text and identity indexes, one UNION: a card found both ways once)."""
    by_text = select(Contact.id).where(*live, pg_card_text_match(parsed))
    by_identity = (
        select(Identity.contact_id)
        .join(Contact, Contact.id == Identity.contact_id)
        .where(*live, identity_match(session, parsed, phone_digits=True))
    )
    return next(iter(union(by_text, by_identity).subquery().c))


async def _pg_indexed_matches(
    session: AsyncSession, parsed: Query, wanted: int, below: ColumnElement[Any] | None
) -> list[int]:
    """The ids of the `wanted` newest live cards that match `parsed`, older than `below` if given, from
    the indexes alone: the full-text hits (GIN) and the identities' (their value indexes), each of live
    cards, then the newest of them. Not "cards WHERE id IN (the hits)": for that PostgreSQL walked the
    cards newest first to meet the hits (a merge join), 30,000 of them to reach an e-mail address's card
    (10-12 ms), all 100,000 for the oldest card."""
    live: list[ColumnElement[bool]] = [Contact.merged_into_id.is_(None)]
    if below is not None:
        live.append(Contact.id < below)
    first = _pg_hit_ids(session, parsed, live)
    return list(await session.scalars(select(first).order_by(first.desc()).limit(wanted)))


# How many of the newest card ids an agent's search on PostgreSQL asks the indexes about before the rest.
VISIBLE_WINDOW = 10_000


async def _pg_visible_cards(
    session: AsyncSession, parsed: Query, viewer: Viewer, limit: int, offset: int
) -> list[Card]:
    """The cards of the page (`limit` from `offset`) of the live cards that match `parsed` and that
    `viewer` (not an admin) may see, newest first (PostgreSQL).

    A query of words first asks about the hits among the newest `VISIBLE_WINDOW` ids, then, only if they
    hold too few visible cards, the older hits: an agent sees a card or two of each 15 hits on the bench,
    so «смирн» (9,900 hits of 100,000 cards) fills a page with the 960 hits of the window, 626 of them
    tested. Asked of every hit at once, PostgreSQL read, de-duplicated and sorted all 9,900 (in parallel
    workers) before the first test: 19 -> 5 ms server time in the same run. A number, a phone or an
    e-mail address finds a few cards: their hits are asked about at once (the window would only add a
    statement). Each statement reads the page's cards themselves, visibility tested once, in it: where
    the ids came first and the cards by them, visibility was built and tested twice, in two statements."""
    if not _words_only(parsed):
        return await _pg_visible_page(session, parsed, viewer, None, limit, offset)
    # The window's bound is asked in the statement itself, not first and apart: one round trip fewer (each
    # was 0.5-1 ms of the request on the loaded bench machine). Not correlated: the newest card of all.
    bound = select(func.max(Contact.id)).correlate(None).scalar_subquery() - VISIBLE_WINDOW
    newer = Contact.id > bound
    cards = await _pg_visible_page(session, parsed, viewer, newer, limit, offset)
    if len(cards) >= limit:
        return cards
    # The window held `offset` visible hits and these cards when it gave any; else at most `offset`.
    skipped = offset if cards else await _pg_visible_count(session, parsed, viewer, newer, offset)
    older = Contact.id <= bound
    return cards + await _pg_visible_page(
        session, parsed, viewer, older, limit - len(cards), offset - skipped
    )


def _pg_visible_hits(
    session: AsyncSession, parsed: Query, viewer: Viewer, in_range: ColumnElement[bool] | None
) -> tuple[Any, Select[Any]]:
    """The id column of the hits and the FROM they come with: the hits of the live cards in `in_range`
    (all if None), newest first (their own subquery, de-duplicated and sorted), joined to the cards that
    `viewer` may see — a nested loop in that order, each card's visibility tested as it comes."""
    live: list[ColumnElement[bool]] = [Contact.merged_into_id.is_(None)]
    if in_range is not None:
        live.append(in_range)
    first = _pg_hit_ids(session, parsed, live)  # de-duplicated by its UNION already
    hits = select(first.label("id")).order_by(first.desc()).subquery()
    visible = select(*_CARD).join(hits, Contact.id == hits.c.id).where(visible_contacts(viewer))
    return hits.c.id, visible


async def _pg_visible_page(
    session: AsyncSession,
    parsed: Query,
    viewer: Viewer,
    in_range: ColumnElement[bool] | None,
    limit: int,
    offset: int,
) -> list[Card]:
    """The cards of :func:`_pg_visible_hits`, `limit` from `offset`."""
    hit_id, visible = _pg_visible_hits(session, parsed, viewer, in_range)
    return await _cards(session, visible.order_by(hit_id.desc()).limit(limit).offset(offset))


async def _pg_visible_count(
    session: AsyncSession, parsed: Query, viewer: Viewer, in_range: ColumnElement[bool], most: int
) -> int:
    """How many of :func:`_pg_visible_hits` there are, counted up to `most`."""
    hit_id, visible = _pg_visible_hits(session, parsed, viewer, in_range)
    counted = visible.with_only_columns(hit_id).order_by(hit_id.desc()).limit(most).subquery()
    return int(await session.scalar(select(func.count()).select_from(counted)) or 0)


async def update_contact(
    session: AsyncSession, contact: Contact, changes: Mapping[str, Any], actor_id: int | None
) -> Contact:
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ContactError(f"unknown field(s): {', '.join(sorted(unknown))}", sorted(unknown)[0])
    if "kind" in changes and changes["kind"] not in ("lead", "client"):
        raise ContactError("kind must be 'lead' or 'client'", "kind")
    before = {k: getattr(contact, k) for k in changes}
    for key, value in changes.items():
        setattr(contact, key, value)
    session.add(
        AuditLog(
            actor_agent_id=actor_id,
            action="contact.update",
            entity="contact",
            entity_id=contact.id,
            detail={"before": before, "after": dict(changes)},
        )
    )
    await session.flush()
    return contact


async def add_identity(
    session: AsyncSession, contact: Contact, kind: str, value: str, *, region: str, actor_id: int | None
) -> Identity:
    """Add an identity to a card. If another card has it too, the pair is listed as duplicates.

    An agent adding it vouches for it: a detail the client only typed becomes vouched.
    """
    normalized = normalize(kind, value, region)
    for existing in contact.identities:
        if (existing.kind, existing.value) == (kind, normalized):
            existing.trust = "vouched"
            return existing
    identity = Identity(contact_id=contact.id, kind=kind, value=normalized)
    session.add(identity)
    others = await session.scalars(
        select(Identity.contact_id)
        .join(Contact, Contact.id == Identity.contact_id)
        .where(
            Identity.kind == kind,
            Identity.value == normalized,
            Identity.contact_id != contact.id,
            Contact.merged_into_id.is_(None),
        )
    )
    for other_id in set(others):
        await note_duplicate(session, contact.id, other_id, f"both cards have {kind} {normalized}")
    session.add(
        AuditLog(
            actor_agent_id=actor_id,
            action="identity.add",
            entity="contact",
            entity_id=contact.id,
            detail={"kind": kind, "value": normalized},
        )
    )
    await session.flush()
    await session.refresh(contact, ["identities"])
    return identity


# The channels whose inbound messages may have come through an identity of each kind (the API channel
# carries any kind). A message does not record which identity it came through, so removal counts all.
CHANNELS_OF_KIND: dict[str, tuple[str, ...]] = {
    "email": ("email", "api"),
    "phone": ("sip", "api"),
    "telegram": ("telegram", "api"),
    "vk": ("vk", "api"),
    "webchat": ("webchat", "api"),
    "external": ("api",),
}


async def _added_by_agent(session: AsyncSession, contact: Contact, identity: Identity) -> bool:
    """Whether an agent added this very row to this card (its audit row written with it)."""
    rows = await session.execute(
        select(AuditLog.detail, AuditLog.created_at).where(
            AuditLog.action == "identity.add", AuditLog.entity == "contact", AuditLog.entity_id == contact.id
        )
    )
    return any(
        (detail or {}).get("kind") == identity.kind
        and (detail or {}).get("value") == identity.value
        and abs(created_at - identity.created_at) < timedelta(minutes=1)
        for detail, created_at in rows
    )


async def history_through(session: AsyncSession, contact: Contact, identity: Identity) -> int:
    """How many inbound messages and calls of the card may have come through this identity.

    A typed identity (a person wrote it into a form) never matched a sender: none. A vouched one: the
    card's inbound messages on a channel that carries its kind (a message does not record the identity it
    came through) and, for a phone, the calls from or to it — since an agent added it, if one did; else
    all of them (the ingest created it with its first message).
    """
    if identity.trust != "vouched":
        return 0
    since = identity.created_at if await _added_by_agent(session, contact, identity) else None
    stmt = (
        select(func.count(Message.id))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.contact_id == contact.id,
            Message.direction == "in",
            Conversation.channel_kind.in_(CHANNELS_OF_KIND.get(identity.kind, ())),
        )
    )
    if since is not None:
        stmt = stmt.where(Message.created_at >= since)
    messages = await session.scalar(stmt)
    calls = 0
    if identity.kind == "phone":
        calls_stmt = select(func.count(Call.id)).where(
            Call.contact_id == contact.id,
            or_(Call.from_number == identity.value, Call.to_number == identity.value),
        )
        if since is not None:
            calls_stmt = calls_stmt.where(Call.started_at >= since)
        calls = await session.scalar(calls_stmt) or 0
    return int(messages or 0) + int(calls)


async def remove_identity(
    session: AsyncSession, contact: Contact, identity_id: int, *, actor_id: int | None
) -> Identity:
    """Take an identity off a card (in `session`, not committed), audited.

    Refused (ContactError, field ``identity_id``) for the card's last identity, and for one that history
    may have come through (:func:`history_through`): the card keeps its conversations either way, but a
    sender it no longer names would start a new card beside them — a split this hub does not do silently.
    """
    identity = next((i for i in contact.identities if i.id == identity_id), None)
    if identity is None:
        raise ContactNotFound(f"identity {identity_id} not found on contact {contact.id}")
    if len(contact.identities) == 1:
        raise ContactError("the last identity of a card cannot be removed", "identity_id")
    history = await history_through(session, contact, identity)
    if history:
        raise ContactError(
            f"{identity.kind} {identity.value} has {history} message(s) or call(s) on this card; "
            "splitting a card is not supported, so it stays",
            "identity_id",
        )
    detail = {"kind": identity.kind, "value": identity.value, "trust": identity.trust}
    await session.delete(identity)
    session.add(
        AuditLog(
            actor_agent_id=actor_id,
            action="identity.remove",
            entity="contact",
            entity_id=contact.id,
            detail=detail,
        )
    )
    await session.flush()
    await session.refresh(contact, ["identities"])
    return identity


async def note_duplicate(session: AsyncSession, a: int, b: int, reason: str) -> None:
    low, high = sorted((a, b))
    if low == high:
        return
    exists = await session.scalar(
        select(DuplicateCandidate.id).where(
            DuplicateCandidate.contact_a_id == low, DuplicateCandidate.contact_b_id == high
        )
    )
    if exists is None:
        session.add(DuplicateCandidate(contact_a_id=low, contact_b_id=high, reason=reason))


@dataclass(frozen=True, slots=True)
class DuplicatePair:
    id: int
    a: Contact
    b: Contact
    reason: str


async def list_duplicates(
    session: AsyncSession, contact_id: int | None = None, *, limit: int = 100, viewer: Viewer | None = None
) -> list[DuplicatePair]:
    """Open candidates whose two cards both still exist (optionally only those involving one card)."""
    stmt = select(DuplicateCandidate).where(DuplicateCandidate.status == "open")
    if viewer is not None:
        stmt = stmt.where(visible_duplicates(viewer))
    if contact_id is not None:
        stmt = stmt.where(
            or_(DuplicateCandidate.contact_a_id == contact_id, DuplicateCandidate.contact_b_id == contact_id)
        )
    candidates = list(await session.scalars(stmt.order_by(DuplicateCandidate.id.desc()).limit(limit)))
    ids = {c.contact_a_id for c in candidates} | {c.contact_b_id for c in candidates}
    contacts = {c.id: c for c in await session.scalars(_live().where(Contact.id.in_(ids)))} if ids else {}
    return [
        DuplicatePair(c.id, contacts[c.contact_a_id], contacts[c.contact_b_id], c.reason)
        for c in candidates
        if c.contact_a_id in contacts and c.contact_b_id in contacts
    ]


async def dismiss_duplicate(
    session: AsyncSession, candidate_id: int, actor_id: int | None, *, viewer: Viewer | None = None
) -> DuplicateCandidate:
    stmt = select(DuplicateCandidate).where(DuplicateCandidate.id == candidate_id)
    if viewer is not None:
        stmt = stmt.where(visible_duplicates(viewer))
    candidate = await session.scalar(stmt)
    if candidate is None:
        raise ContactNotFound(f"duplicate candidate {candidate_id} not found")
    candidate.status = "dismissed"
    session.add(
        AuditLog(
            actor_agent_id=actor_id,
            action="contact.duplicate_dismissed",
            entity="contact",
            entity_id=candidate.contact_a_id,
            detail={"other": candidate.contact_b_id},
        )
    )
    return candidate


def _union(first: Sequence[str], second: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*first, *second]))


async def merge_contacts(
    session: AsyncSession, survivor_id: int, merged_id: int, actor_id: int | None
) -> Contact:
    """Merge card `merged_id` into `survivor_id` (in `session`, not committed)."""
    if survivor_id == merged_id:
        raise ContactError("a card cannot be merged into itself", "merge_id")
    survivor = await _load(session, survivor_id)
    merged = await _load(session, merged_id)
    if survivor is None or survivor.merged_into_id is not None:
        raise ContactNotFound(f"contact {survivor_id} not found")
    if merged is None or merged.merged_into_id is not None:
        raise ContactNotFound(f"contact {merged_id} not found (or already merged)")

    kept: dict[str, Any] = {}
    for name in FILL_FIELDS:
        if getattr(survivor, name) in (None, "") and getattr(merged, name) not in (None, ""):
            kept[name] = getattr(merged, name)
            setattr(survivor, name, getattr(merged, name))
    if merged.kind == "client" and survivor.kind != "client":
        survivor.kind = "client"
        kept["kind"] = "client"
    survivor.tags = _union(survivor.tags or [], merged.tags or [])
    survivor.custom_fields = {**(merged.custom_fields or {}), **(survivor.custom_fields or {})}

    have = {(i.kind, i.value) for i in survivor.identities}
    vouched = {(i.kind, i.value) for i in merged.identities if i.trust == "vouched"}
    for identity in survivor.identities:  # the same value vouched on either card stays vouched
        if (identity.kind, identity.value) in vouched:
            identity.trust = "vouched"
    moved_identities = [f"{i.kind}:{i.value}" for i in merged.identities if (i.kind, i.value) not in have]
    await session.execute(
        delete(Identity).where(
            Identity.contact_id == merged.id,
            Identity.id.in_([i.id for i in merged.identities if (i.kind, i.value) in have] or [-1]),
        )
    )
    moved: dict[str, int] = {"identities": len(moved_identities)}
    for model, label in (
        (Identity, None),
        (Conversation, "conversations"),
        (Message, "messages"),
        (Call, "calls"),
        (Task, "tasks"),
        (ReportingEvent, None),
    ):
        column = model.contact_id
        result = await session.execute(
            update(model).where(column == merged.id).values(contact_id=survivor.id),
            execution_options={"synchronize_session": False},
        )
        if label:
            moved[label] = int(result.rowcount or 0)  # type: ignore[attr-defined]

    candidates = await session.scalars(
        select(DuplicateCandidate).where(
            or_(DuplicateCandidate.contact_a_id == merged.id, DuplicateCandidate.contact_b_id == merged.id)
        )
    )
    for candidate in candidates:
        other = candidate.contact_b_id if candidate.contact_a_id == merged.id else candidate.contact_a_id
        was_open = candidate.status == "open"
        candidate.status = "merged"
        if was_open and other != survivor.id:  # the third card may still be a duplicate of the survivor
            await note_duplicate(session, survivor.id, other, candidate.reason)

    merged.merged_into_id = survivor.id
    merged.merged_at = utcnow()
    session.add(
        AuditLog(
            actor_agent_id=actor_id,
            action="contact.merge",
            entity="contact",
            entity_id=survivor.id,
            detail={
                "merged_contact_id": merged.id,
                "merged_name": merged.name,
                "moved": moved,
                "moved_identities": moved_identities,
                "kept_from_merged": sorted(kept),
            },
        )
    )
    await session.flush()
    await session.refresh(survivor, ["identities"])  # rows were moved by UPDATE, behind the ORM's back
    return survivor
