"""PostgreSQL: a batch's new inbound messages, their reporting events and the waits they open, in one
statement.

The events and waits of an inbound message follow from the message itself and a few facts about it (see
inbox.ingest: ``message_received`` for every message of kind "message", ``conversation_opened`` or
``conversation_reopened`` when it began a cycle, a *first_response* and a *resolution* wait for a new
cycle, a *reply* wait when the client was not waiting yet). Sent as rows of their own they were two more
statements and round trips per group commit, and three in four of the values the batch sent: the message's
conversation, card, account and time again for each event and wait. Here every message goes in once, as
one row of arrays (``unnest``, one text whatever the batch holds: see inbox.pg_bulk) with those facts as
two more columns, and the events and waits are made from those rows by data-modifying CTEs of the same
statement. An input with one value for every message of the batch (a kind, a NULL, an account's team)
goes in as one parameter instead of an array (as inbox.pg_bulk.BulkInsert does): a statement for each
such set, prepared once per connection. The statement-level trigger that counts reporting events
(migration 0016) still sees them as one INSERT. What comes back is each message's id, matched to its row
by its ordinal (``_sentinel``).

Event and wait rows take the conversation's account, channel, team and assignee as the batch read them,
and the wait's card is the conversation's, as inbox.reports.waits.wait_row files them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import pg_raw
from inbox.models import Message
from inbox.pg_bulk import variant
from inbox.reports.waits import FIRST_RESPONSE, REPLY, RESOLUTION

OPENS_CYCLE = 1  # a new cycle: a first_response and a resolution wait
OPENS_REPLY = 2  # the client begins to wait for a reply

MESSAGES = cast(Table, Message.__table__)

# The statement's inputs, one value per message each, and their types.
_INPUTS = (
    ("conversation_id", "bigint"),
    ("account_id", "bigint"),
    ("contact_id", "bigint"),
    ("kind", "text"),
    ("external_id", "text"),
    ("subject", "text"),
    ("body_text", "text"),
    ("body_html", "text"),
    ("sent_at", "timestamptz"),
    ("created_at", "timestamptz"),
    ("meta", "text"),
    ("received", "timestamptz"),
    ("opened", "text"),
    ("waits", "int"),
    ("conv_account_id", "bigint"),
    ("conv_contact_id", "bigint"),
    ("channel_kind", "text"),
    ("team_id", "bigint"),
    ("agent_id", "bigint"),
)

_WRITES = f"""
stored AS (
  INSERT INTO messages (conversation_id, account_id, direction, kind, contact_id, external_id, subject,
    body_text, body_html, sent_at, created_at, meta, _sentinel)
  SELECT conversation_id, account_id, 'in', kind, contact_id, external_id, subject, body_text, body_html,
    sent_at, created_at, CAST(meta AS json), n
  FROM w ORDER BY n
  RETURNING id, _sentinel
), events AS (
  INSERT INTO reporting_events (name, occurred_at, conversation_id, contact_id, team_id, agent_id,
    account_id, channel_kind)
  SELECT e.name, coalesce(w.received, w.created_at), w.conversation_id, w.contact_id, w.team_id,
    w.agent_id, w.conv_account_id, w.channel_kind
  FROM w CROSS JOIN LATERAL (VALUES (1, w.opened), (2, 'message_received')) AS e(o, name)
  WHERE w.kind = 'message' AND e.name IS NOT NULL
  ORDER BY w.n, e.o
), waits AS (
  INSERT INTO report_waits (kind, conversation_id, contact_id, account_id, channel_kind, team_id,
    started_at)
  SELECT k.kind, w.conversation_id, w.conv_contact_id, w.conv_account_id, w.channel_kind, w.team_id,
    coalesce(w.received, w.created_at)
  FROM w CROSS JOIN LATERAL (VALUES (1, '{FIRST_RESPONSE}', {OPENS_CYCLE}),
    (2, '{RESOLUTION}', {OPENS_CYCLE}), (3, '{REPLY}', {OPENS_REPLY})) AS k(o, kind, bit)
  WHERE w.kind = 'message' AND w.waits & k.bit <> 0
  ORDER BY w.n, k.o
)
SELECT id, _sentinel FROM stored
"""

_STATEMENTS: dict[frozenset[str], TextClause] = {}
_VARIANTS: set[frozenset[str]] = set()  # the sets of uniform inputs statements were made for


def _statement(uniform: frozenset[str]) -> TextClause:
    """The statement whose inputs in `uniform` (one value for every message) are single parameters and
    the others arrays (see inbox.pg_bulk.BulkInsert); built once for each such set."""
    statement = _STATEMENTS.get(uniform)
    if statement is None:
        arrays = [(name, type_) for name, type_ in _INPUTS if name not in uniform]
        ones = ", ".join(f"CAST(:{name} AS {type_}) AS {name}" for name, type_ in _INPUTS if name in uniform)
        unnested = ", ".join(f"CAST(:{name} AS {type_}[])" for name, type_ in arrays)
        columns = ", ".join(name for name, _ in arrays)
        source = (
            f"SELECT u.*{', ' + ones if ones else ''}\n"
            f"  FROM unnest({unnested}) WITH ORDINALITY AS u({columns}, n)"
        )
        statement = _STATEMENTS[uniform] = text(f"WITH w AS MATERIALIZED (\n  {source}\n), {_WRITES}")
    return statement


@dataclass(slots=True)
class Inbound:
    """One new inbound message as the statement takes it: its row (inbox.ingest's), and what the events
    and waits need: when the client wrote, the cycle event it opens (if any), the waits (OPENS_* bits),
    and its conversation's account, card, channel, team and assignee."""

    row: dict[str, Any]
    received: datetime
    opened: str | None
    waits: int
    conv_account_id: int
    conv_contact_id: int | None
    channel_kind: str
    team_id: int | None
    agent_id: int | None


_COLUMNS = (
    "conversation_id",
    "account_id",
    "contact_id",
    "kind",
    "external_id",
    "subject",
    "body_text",
    "body_html",
    "sent_at",
    "created_at",
)


def _json_serializer(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect
    process = MESSAGES.c.meta.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:  # pragma: no cover - every PostgreSQL driver's JSON type serializes
        raise RuntimeError("messages.meta has no JSON serializer on this dialect")
    return process


async def insert_inbound(session: AsyncSession, messages: Sequence[Inbound]) -> list[int]:
    """Insert `messages` with their reporting events and waits; their new ids, in order."""
    if not messages:
        return []
    rows = [m.row for m in messages]
    values: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in _COLUMNS}
    values["meta"] = [row["meta"] for row in rows]
    # Mostly the row's own time (no platform time given): sent once, as the row's (a time costs asyncpg
    # three times what a NULL does).
    values["received"] = [
        None if m.received == row["created_at"] else m.received for m, row in zip(messages, rows, strict=True)
    ]
    values["opened"] = [m.opened for m in messages]
    values["waits"] = [m.waits for m in messages]
    values["conv_account_id"] = [m.conv_account_id for m in messages]
    values["conv_contact_id"] = [m.conv_contact_id for m in messages]
    values["channel_kind"] = [m.channel_kind for m in messages]
    values["team_id"] = [m.team_id for m in messages]
    values["agent_id"] = [m.agent_id for m in messages]
    found = {name for name, column in values.items() if column.count(column[0]) == len(column)}
    if len(found) == len(values):  # the rows are made from one array at least
        found.discard("conversation_id")
    uniform = variant(_VARIANTS, frozenset(found))
    serialize = _json_serializer(session)
    params: dict[str, Any] = {}
    for name, column in values.items():
        if name == "meta":
            column = [serialize(value) for value in (column[:1] if name in uniform else column)]
        params[name] = column[0] if name in uniform else column
    ids: list[int | None] = [None] * len(messages)
    for message_id, ordinal in await pg_raw.fetch(session, _statement(uniform), params):
        ids[ordinal - 1] = message_id
    if any(i is None for i in ids):
        raise RuntimeError(f"INSERT INTO messages returned {len(messages)} rows incompletely")
    return cast(list[int], ids)
