"""The quarantine: every inbound item a channel or the ingest path could not take, kept so nothing is lost.

A :class:`inbox.items.Refused` item travels the same group-commit path as new messages
(:class:`inbox.ingest.IngestQueue`): its raw bytes go to the blob store before the transaction (like
attachments), its row is staged with the neighbouring messages and committed with them, and the sink returns
only after that commit. A connector moves its cursor past an item only once the sink has returned, so a crash
leaves the item either in the quarantine or in front of an unmoved cursor, where it is read again; the row's
key (account, position, SHA-256 of the raw bytes) makes that second read a no-op.

:func:`retry` runs stored items through today's parser (a ``reparse`` the hub builds from the channel's
``parse_file``): an item that now parses is handed to the sink (ingested once: the ingest is idempotent on
the external id) and then leaves the quarantine; one that still fails stays, with the new reason.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox import audit
from inbox.blobs import BlobStore
from inbox.items import InboundItem, Refused
from inbox.models import QuarantineItem, utcnow

log = logging.getLogger(__name__)

POSITION_LENGTH = 500  # the column's width; longer positions (a long file path) are cut from the left


@dataclass(frozen=True, slots=True)
class RefusedResult:
    """A refused item is stored in the quarantine (`duplicate`: it already was, from an earlier read)."""

    account_id: int
    reason: str
    position: str | None = None
    quarantine_id: int | None = None
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "refused": self.reason,
            "account_id": self.account_id,
            "position": self.position,
            "quarantine_id": self.quarantine_id,
            "duplicate": self.duplicate,
        }


def position_key(position: str | None) -> str:
    """The stored position: "" for none, the tail of an overlong one (the end of a path says the most)."""
    if not position:
        return ""
    return position if len(position) <= POSITION_LENGTH else position[-POSITION_LENGTH:]


async def keep_raw(items: Sequence[Refused], store: BlobStore | None) -> dict[int, str]:
    """Write the raw bytes before the transaction (see inbox.blobs); id(item) → SHA-256."""
    digests: dict[int, str] = {}
    for item in items:
        if store is not None:
            digests[id(item)] = await store.put(item.raw)
        else:
            digests[id(item)] = hashlib.sha256(item.raw).hexdigest()
    return digests


async def stage_refused(
    session: AsyncSession, items: Sequence[Refused], digests: dict[int, str], *, inline: bool
) -> list[RefusedResult]:
    """Stage a quarantine row per item in `session` (not committed); one already stored is not stored again.

    `inline` keeps the bytes in the row itself (no blob store is configured: they must live somewhere).
    """
    if not items:
        return []
    keys = [(i.account_id, position_key(i.position), digests[id(i)]) for i in items]
    found: dict[tuple[int, str, str], QuarantineItem] = {}
    rows = await session.scalars(
        select(QuarantineItem).where(
            tuple_(QuarantineItem.account_id, QuarantineItem.position, QuarantineItem.sha256).in_(set(keys))
        )
    )
    for row in rows:
        found[(row.account_id, row.position, row.sha256)] = row
    staged: list[tuple[QuarantineItem, bool]] = []
    now = utcnow()
    for item, key in zip(items, keys, strict=True):
        known = found.get(key)
        if known is not None:
            staged.append((known, True))
            continue
        row = QuarantineItem(
            account_id=item.account_id,
            reason=item.reason,
            position=key[1],
            sha256=key[2],
            size=len(item.raw),
            raw=item.raw if inline else None,
            received_at=now,
            attempts=0,
        )
        session.add(row)
        found[key] = row
        staged.append((row, False))
    await session.flush()
    results = []
    for (row, duplicate), item in zip(staged, items, strict=True):
        # Debug: the channel has warned where it refused (and `okno ingest` printed it); this says where it
        # is kept. The payload itself is never logged: it may carry personal data or a secret.
        log.debug(
            "account %d refused an item of %d bytes at %s: %s (quarantine #%d%s)",
            item.account_id,
            len(item.raw),
            item.position or "an unknown position",
            item.reason,
            row.id,
            ", already there" if duplicate else "",
        )
        results.append(RefusedResult(item.account_id, item.reason, item.position, row.id, duplicate))
    return results


async def store(session: AsyncSession, item: Refused, store: BlobStore | None = None) -> RefusedResult:
    """Quarantine one item in `session` and commit (the one-off path; connectors' sinks batch them)."""
    digests = await keep_raw([item], store)
    (result,) = await stage_refused(session, [item], digests, inline=store is None)
    await session.commit()
    return result


async def list_items(
    session: AsyncSession, *, account_id: int | None = None, limit: int = 200, before_id: int | None = None
) -> list[QuarantineItem]:
    """Stored items, newest first, of one account or all; `before_id` pages on."""
    query = select(QuarantineItem).order_by(QuarantineItem.id.desc()).limit(limit)
    if account_id is not None:
        query = query.where(QuarantineItem.account_id == account_id)
    if before_id is not None:
        query = query.where(QuarantineItem.id < before_id)
    return list(await session.scalars(query))


async def counts_by_account(session: AsyncSession) -> dict[int, int]:
    """How many items each account has in the quarantine (accounts with none are absent)."""
    rows = await session.execute(
        select(QuarantineItem.account_id, func.count()).group_by(QuarantineItem.account_id)
    )
    return {int(account_id): int(count) for account_id, count in rows}


async def raw_bytes(item: QuarantineItem, store: BlobStore | None) -> bytes:
    """The item's raw bytes: from the row, or from the blob store."""
    if item.raw is not None:
        return item.raw
    if store is None:
        raise LookupError(f"quarantine #{item.id}: its bytes are in a blob store that is not configured")
    return await store.get(item.sha256)


def to_dict(item: QuarantineItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "account_id": item.account_id,
        "reason": item.reason,
        "position": item.position or None,
        "size": item.size,
        "sha256": item.sha256,
        "received_at": item.received_at.isoformat(),
        "attempts": item.attempts,
        "retried_at": item.retried_at.isoformat() if item.retried_at else None,
    }


@dataclass(frozen=True, slots=True)
class StoredRefusal:
    """What a reparse is given: a quarantined item read out of its row (no session attached)."""

    id: int
    account_id: int
    position: str | None
    raw: bytes


# Today's parser for a stored item: the items it now yields, or ValueError (a PayloadError) if it still fails.
Reparse = Callable[[StoredRefusal], Awaitable[Sequence[InboundItem]]]
Sink = Callable[[InboundItem], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class RetryOutcome:
    """`ingested`: it parsed, was handed in and left the quarantine; `refused`: it stays, with `reason`."""

    id: int
    account_id: int
    status: Literal["ingested", "refused"]
    reason: str | None = None
    results: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "status": self.status,
            "reason": self.reason,
            "results": list(self.results),
        }


async def select_ids(
    sessionmaker: async_sessionmaker[AsyncSession], ids: Iterable[int] = (), account_id: int | None = None
) -> list[int]:
    """The ids to retry: `ids` that exist, or every item of `account_id`, oldest first."""
    wanted = sorted(set(ids))
    query = select(QuarantineItem.id).order_by(QuarantineItem.id)
    if wanted:
        query = query.where(QuarantineItem.id.in_(wanted))
    if account_id is not None:
        query = query.where(QuarantineItem.account_id == account_id)
    async with sessionmaker() as session:
        return list(await session.scalars(query))


async def retry(
    sessionmaker: async_sessionmaker[AsyncSession],
    ids: Sequence[int],
    reparse: Reparse,
    sink: Sink,
    store: BlobStore | None,
    *,
    actor_agent_id: int | None = None,
) -> list[RetryOutcome]:
    """Re-run each item through today's parser (see the module docstring), outside any transaction.

    Each retry is written to the audit log (`actor_agent_id`: the admin who asked; none from the CLI).
    """
    outcomes: list[RetryOutcome] = []
    for item_id in ids:
        async with sessionmaker() as session:
            row = await session.get(QuarantineItem, item_id)
            if row is None:
                continue  # taken by a concurrent retry meanwhile
            stored = StoredRefusal(row.id, row.account_id, row.position or None, await raw_bytes(row, store))
        outcome = await _retry_one(stored, reparse, sink)
        async with sessionmaker() as session:
            if outcome.status == "ingested":
                await session.execute(delete(QuarantineItem).where(QuarantineItem.id == item_id))
            else:
                row = await session.get(QuarantineItem, item_id)
                if row is not None:
                    row.reason = outcome.reason or row.reason
                    row.attempts += 1
                    row.retried_at = utcnow()
            audit.record(
                session,
                "quarantine.retry",
                entity="quarantine",
                entity_id=item_id,
                actor_agent_id=actor_agent_id,
                detail={"account_id": stored.account_id, "status": outcome.status, "reason": outcome.reason},
            )
            await session.commit()
        outcomes.append(outcome)
    return outcomes


async def _retry_one(stored: StoredRefusal, reparse: Reparse, sink: Sink) -> RetryOutcome:
    def refused(reason: str) -> RetryOutcome:
        return RetryOutcome(stored.id, stored.account_id, "refused", reason)

    try:
        items = list(await reparse(stored))
    except ValueError as exc:  # PayloadError and the parsers' own value errors
        return refused(str(exc) or exc.__class__.__name__)
    if not items:
        return refused("today's parser finds nothing in it to take")
    still = [i for i in items if isinstance(i, Refused)]
    if still:
        return refused(still[0].reason)
    results: list[dict[str, Any]] = []
    for item in items:
        try:
            result = await sink(item)
        except ValueError as exc:  # an IngestError: the inbox refused what the parser gave
            return refused(str(exc) or exc.__class__.__name__)
        to_dict = getattr(result, "to_dict", None)
        results.append(to_dict() if callable(to_dict) else {})
    return RetryOutcome(stored.id, stored.account_id, "ingested", results=tuple(results))
