"""Day roll-ups of the reports' waits: what a month's figures need, in a few thousand rows.

A wait report groups and filters by agent, team, channel, day, hour or weekday, and needs exact medians
and p90s (``percentile_cont``), which no sum or count can be rolled up into. So a roll-up row keeps the
*values* themselves — one row per kind of wait, local day, team, agent and channel, with every ended wait's
wall-clock and working-time seconds and the local hour it started in, as packed arrays in ascending
wall-clock order. A month at 100,000 conversations is some 6,000 rows instead of 300,000 waits: a report
reads them through the unique key, unpacks the arrays (C speed) and sorts only what it groups together.

Waits reach the roll-ups in passes (:func:`roll_up`, run by :class:`RollupWorker` every minute, after
`okno import history`, and by the reports bench): a pass reads ended waits not yet rolled up, merges them
into their rows *outside* any transaction, then in one short transaction flags the waits as rolled and
writes the rows back, each guarded by its version (a concurrent pass changes nothing twice: it finds the
flags or versions moved and starts over). A report reads the roll-ups and, beside them, the waits of its
period that are not yet rolled (still open, or ended since the last pass; a partial index holds only
those). Days and hours are counted in one zone, kept in :class:`~inbox.models.ReportRollupState`: when the
configured zone changes, the next pass rebuilds everything; a report in another zone reads the waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from array import array
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.models import ReportRollup, ReportRollupState, ReportWait
from inbox.reports.waits import KINDS
from inbox.workers import PassWorker

log = logging.getLogger(__name__)

NAN = math.nan
BATCH = 5_000  # waits per pass: a short write transaction, bounded memory
CHUNK = 500  # ids per UPDATE … IN (…): under every backend's limit on bound parameters
RollupKey = tuple[str, str, int, int, str]  # kind, local day, team id (0: none), agent id (0: none), channel


@dataclass(slots=True)
class Values:
    """Aligned arrays, one entry per wait: wall-clock seconds, working-time seconds (NaN: unknown), and the
    local hour the wait started in."""

    wall: array[float] = field(default_factory=lambda: array("d"))
    business: array[float] = field(default_factory=lambda: array("d"))
    hours: array[int] = field(default_factory=lambda: array("B"))

    def __len__(self) -> int:
        return len(self.wall)

    @classmethod
    def unpack(cls, wall: bytes, business: bytes, hours: bytes) -> Values:
        values = cls()
        values.wall.frombytes(wall)
        values.business.frombytes(business)
        values.hours.frombytes(hours)
        return values

    def pack(self) -> dict[str, Any]:
        return {
            "count": len(self.wall),
            "wall": self.wall.tobytes(),
            "business": self.business.tobytes(),
            "hours": self.hours.tobytes(),
        }

    def add(self, wall: float | None, business: float | None, hour: int) -> None:
        self.wall.append(NAN if wall is None else float(wall))
        self.business.append(NAN if business is None else float(business))
        self.hours.append(hour)

    def sorted(self) -> Values:
        """The same entries in ascending wall-clock order (unknown values last)."""
        order = sorted(range(len(self.wall)), key=lambda i: (math.isnan(self.wall[i]), self.wall[i]))
        return Values(
            array("d", (self.wall[i] for i in order)),
            array("d", (self.business[i] for i in order)),
            array("B", (self.hours[i] for i in order)),
        )


def rollup_key(
    kind: str, started_at: datetime, team_id: int | None, agent_id: int | None, channel: str, zone: ZoneInfo
) -> tuple[RollupKey, int]:
    """The roll-up row a wait belongs to, and the local hour it started in."""
    local = started_at.astimezone(zone)
    return (kind, local.date().isoformat(), team_id or 0, agent_id or 0, channel), local.hour


async def rollup_zone(session: AsyncSession) -> str | None:
    """The zone the roll-ups count days in (None: no roll-up yet)."""
    return await session.scalar(select(ReportRollupState.zone).where(ReportRollupState.id == 1))


async def _set_zone(sessionmaker: async_sessionmaker[AsyncSession], zone: str) -> None:
    """Start the roll-ups afresh in `zone` (the first pass ever, or the configured zone changed)."""
    async with sessionmaker() as session:
        state = await session.get(ReportRollupState, 1)
        if state is not None and state.zone == zone:
            return
        if state is not None:
            log.info("report roll-ups: counting days in %s (was %s), rebuilding", zone, state.zone)
        await session.execute(delete(ReportRollup))
        await session.execute(update(ReportWait).where(ReportWait.rolled).values(rolled=False))
        if state is None:
            session.add(ReportRollupState(id=1, zone=zone))
        else:
            state.zone = zone
        await session.commit()


async def roll_up(sessionmaker: async_sessionmaker[AsyncSession], zone: str, *, batch: int = BATCH) -> int:
    """Add every ended wait not yet rolled up to its roll-up row; returns how many waits were taken."""
    ZoneInfo(zone)  # an unknown zone fails here, before anything changes
    await _set_zone(sessionmaker, zone)
    total = 0
    conflicts = 0
    while True:
        taken = await _pass(sessionmaker, ZoneInfo(zone), batch)
        if taken is None:  # another pass moved the same rows first: read again
            conflicts += 1
            if conflicts > 20:
                log.warning("report roll-ups: passes keep colliding; leaving the rest for later")
                return total
            await asyncio.sleep(0)
            continue
        if taken == 0:
            return total
        total += taken


async def _pass(sessionmaker: async_sessionmaker[AsyncSession], zone: ZoneInfo, batch: int) -> int | None:
    """One batch: 0 when nothing is left, None on a collision with another pass (nothing written)."""
    w = ReportWait
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                select(
                    w.id,
                    w.kind,
                    w.started_at,
                    w.team_id,
                    w.agent_id,
                    w.channel_kind,
                    w.outcome,
                    w.value_seconds,
                    w.business_seconds,
                )
                .where(w.kind.in_(KINDS), ~w.rolled, w.outcome.is_not(None))
                .limit(batch)
            )
        ).all()
    if not rows:
        return 0
    # Outside any transaction: which row each wait joins (a dropped wait joins none: it is no figure).
    added: dict[RollupKey, Values] = defaultdict(Values)
    for _id, kind, started_at, team_id, agent_id, channel, outcome, value, business in rows:
        if outcome == "dropped":
            continue
        key, hour = rollup_key(kind, started_at, team_id, agent_id, channel, zone)
        added[key].add(value, business, hour)
    existing = await _read_rows(sessionmaker, list(added))
    merged: dict[RollupKey, tuple[int | None, int, Values]] = {}
    for key, new in added.items():
        found = existing.get(key)
        if found is None:
            merged[key] = (None, 0, new.sorted())
            continue
        row_id, version, old = found
        old.wall.extend(new.wall)
        old.business.extend(new.business)
        old.hours.extend(new.hours)
        merged[key] = (row_id, version, old.sorted())
    ids = [row[0] for row in rows]
    try:
        async with sessionmaker() as session:
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                result = await session.execute(
                    update(w).where(w.id.in_(chunk), ~w.rolled).values(rolled=True),
                    execution_options={"synchronize_session": False},
                )
                if result.rowcount != len(chunk):  # type: ignore[attr-defined]
                    await session.rollback()
                    return None
            for (kind, day, team_id, agent_id, channel), (known_id, version, values) in merged.items():
                if known_id is None:
                    await session.execute(
                        insert(ReportRollup).values(
                            kind=kind,
                            day=day,
                            team_id=team_id,
                            agent_id=agent_id,
                            channel_kind=channel,
                            version=0,
                            **values.pack(),
                        )
                    )
                    continue
                result = await session.execute(
                    update(ReportRollup)
                    .where(ReportRollup.id == known_id, ReportRollup.version == version)
                    .values(version=version + 1, **values.pack()),
                    execution_options={"synchronize_session": False},
                )
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    await session.rollback()
                    return None
            await session.commit()
    except IntegrityError:  # another pass created the same row first
        return None
    return len(rows)


async def _read_rows(
    sessionmaker: async_sessionmaker[AsyncSession], keys: Sequence[RollupKey]
) -> dict[RollupKey, tuple[int, int, Values]]:
    r = ReportRollup
    found: dict[RollupKey, tuple[int, int, Values]] = {}
    async with sessionmaker() as session:
        for start in range(0, len(keys), CHUNK // 5):
            chunk = keys[start : start + CHUNK // 5]
            query = select(
                r.kind,
                r.day,
                r.team_id,
                r.agent_id,
                r.channel_kind,
                r.id,
                r.version,
                r.wall,
                r.business,
                r.hours,
            ).where(tuple_(r.kind, r.day, r.team_id, r.agent_id, r.channel_kind).in_(chunk))
            for (
                kind,
                day,
                team_id,
                agent_id,
                channel,
                row_id,
                version,
                wall,
                business,
                hours,
            ) in await session.execute(query):
                found[(kind, day, team_id, agent_id, channel)] = (
                    row_id,
                    version,
                    Values.unpack(wall, business, hours),
                )
    return found


async def unrolled_count(session: AsyncSession, kind: str, start: datetime, end: datetime) -> int:
    """How many waits of the period a report would read beside the roll-ups (open or not yet rolled)."""
    w = ReportWait
    return int(
        await session.scalar(
            select(func.count()).where(w.kind == kind, ~w.rolled, w.started_at >= start, w.started_at < end)
        )
        or 0
    )


class RollupWorker(PassWorker):
    """Runs :func:`roll_up` every `interval` seconds (and when woken), in the hub's configured zone."""

    task_name = "okno-report-rollups"

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], zone: str, *, interval: float = 60.0
    ) -> None:
        super().__init__()
        self._sessionmaker = sessionmaker
        self._zone = zone
        self._interval = interval
        self.passes = 0

    async def run_once(self) -> int:
        taken = await roll_up(self._sessionmaker, self._zone)
        self.passes += 1
        return taken

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.run_once()
            except Exception:  # a failed pass is retried on the next; the reports read the waits meanwhile
                log.exception("report roll-up pass failed")
            self._wake.clear()
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
