"""Full-text search across messages, conversations and client cards, within what the viewer may see.

A query is cut into *chunks* at white space and each chunk into word parts (letters and digits): "A-10234"
is one chunk of two parts. Every chunk must match (AND). A chunk of one word matches by the prefix its
snowball stem shares with it, so "доставкой" finds "доставка" and "delivery" finds "delivered"; a chunk of
several parts matches them as a phrase (the last one by prefix), so "A-10234" finds the order number and
"10234" finds it too.

The index (migration 0012_search):

* SQLite: FTS5 tables `search_messages`, `search_conversations`, `search_contacts`, kept in step by
  triggers in the writer's transaction. Every part goes into the MATCH expression as a double-quoted FTS5
  string of letters and digits only, so no query can be an FTS5 syntax error.
* PostgreSQL: GIN indexes on to_tsvector('russian', …) and to_tsvector('english', …); a document matches
  when either configuration matches. The tsquery is built from the same parts (quoted lexemes, `<->` for a
  phrase, `:*` for the prefix) OR-ed with plainto_tsquery of the chunk (which keeps e-mail addresses and
  URLs whole, as the parser stores them).

Identities are matched on their normalized value (the (kind, value) index) on both backends: a phone in
any format is normalized as the matcher does (`8 (913) 909-73-32` → `+79139097332`) and matched exactly,
an e-mail address or any other value by prefix; in the contacts list's search (`card_matches(...,
phone_digits=True)`) a query of digits alone (four or more, separators aside: "909-73-32") also finds the
phone numbers holding them, as an agent types the last digits they heard: on SQLite through the phones'
trigram table (0020_phone_trigrams) where the database has it, else over the phones' range of the (kind,
value) index; on PostgreSQL through the phones' trigram index where pg_trgm is there (0017_inbox_indexes).

Visibility is the conversations' rule (:func:`inbox.conversations.visible`) for messages and
conversations and the cards' rule (:func:`inbox.visibility.visible_contacts`) for cards. Hits come newest
first (by id), at most `limit` per kind; the cursor keeps, per kind, where the next page starts.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    column,
    false,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import TextClause

from inbox.conversations import Viewer, visible
from inbox.identities import InvalidIdentity, normalize_phone
from inbox.knowledge.text import stem
from inbox.models import Contact, Conversation, Identity, Message
from inbox.search_index import PHONE_TRIGRAMS, phone_trigrams
from inbox.visibility import visible_contacts

Kind = Literal["message", "conversation", "card"]
KINDS: tuple[Kind, ...] = ("message", "conversation", "card")
MAX_QUERY = 200
MAX_CHUNKS = 12
MAX_LIMIT = 50
SNIPPET_CONTEXT = 60  # characters shown on each side of the first match

_PART = re.compile(r"[^\W_]+", re.UNICODE)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_PHONE = re.compile(r"\+?[\d\s().\-]{4,25}")
MIN_PHONE_DIGITS = 4  # the fewest digits that find the phone numbers holding them
_CURSOR = re.compile(
    r"^(message|conversation|card)\.(\d{1,18})(?:~(message|conversation|card)\.(\d{1,18})){0,2}$"
)
_CONFIGS = ("russian", "english")
# The documents as the migration indexes them (PostgreSQL): the text must stay identical to match the index.
# Hyphens and plus signs read as spaces: PostgreSQL's parser would take "A-10234" for "a" and "-10234".
_PG_DOCUMENTS = {
    "messages": "translate(coalesce(messages.subject, '') || ' ' || messages.body_text, '-+', '  ')",
    "conversations": "translate(coalesce(conversations.subject, ''), '-+', '  ')",
    "contacts": "translate(coalesce(contacts.name, '') || ' ' || coalesce(contacts.company, ''), '-+', '  ')",
}


class SearchError(ValueError):
    """A query that cannot be searched; `field` names the parameter at fault."""

    def __init__(self, message: str, field: str = "q") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Chunk:
    """One white-space separated piece of the query: its raw text and its lower-case word parts."""

    raw: str
    parts: tuple[str, ...]
    prefix: str  # what the last part is matched by: its stem's prefix for a lone word, else itself

    @property
    def matched(self) -> tuple[str, ...]:
        """The parts as matched: all but the last exactly, the last by `prefix`."""
        return (*self.parts[:-1], self.prefix)


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: the chunks every document must match, and the identity values it may be."""

    text: str
    chunks: tuple[Chunk, ...]
    phone: str | None = None  # a normalized phone number (E.164) when the whole query reads as one
    digits: str | None = None  # a query of digits only (separators aside): any phone number holding them
    value_prefix: str | None = None  # a one-chunk query, lower-cased: any identity value starting with it


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _chunk(raw: str) -> Chunk | None:
    lowered = raw.lower()
    parts = tuple(_PART.findall(lowered))
    if not parts:
        return None
    last = parts[-1]
    prefix = last
    if len(parts) == 1 and not last.isdigit():
        folded = last.replace("ё", "е")
        keep = _common_prefix(stem(folded), folded)
        if keep >= 2:
            prefix = last[:keep]  # the original letters (ё stays ё: the FTS5 index keeps it)
    return Chunk(raw=raw, parts=parts, prefix=prefix)


def parse_query(q: str | None, region: str = "RU") -> Query:
    """The query, or :class:`SearchError` naming `q`: empty, too long, control characters, no word."""
    stripped = (q or "").strip()
    if not stripped:
        raise SearchError("q must not be empty")
    if len(stripped) > MAX_QUERY:
        raise SearchError(f"q must be at most {MAX_QUERY} characters")
    if _CONTROL.search(stripped):
        raise SearchError("q must not contain control characters")
    chunks = tuple(c for c in (_chunk(raw) for raw in stripped.split()) if c is not None)
    if not chunks:
        raise SearchError("q has no letters or digits to search for")
    if len(chunks) > MAX_CHUNKS:
        raise SearchError(f"q must have at most {MAX_CHUNKS} words")
    phone = None
    if _PHONE.fullmatch(stripped) and sum(ch.isdigit() for ch in stripped) >= 7:
        try:
            phone = normalize_phone(stripped, region)
        except InvalidIdentity:
            phone = None
    value_prefix = stripped.lower() if len(chunks) == 1 and " " not in stripped else None
    digits = None
    if _PHONE.fullmatch(stripped):
        only = "".join(ch for ch in stripped if ch.isdigit())
        digits = only if len(only) >= MIN_PHONE_DIGITS else None
    return Query(text=stripped, chunks=chunks, phone=phone, value_prefix=value_prefix, digits=digits)


# -- matching, per backend ---------------------------------------------------------------------------------


def fts5_expression(query: Query) -> str:
    """The FTS5 MATCH expression: each chunk a double-quoted phrase of letters and digits, its last part
    by prefix. Parts never contain a double quote, so the expression is always well formed."""
    return " ".join('"' + " ".join(chunk.matched) + '"*' for chunk in query.chunks)


def _tsquery_text(chunk: Chunk) -> str:
    """A to_tsquery() text for one chunk: quoted lexemes (letters and digits only), a phrase, a prefix."""
    lexemes = [f"'{part}'" for part in chunk.matched]
    lexemes[-1] += ":*"
    return " <-> ".join(lexemes)


def _pg_match(table: str, query: Query) -> ColumnElement[bool]:
    document = _PG_DOCUMENTS[table]
    per_config: list[ColumnElement[bool]] = []
    for config in _CONFIGS:
        vector: ColumnElement[Any] = literal_column(f"to_tsvector('{config}'::regconfig, {document})")
        tsquery: Any = None
        for chunk in query.chunks:
            one = func.to_tsquery(literal_column(f"'{config}'::regconfig"), _tsquery_text(chunk)).op("||")(
                func.plainto_tsquery(literal_column(f"'{config}'::regconfig"), chunk.raw)
            )
            tsquery = one if tsquery is None else tsquery.op("&&")(one)
        per_config.append(vector.op("@@")(tsquery))
    return or_(*per_config)


def _fts5_ids(table: str, query: Query) -> Select[Any]:
    fts = f"search_{table}"
    match: TextClause = text(f"{fts} MATCH :fts_query").bindparams(fts_query=fts5_expression(query))
    return select(column("rowid")).select_from(text(fts)).where(match)


def _matches(session: AsyncSession, table: str, id_column: Any, query: Query) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "sqlite":
        return id_column.in_(_fts5_ids(table, query))  # type: ignore[no-any-return]
    return _pg_match(table, query)


def message_matches(session: AsyncSession, query: Query) -> ColumnElement[bool]:
    """The WHERE clause, on :class:`Message`, of the messages whose subject or text match."""
    return _matches(session, "messages", Message.id, query)


_TOP = "\U0010ffff"  # above every character: [p, p + _TOP) holds exactly the strings that start with p


def _starting_with(session: AsyncSession, prefix: str) -> ColumnElement[bool]:
    """Identity values starting with `prefix` (case as given), as a range of the value index
    (ix_identities_value, 0014_inbox_speed) that both backends read in byte order — a LIKE 'p%' would
    scan every identity (SQLite's LIKE uses no index of a BINARY column; PostgreSQL's none of a bound
    pattern under a linguistic collation)."""
    value: ColumnElement[str] = Identity.value.expression
    if session.get_bind().dialect.name == "postgresql":
        value = Identity.value.collate("C")
    return and_(value >= prefix, value < prefix + _TOP)


def _phone_trigram_ids(digits: str) -> Select[Any]:
    """The ids of the phone identities whose value holds `digits` (three or more): the phrase of their
    trigrams, one after the other, in the FTS5 table of the phones' values (digits need no quoting)."""
    match = text(f"{PHONE_TRIGRAMS} MATCH :phone_digits").bindparams(phone_digits=f'"{digits}"')
    return select(column("rowid")).select_from(text(PHONE_TRIGRAMS)).where(match)


def identity_match(session: AsyncSession, query: Query, *, phone_digits: bool = False) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    if query.phone is not None:
        conditions.append(and_(Identity.kind == "phone", Identity.value == query.phone))
    elif phone_digits and query.digits is not None:
        # The phones only. SQLite reads their range of the (kind, value, contact_id) index, not the
        # identities' rows, with instr() (LIKE with its escape took 1.3-1.4 times as long; digits have no
        # case); PostgreSQL finds them by LIKE in the trigram index of the phones where pg_trgm is there
        # (0017_inbox_indexes), else by the same range.
        holding = func.instr(Identity.value, query.digits) > 0
        if session.get_bind().dialect.name == "sqlite" and phone_trigrams(session.get_bind()):
            # The candidates from the trigram index of the phones (0020_phone_trigrams: phones alone), read
            # by id; instr() keeps the definition exact whatever the index finds. Not with kind = 'phone'
            # as well: SQLite then read the phones' range of the (kind, value) index and tested each.
            conditions.append(and_(Identity.id.in_(_phone_trigram_ids(query.digits)), holding))
        elif session.get_bind().dialect.name == "sqlite":
            conditions.append(and_(Identity.kind == "phone", holding))
        else:
            holding = Identity.value.contains(query.digits, autoescape=True)
            conditions.append(and_(Identity.kind == "phone", holding))
    if query.value_prefix is not None:
        # lower-cased (e-mail addresses are stored so) and as typed (a visitor id keeps its case)
        for prefix in dict.fromkeys((query.value_prefix, query.text)):
            conditions.append(_starting_with(session, prefix))
    return or_(*conditions) if conditions else false()


def pg_card_text_match(query: Query) -> ColumnElement[bool]:
    """PostgreSQL: the WHERE clause of the cards whose name or company match, on `contacts.name` and
    `contacts.company` by those names (the table, or a subquery of it named so)."""
    return _pg_match("contacts", query)


def card_matches(session: AsyncSession, query: Query, *, phone_digits: bool = False) -> ColumnElement[bool]:
    """The WHERE clause, on :class:`Contact`, of the cards whose name, company or an identity match; with
    `phone_digits` (the contacts list's search) also those with a phone number holding the query's digits
    (when the query is not a whole number)."""
    return Contact.id.in_(card_match_ids(session, query, phone_digits=phone_digits))


def card_match_ids(session: AsyncSession, query: Query, *, phone_digits: bool = False) -> CompoundSelect[Any]:
    """The ids of the cards :func:`card_matches` finds (one column; an id may come twice)."""
    identities = identity_match(session, query, phone_digits=phone_digits)
    by_identity = select(Identity.contact_id).where(identities)
    # One list of ids (the full-text hits and the identities'): the database reads the matching cards by
    # id. Asked as "text matches OR id in (identities)", both backends walked every card newest first and
    # tested it — PostgreSQL computing each card's to_tsvector (seconds at 100,000 cards).
    if session.get_bind().dialect.name == "sqlite":
        by_text = _fts5_ids("contacts", query)
    else:  # its own FROM contacts (not the outer query's), so that the GIN indexes answer it
        by_text = select(Contact.id).where(_pg_match("contacts", query)).correlate(None)
    return by_text.union_all(by_identity)


def conversation_matches(session: AsyncSession, query: Query) -> ColumnElement[bool]:
    """The WHERE clause, on :class:`Conversation`, of the conversations whose subject, a message or the
    card match (the conversations list's `q=`)."""
    by_message = select(Message.conversation_id).where(message_matches(session, query))
    by_card = select(Contact.id).where(card_matches(session, query))
    return or_(
        _matches(session, "conversations", Conversation.id, query),
        Conversation.id.in_(by_message),
        Conversation.contact_id.in_(by_card),
    )


# -- snippets -----------------------------------------------------------------------------------------------


def snippet(body: str, query: Query, context: int = SNIPPET_CONTEXT) -> str:
    """An HTML-escaped excerpt of `body` around its first match, every match inside wrapped in <mark>."""
    body = body[:100_000]
    alternatives = []
    for chunk in query.chunks:
        pieces = [re.escape(p) for p in chunk.matched]
        pieces[-1] += r"[^\W_]*"
        alternatives.append(r"[\W_]+".join(pieces))
    pattern = re.compile(r"(?<![^\W_])(?:" + "|".join(alternatives) + ")", re.IGNORECASE)
    first = pattern.search(body)
    if first is None:
        start, end = 0, min(len(body), 2 * context)
    else:
        start, end = max(0, first.start() - context), min(len(body), first.end() + context)
        if start > 0:  # begin at a word
            space = body.find(" ", start, first.start())
            start = space + 1 if space != -1 else start
        if end < len(body):
            space = body.rfind(" ", first.end(), end)
            end = space if space != -1 else end
    excerpt = " ".join(body[start:end].split())
    out: list[str] = []
    position = 0
    for found in pattern.finditer(excerpt):
        out.append(html.escape(excerpt[position : found.start()]))
        out.append("<mark>" + html.escape(found.group(0)) + "</mark>")
        position = found.end()
    out.append(html.escape(excerpt[position:]))
    return ("…" if start > 0 else "") + "".join(out) + ("…" if end < len(body) else "")


# -- the search --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageHit:
    id: int
    conversation_id: int
    contact_id: int | None
    contact_name: str | None
    direction: str
    subject: str | None
    created_at: datetime
    snippet: str  # escaped HTML: matches in <mark>
    kind: Literal["message"] = "message"


@dataclass(frozen=True, slots=True)
class ConversationHit:
    id: int
    contact_id: int
    contact_name: str | None
    subject: str | None
    status: str
    channel_kind: str
    last_message_at: datetime | None
    kind: Literal["conversation"] = "conversation"


@dataclass(frozen=True, slots=True)
class CardHit:
    id: int
    name: str | None
    company: str | None
    card_kind: str
    identities: tuple[tuple[str, str], ...]
    conversation_id: int | None  # the card's newest conversation the viewer may see (what a click opens)
    kind: Literal["card"] = "card"


Hit = MessageHit | ConversationHit | CardHit


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: list[Hit] = field(default_factory=list)
    next_cursor: str | None = None


def parse_cursor(cursor: str | None) -> dict[Kind, int] | None:
    """`kind.id~kind.id…` → where each kind's next page starts (hits with smaller ids); SearchError naming
    `cursor` when malformed."""
    if cursor is None:
        return None
    if not _CURSOR.fullmatch(cursor):
        raise SearchError("cursor is not one this search returned", "cursor")
    result: dict[Kind, int] = {}
    for piece in cursor.split("~"):
        kind, _, number = piece.partition(".")
        result[kind] = int(number)  # type: ignore[index]
    return result


def _kinds(kinds: Iterable[str] | None) -> tuple[Kind, ...]:
    wanted = tuple(dict.fromkeys(kinds or KINDS))
    unknown = [k for k in wanted if k not in KINDS]
    if unknown:
        raise SearchError(f"kind must be one of {', '.join(KINDS)}", "kind")
    return tuple(k for k in KINDS if k in wanted)


async def search(
    session: AsyncSession,
    viewer: Viewer,
    q: str | None,
    kinds: Sequence[str] | None = None,
    limit: int = 20,
    cursor: str | None = None,
    *,
    region: str = "RU",
) -> SearchPage:
    """Messages (with a snippet), conversations and cards matching `q` that `viewer` may see: up to `limit`
    of each kind, newest first, grouped by kind; `next_cursor` continues the kinds that have more."""
    query = parse_query(q, region)
    if not 1 <= limit <= MAX_LIMIT:
        raise SearchError(f"limit must be between 1 and {MAX_LIMIT}", "limit")
    wanted = _kinds(kinds)
    after = parse_cursor(cursor)
    if after is not None:
        wanted = tuple(k for k in wanted if k in after)
    before = after or {}
    hits: list[Hit] = []
    more: dict[Kind, int] = {}
    if "message" in wanted:
        found = await _messages(session, viewer, query, limit + 1, before.get("message"))
        hits.extend(found[:limit])
        if len(found) > limit:
            more["message"] = found[limit - 1].id
    if "conversation" in wanted:
        convs = await _conversations(session, viewer, query, limit + 1, before.get("conversation"))
        hits.extend(convs[:limit])
        if len(convs) > limit:
            more["conversation"] = convs[limit - 1].id
    if "card" in wanted:
        cards = await _cards(session, viewer, query, limit + 1, before.get("card"))
        hits.extend(cards[:limit])
        if len(cards) > limit:
            more["card"] = cards[limit - 1].id
    next_cursor = "~".join(f"{k}.{v}" for k, v in more.items()) or None
    return SearchPage(hits=hits, next_cursor=next_cursor)


async def _messages(
    session: AsyncSession, viewer: Viewer, query: Query, limit: int, before: int | None
) -> list[MessageHit]:
    stmt = (
        select(Message, Contact.name)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(message_matches(session, query), visible(viewer))
    )
    if before is not None:
        stmt = stmt.where(Message.id < before)
    rows = (await session.execute(stmt.order_by(Message.id.desc()).limit(limit))).all()
    return [
        MessageHit(
            id=m.id,
            conversation_id=m.conversation_id,
            contact_id=m.contact_id,
            contact_name=name,
            direction=m.direction,
            subject=m.subject,
            created_at=m.created_at,
            snippet=_message_snippet(m, query),
        )
        for m, name in rows
    ]


def _message_snippet(message: Message, query: Query) -> str:
    body = message.body_text or ""
    if message.subject and not snippet(body, query).count("<mark>"):
        return snippet(message.subject, query)
    return snippet(body, query)


async def _conversations(
    session: AsyncSession, viewer: Viewer, query: Query, limit: int, before: int | None
) -> list[ConversationHit]:
    stmt = (
        select(Conversation, Contact.name)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(conversation_matches(session, query), visible(viewer))
    )
    if before is not None:
        stmt = stmt.where(Conversation.id < before)
    rows = (await session.execute(stmt.order_by(Conversation.id.desc()).limit(limit))).all()
    return [
        ConversationHit(
            id=c.id,
            contact_id=c.contact_id,
            contact_name=name,
            subject=c.subject,
            status=c.status,
            channel_kind=c.channel_kind,
            last_message_at=c.last_message_at,
        )
        for c, name in rows
    ]


async def _cards(
    session: AsyncSession, viewer: Viewer, query: Query, limit: int, before: int | None
) -> list[CardHit]:
    stmt = select(Contact).where(
        Contact.merged_into_id.is_(None), card_matches(session, query), visible_contacts(viewer)
    )
    if before is not None:
        stmt = stmt.where(Contact.id < before)
    cards = list(await session.scalars(stmt.order_by(Contact.id.desc()).limit(limit)))
    identities: dict[int, list[tuple[str, str]]] = {c.id: [] for c in cards}
    if cards:
        rows = await session.execute(
            select(Identity.contact_id, Identity.kind, Identity.value)
            .where(Identity.contact_id.in_(identities))
            .order_by(Identity.id)
        )
        for contact_id, kind, value in rows:
            identities[contact_id].append((kind, value))
    newest: dict[int, int] = {}
    if cards:
        latest = await session.execute(
            select(Conversation.contact_id, func.max(Conversation.id))
            .where(Conversation.contact_id.in_(identities), visible(viewer))
            .group_by(Conversation.contact_id)
        )
        newest = {contact_id: conv_id for contact_id, conv_id in latest}
    return [
        CardHit(
            id=c.id,
            name=c.name,
            company=c.company,
            card_kind=c.kind,
            identities=tuple(identities[c.id]),
            conversation_id=newest.get(c.id),
        )
        for c in cards
    ]


__all__ = [
    "KINDS",
    "CardHit",
    "ConversationHit",
    "Hit",
    "MessageHit",
    "SearchError",
    "SearchPage",
    "card_matches",
    "conversation_matches",
    "message_matches",
    "parse_query",
    "search",
    "snippet",
]
