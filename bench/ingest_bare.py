"""The ceiling for bench/ingest.py on PostgreSQL: the same durable rows, written by bare asyncpg.

Each batch of messages becomes the rows the hub writes for it, in the hub's schema (its indexes, foreign
keys and full-text indexes): a look-up of the messages already stored (idempotency) and of the senders'
identities with their cards, new cards and their identities, the senders' open conversations, new
conversations and an UPDATE of the joined ones, the messages, their reporting events and the waits they
open — then COMMIT (synchronous_commit as the server has it: on). Every statement takes its rows as
arrays (``unnest``), so each has one text, prepared once per connection; no ORM, no SQL toolkit, nothing
per message in Python beyond building those arrays. What a hub process cannot beat on this machine with
this schema: its ratio to this is how much of the ceiling the hub reaches.

No routing, no bus events, none of the rules for typed identities, references or hints: the bench's
messages need none of them (every sender vouched for, no threading by reference).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from inbox.items import InboundMessage

FIRST_RESPONSE_SLA = timedelta(hours=1)

# Look-ups: the pairs or ids joined as arrays, as the hub does (see inbox.pg_bulk.per_pair).
STORED = """
SELECT m.account_id, m.external_id FROM messages m
JOIN unnest($1::bigint[], $2::text[]) AS w(account_id, external_id)
  ON m.account_id = w.account_id AND m.external_id = w.external_id
"""
CARDS = """
SELECT kind, value, id, trust FROM (
  SELECT i.kind, i.value, i.trust, c.id, c.merged_into_id FROM identities i
  JOIN unnest($1::text[], $2::text[]) AS w(kind, value) ON i.kind = w.kind AND i.value = w.value
  JOIN contacts c ON c.id = i.contact_id
  OFFSET 0
) AS found
WHERE merged_into_id IS NULL
ORDER BY id
"""
NEW_CARDS = """
INSERT INTO contacts (name, kind, source_channel, tags, custom_fields, created_at, updated_at, _sentinel)
SELECT name, 'lead', source, '[]', '{}', $3, $3, n
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(name, source, n)
RETURNING id, _sentinel
"""
NEW_IDENTITIES = """
INSERT INTO identities (contact_id, kind, value, trust, created_at)
SELECT contact_id, kind, value, 'vouched', $4
FROM unnest($1::bigint[], $2::text[], $3::text[]) AS w(contact_id, kind, value)
"""
OPEN = """
SELECT c.id, c.contact_id, c.account_id, c.waiting_since FROM conversations c
JOIN unnest($1::bigint[]) AS w(contact_id) ON c.contact_id = w.contact_id
WHERE c.account_id = ANY($2::bigint[]) AND c.status <> 'resolved'
ORDER BY c.id
"""
NEW_CONVERSATIONS = """
INSERT INTO conversations (contact_id, account_id, channel_kind, subject, status, priority, created_at,
  updated_at, last_message_at, waiting_since, first_response_due, _sentinel)
SELECT contact_id, account_id, kind, subject, 'open', 0, $5, $5, $5, $5, $6, n
FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) WITH ORDINALITY
  AS w(contact_id, account_id, kind, subject, n)
RETURNING id, _sentinel
"""
TOUCH = """
UPDATE conversations c SET last_message_at = $2, updated_at = $2,
  waiting_since = coalesce(c.waiting_since, $2),
  first_response_due = CASE WHEN c.first_response_at IS NULL THEN coalesce(c.first_response_due, $3)
                            ELSE c.first_response_due END
FROM unnest($1::bigint[]) AS w(id) WHERE c.id = w.id
"""
MESSAGES = """
INSERT INTO messages (conversation_id, account_id, direction, kind, contact_id, external_id, subject,
  body_text, created_at, meta, _sentinel)
SELECT conversation_id, account_id, 'in', 'message', contact_id, external_id, subject, body, $7, '{}', n
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY
  AS w(conversation_id, account_id, contact_id, external_id, subject, body, n)
RETURNING id, _sentinel
"""
EVENTS = """
INSERT INTO reporting_events (name, occurred_at, conversation_id, contact_id, account_id, channel_kind)
SELECT name, $6, conversation_id, contact_id, account_id, kind
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[])
  AS w(name, conversation_id, contact_id, account_id, kind)
"""
WAITS = """
INSERT INTO report_waits (kind, conversation_id, contact_id, account_id, channel_kind, started_at)
SELECT kind, conversation_id, contact_id, account_id, channel_kind, $6
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[])
  AS w(kind, conversation_id, contact_id, account_id, channel_kind)
"""


@dataclass(slots=True)
class _Conv:
    id: int | None
    contact: Any  # an int, or the new card's list index before its id is known
    account_id: int
    kind: str
    subject: str | None
    new: bool = False
    waiting: bool = True


@dataclass(slots=True)
class _Batch:
    cards: dict[tuple[str, str], Any] = field(default_factory=dict)  # (kind, value) → card id or key
    new_cards: list[tuple[str | None, str]] = field(default_factory=list)
    new_identities: list[tuple[Any, str, str]] = field(default_factory=list)
    convs: dict[tuple[Any, int], _Conv] = field(default_factory=dict)


async def write_batch(conn: Any, items: Sequence[InboundMessage], kinds: dict[int, str]) -> int:
    """The batch's rows in one transaction; the number of messages stored (redeliveries are skipped)."""
    now = datetime.now(UTC)
    async with conn.transaction():
        stored = {
            (a, e)
            for a, e in await conn.fetch(
                STORED, [i.account_id for i in items], [i.external_id for i in items]
            )
        }
        items = [i for i in items if (i.account_id, i.external_id) not in stored]
        refs = {(r.kind, r.value) for i in items for r in i.sender.identities}
        batch = _Batch()
        for kind, value, card, trust in await conn.fetch(CARDS, [k for k, _ in refs], [v for _, v in refs]):
            if trust == "vouched":
                batch.cards.setdefault((kind, value), card)
        senders: list[Any] = []
        for item in items:
            keys = [(r.kind, r.value) for r in item.sender.identities]
            card = next((batch.cards[k] for k in keys if k in batch.cards), None)
            if card is None:
                card = ("new", len(batch.new_cards))
                batch.new_cards.append((item.sender.name, kinds[item.account_id]))
            for key in keys:
                if key not in batch.cards:
                    batch.cards[key] = card
                    batch.new_identities.append((card, *key))
            senders.append(card)
        ids: dict[Any, int] = {}
        if batch.new_cards:
            rows = await conn.fetch(NEW_CARDS, *zip(*batch.new_cards, strict=True), now)
            ids = {("new", n - 1): card_id for card_id, n in rows}
        senders = [ids.get(s, s) for s in senders]
        if batch.new_identities:
            await conn.execute(
                NEW_IDENTITIES,
                *zip(*((ids.get(c, c), k, v) for c, k, v in batch.new_identities), strict=True),
                now,
            )
        fresh = set(ids.values())
        known = sorted({s for s in senders if s not in fresh})
        accounts = sorted({i.account_id for i in items})
        for row in await conn.fetch(OPEN, known, accounts) if known else ():
            conv = _Conv(row[0], row[1], row[2], kinds[row[2]], None, waiting=row[3] is not None)
            batch.convs[(row[1], row[2])] = conv
        convs: list[_Conv] = []
        new: list[_Conv] = []
        for item, card in zip(items, senders, strict=True):
            found = batch.convs.get((card, item.account_id))
            if found is None:
                conv = batch.convs[(card, item.account_id)] = _Conv(
                    None, card, item.account_id, kinds[item.account_id], item.subject, new=True
                )
                new.append(conv)
            else:
                conv = found
            convs.append(conv)
        if new:
            columns = [(c.contact, c.account_id, c.kind, c.subject) for c in new]
            rows = await conn.fetch(
                NEW_CONVERSATIONS, *zip(*columns, strict=True), now, now + FIRST_RESPONSE_SLA
            )
            for conv_id, n in rows:
                new[n - 1].id = conv_id
        touched = [c.id for c in batch.convs.values() if not c.new]
        if touched:
            await conn.execute(TOUCH, touched, now, now + FIRST_RESPONSE_SLA)
        columns2 = [
            (c.id, i.account_id, c.contact, i.external_id, i.subject, i.text)
            for i, c in zip(items, convs, strict=True)
        ]
        if columns2:
            await conn.fetch(MESSAGES, *zip(*columns2, strict=True), now)
        events: list[tuple[str, Any, Any, int, str]] = []
        waits: list[tuple[str, Any, Any, int, str]] = []
        opened: set[int | None] = set()
        for conv in convs:
            row = (conv.id, conv.contact, conv.account_id, conv.kind)
            if conv.new and conv.id not in opened:
                opened.add(conv.id)
                events.append(("conversation_opened", *row))
                waits += [("first_response", *row), ("resolution", *row), ("reply", *row)]
            elif not conv.waiting:
                conv.waiting = True
                waits.append(("reply", *row))
            events.append(("message_received", *row))
        if events:
            await conn.execute(EVENTS, *zip(*events, strict=True), now)
        if waits:
            await conn.execute(WAITS, *zip(*waits, strict=True), now)
    return len(items)


def chunks(items: Iterable[InboundMessage], size: int) -> Iterator[list[InboundMessage]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


async def run(conn: Any, items: Iterator[InboundMessage], batch: int) -> tuple[float, float, float, int]:
    """Every item through `write_batch` in batches of `batch` on the asyncpg connection `conn`:
    (start, end, CPU seconds, batches)."""
    kinds = {row[0]: row[1] for row in await conn.fetch("SELECT id, kind FROM channel_accounts")}
    started, cpu = time.perf_counter(), time.process_time()
    count = 0
    for chunk in chunks(items, batch):
        await write_batch(conn, chunk, kinds)
        count += 1
    return started, time.perf_counter(), time.process_time() - cpu, count
