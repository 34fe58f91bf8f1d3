"""Kamailio ``acc`` records: the transactions of each call, from flatstore files or the SQLite table.

The acc module writes one record per accounted transaction: method, from_tag, to_tag, callid,
sip_code, sip_reason, time, then the ``time_mode`` columns (``time_attr``, ``time_exten``) and the
``db_extra`` columns. A call is the INVITE (200 = answered; 486/600 = busy; 487/408/480/603 = not
answered; other failures = failed) and, when answered, the BYE that ends it; records sharing a Call-ID
are merged by the domain. Recommended configuration (the one the tests run)::

    modparam("acc", "db_flag", 1)                    # setflag(1) on INVITEs and BYEs
    modparam("acc", "db_missed_flag", 2)             # setflag(2) on INVITEs
    modparam("acc", "failed_transaction_flag", 3)    # setflag(3) on INVITEs
    modparam("acc", "time_mode", 1)                  # seconds + microseconds
    modparam("acc", "time_attr", "time_sec")
    modparam("acc", "time_exten", "time_usec")
    modparam("acc", "db_extra", "src_user=$fU;dst_user=$rU;src_ip=$si;did=$avp(did);invite_ts=$avp(invts)")
    # in request_route, for a new INVITE:  $avp(invts) = $TV(Sn);  (and $avp(did) = $rU before rewriting
    # the dialled number to an extension)

``invite_ts`` (when the INVITE arrived) gives the ringing time; without it the wait is unknown.
Flatstore (``db_url "flatstore:DIR"``) writes ``DIR/<table>_<process>.log``, one ``|``-separated line per
record; name its columns with the account option ``columns`` unless they are one of the layouts
recognized by count (7: no extras; 9: + time_attr/time_exten; 10: + src_user, dst_user, src_ip; 12: both;
13 and 15: the extras of Kamailio's default configuration; 14: the configuration recommended above). A
SQLite ``db_url`` is read by column name. A record that cannot be read (a layout of no known length, a
broken field) is handed to the sink as :class:`Refused` with its file and byte offset (or table and id),
so it is kept and can be retried once the layout is named — never only logged while the cursor moves on.
With db_sqlite, put the database in WAL mode (``modparam("db_sqlite", "db_set_journal_mode",
"/path/acc.sqlite=WAL;")``): in the default rollback-journal mode a reader holds a lock that makes
Kamailio's inserts fail at once ("database is locked", the record is lost); the follower warns when
the file is not in WAL mode. ``acc`` and ``missed_calls`` both hold failed INVITEs: the copies have
the same event id, so reading both tables imports each call once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from channels.base import CursorStore, PayloadError
from channels.sip.common import UTC_ZONE, ParseContext, event_id
from inbox.items import CallEvent, Refused

log = logging.getLogger(__name__)

BASE = ("method", "from_tag", "to_tag", "callid", "sip_code", "sip_reason", "time")
TIME_MODE = ("time_attr", "time_exten")
RECIPE = ("src_user", "dst_user", "src_ip")
RECOMMENDED = ("time_sec", "time_usec", "src_user", "dst_user", "src_ip", "did", "invite_ts")
DEFAULT_CFG = ("src_user", "src_domain", "src_ip", "dst_ouser", "dst_user", "dst_domain")
LAYOUTS: dict[int, tuple[str, ...]] = {
    7: BASE,
    9: BASE + TIME_MODE,
    10: BASE + RECIPE,
    12: BASE + TIME_MODE + RECIPE,
    13: BASE + DEFAULT_CFG,
    14: BASE + RECOMMENDED,  # the configuration in this module's docstring
    15: BASE + TIME_MODE + DEFAULT_CFG,
}
BUSY = frozenset({486, 600})
NOT_ANSWERED = frozenset({408, 480, 487, 603})
JULIAN_UNIX_EPOCH = 2440587.5
READ_LIMIT = 4 << 20  # bytes of one file read per poll; the rest waits for the next one


def record_time(row: Mapping[str, str | None], zone: ZoneInfo = UTC_ZONE) -> datetime:
    """When the transaction completed, at the best precision the record has."""
    for whole, part in (("time_sec", "time_usec"), ("time_attr", "time_exten")):
        if row.get(whole):
            try:
                base = float(row[whole] or 0)
                micro = float(row.get(part) or 0)
            except ValueError:
                raise PayloadError(f"not a unix time: {row[whole]!r}", whole) from None
            if base > 0:
                return datetime.fromtimestamp(base + micro / 1_000_000, UTC)
    raw = (row.get("time") or "").strip()
    if not raw:
        raise PayloadError("the record has no time", "time")
    try:
        number = float(raw)
    except ValueError:
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            raise PayloadError(f"not a time: {raw!r}", "time") from None
        return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(UTC)
    if 2_000_000 < number < 3_000_000:  # db_sqlite keeps TIMESTAMP columns as Julian days
        return datetime.fromtimestamp((number - JULIAN_UNIX_EPOCH) * 86400, UTC)
    return datetime.fromtimestamp(number, UTC)


def _invite_time(row: Mapping[str, str | None]) -> datetime | None:
    raw = (row.get("invite_ts") or "").strip()
    if not raw:
        return None
    try:
        return datetime.fromtimestamp(float(raw), UTC)
    except ValueError:
        return None


def to_event(row: Mapping[str, str | None], ctx: ParseContext) -> CallEvent | None:
    """One acc record → a call event; None for transactions that say nothing about a call (CANCEL)."""
    method = (row.get("method") or "").strip().upper()
    callid = (row.get("callid") or "").strip()
    if not callid:
        raise PayloadError("the record has no Call-ID", "callid")
    try:
        code = int((row.get("sip_code") or "").strip())
    except ValueError:
        raise PayloadError(f"not a SIP status code: {row.get('sip_code')!r}", "sip_code") from None
    at = record_time(row, ctx.zone)
    eid = event_id("kam", method, callid, code, row.get("from_tag"), row.get("to_tag"))
    src = (row.get("src_user") or "").strip() or None
    dst = (row.get("dst_user") or row.get("dst_ouser") or "").strip() or None
    did = (row.get("did") or "").strip() or None
    meta = {
        "sip_code": code,
        "sip_reason": row.get("sip_reason") or None,
        "src_ip": row.get("src_ip") or None,
    }
    meta = {k: v for k, v in meta.items() if v is not None}
    if method == "BYE":  # only established calls end with a BYE; its From is whoever hung up
        if code >= 300:
            return None
        return CallEvent(
            account_id=ctx.account_id,
            call_id=callid[:200],
            event_id=eid,
            stage="hangup",
            at=at,
            disposition="answered",
            meta=meta,
            raw=dict(row),
        )
    if method != "INVITE" or code < 200:
        return None
    direction = ctx.direction(src, did or dst)
    extension = dst if ctx.is_extension(dst) and direction != "outbound" else None
    if direction == "outbound":
        extension = src
    started = _invite_time(row)
    common = {
        "account_id": ctx.account_id,
        "call_id": callid[:200],
        "event_id": eid,
        "direction": direction,
        "from_number": src,
        "to_number": did or dst,
        "did": did if direction == "inbound" else None,
        "extension": extension,
        "started_at": started,
        "meta": meta,
        "raw": dict(row),
    }
    if 200 <= code < 300:
        return CallEvent(stage="answer", at=at, **common)  # type: ignore[arg-type]
    if 300 <= code < 400:
        return CallEvent(stage="hangup", at=at, forwarded=True, **common)  # type: ignore[arg-type]
    disposition = "busy" if code in BUSY else "missed" if code in NOT_ANSWERED else "failed"
    return CallEvent(stage="hangup", at=at, disposition=disposition, **common)  # type: ignore[arg-type]


def layout_of(fields: Sequence[str], columns: Sequence[str] | None) -> tuple[str, ...]:
    if columns:
        return tuple(columns)
    layout = LAYOUTS.get(len(fields))
    if layout is None:
        raise PayloadError(
            f"{len(fields)} fields: not a known acc layout ({', '.join(map(str, sorted(LAYOUTS)))}); "
            "name the columns in the account option `columns`"
        )
    return layout


def parse_line(line: str, ctx: ParseContext, columns: Sequence[str] | None = None) -> CallEvent | None:
    fields = [unquote(f) for f in line.rstrip("\r\n").split("|")]
    layout = layout_of(fields, columns)
    if len(fields) != len(layout):
        raise PayloadError(f"expected {len(layout)} fields, found {len(fields)}")
    return to_event(dict(zip(layout, fields, strict=True)), ctx)


def parse_flatstore(
    data: bytes, ctx: ParseContext, columns: Sequence[str] | None = None
) -> Iterator[CallEvent | PayloadError]:
    """Every line of a flatstore file; a broken one becomes a PayloadError naming the line."""
    for lineno, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found = parse_line(line, ctx, columns)
        except PayloadError as exc:
            yield PayloadError(f"line {lineno}: {exc}")
            continue
        if found is not None:
            yield found


def looks_like_flatstore(text: str) -> bool:
    first = text.lstrip().split("\n", 1)[0]
    method = first.split("|", 1)[0]
    return "|" in first and method.isupper() and method.isalpha() and first.count("|") >= 6


# ------------------------------------------------------------------------------------------- following


CallSink = Callable[[CallEvent | Refused], Awaitable[object]]


@dataclass(slots=True)
class _Line:
    source: str
    text: str
    offset: int = 0  # of the line's first byte in its file


def _read_new(
    directory: str, tables: Sequence[str], offsets: dict[str, list[int]]
) -> tuple[list[_Line], dict[str, list[int]]]:
    """New complete lines of every ``<table>_*.log`` in `directory` (a thread: files block)."""
    found: list[_Line] = []
    seen: dict[str, list[int]] = {}
    for path in sorted(Path(directory).glob("*.log")):
        table = path.name.rsplit("_", 1)[0]
        if table not in tables:
            continue
        try:
            with open(path, "rb") as fh:
                stat = os.fstat(fh.fileno())
                inode, offset = offsets.get(path.name, [stat.st_ino, 0])
                if inode != stat.st_ino or offset > stat.st_size:
                    offset = 0
                fh.seek(offset)
                chunk = fh.read(READ_LIMIT)
        except FileNotFoundError:
            continue
        end = chunk.rfind(b"\n")
        chunk = chunk[: end + 1] if end >= 0 else b""
        seen[path.name] = [stat.st_ino, offset + len(chunk)]
        start = 0
        for raw in chunk.splitlines(keepends=True):
            if raw.strip():
                found.append(
                    _Line(path.name, raw.decode("utf-8", errors="replace").rstrip("\r\n"), offset + start)
                )
            start += len(raw)
    return found, seen


class FlatstoreFollower:
    """Follows the flatstore files of a directory. Kamailio keeps one file per process, so the records
    read in one poll are ordered by their time before they are handed on (an INVITE's 200 before the BYE
    written by another process). Offsets per file are kept in the account's cursor."""

    def __init__(
        self,
        directory: str,
        ctx: ParseContext,
        cursor: CursorStore,
        *,
        columns: Sequence[str] | None = None,
        tables: Sequence[str] = ("acc", "missed_calls"),
        poll_seconds: float = 2.0,
    ) -> None:
        self.directory = directory
        self.ctx = ctx
        self.cursor = cursor
        self.columns = tuple(columns) if columns else None
        self.tables = tuple(tables)
        self.poll_seconds = poll_seconds
        self.problems: list[str] = []

    async def run(self, sink: CallSink) -> None:
        offsets = _load_offsets(await self.cursor.load())
        while True:
            offsets = await self.poll(sink, offsets)
            await asyncio.sleep(self.poll_seconds)

    async def poll(self, sink: CallSink, offsets: dict[str, list[int]]) -> dict[str, list[int]]:
        lines, seen = await asyncio.to_thread(_read_new, self.directory, self.tables, offsets)
        events: list[CallEvent] = []
        refused: list[Refused] = []
        for line in lines:
            try:
                found = parse_line(line.text, self.ctx, self.columns)
            except PayloadError as exc:
                position = f"{line.source}@{line.offset}"
                self._problem(f"{position}: {exc}")
                refused.append(Refused(self.ctx.account_id, line.text.encode(), str(exc), position))
                continue
            if found is not None:
                events.append(found)
        events.sort(key=lambda e: (e.at or datetime.min.replace(tzinfo=UTC), e.stage == "hangup"))
        items: list[CallEvent | Refused] = [*events, *refused]
        for item in items:
            await sink(item)  # all before the cursor moves past them
        merged = {**offsets, **seen}
        if merged != offsets:
            await self.cursor.save(json.dumps(merged, sort_keys=True))
        return merged

    def _problem(self, text: str) -> None:
        log.warning("%s: %s", self.directory, text)
        self.problems = [*self.problems[-49:], text]


def _load_offsets(value: str | None) -> dict[str, list[int]]:
    if not value:
        return {}
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        raw = json.loads(value)
        return {str(k): [int(v[0]), int(v[1])] for k, v in raw.items()}
    return {}


def _journal_mode(database: str) -> str:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)) as db:
        row = db.execute("PRAGMA journal_mode").fetchone()
    return str(row[0]).lower() if row else ""


def _read_rows(database: str, table: str, after: int, limit: int) -> list[dict[str, str | None]]:
    """Rows of an acc table after an id (a thread: sqlite3 blocks). Read-only; Kamailio keeps writing."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)) as db:
        db.row_factory = sqlite3.Row
        # The table name comes from the account's configuration (validated as a plain name).
        rows = db.execute(
            f'SELECT * FROM "{table}" WHERE id > ? ORDER BY id LIMIT ?', (after, limit)
        ).fetchall()
    return [{k: (None if r[k] is None else str(r[k])) for k in r.keys()} for r in rows]  # noqa: SIM118


class SqliteFollower:
    """Follows the acc tables of a Kamailio db_sqlite database by their ids (kept in the cursor)."""

    BATCH = 500

    def __init__(
        self,
        database: str,
        ctx: ParseContext,
        cursor: CursorStore,
        *,
        tables: Sequence[str] = ("acc", "missed_calls"),
        poll_seconds: float = 2.0,
    ) -> None:
        self.database = database
        self.ctx = ctx
        self.cursor = cursor
        self.tables = tuple(tables)
        self.poll_seconds = poll_seconds
        self.problems: list[str] = []

    async def run(self, sink: CallSink) -> None:
        last = _load_ids(await self.cursor.load())
        mode = await asyncio.to_thread(_journal_mode, self.database)
        if mode != "wal":
            self._problem(
                f"journal mode {mode!r}: reading may make Kamailio's inserts fail; set "
                f'modparam("db_sqlite", "db_set_journal_mode", "{self.database}=WAL;")'
            )
        while True:
            last = await self.poll(sink, last)
            await asyncio.sleep(self.poll_seconds)

    async def poll(self, sink: CallSink, last: dict[str, int]) -> dict[str, int]:
        last = dict(last)
        for table in self.tables:
            while True:
                try:
                    rows = await asyncio.to_thread(
                        _read_rows, self.database, table, last.get(table, 0), self.BATCH
                    )
                except sqlite3.OperationalError as exc:
                    if "no such table" in str(exc):
                        break
                    raise
                for row in rows:
                    found: CallEvent | Refused | None
                    try:
                        found = to_event(row, self.ctx)
                    except PayloadError as exc:
                        position = f"{table} id {row.get('id')}"
                        self._problem(f"{position}: {exc}")
                        raw = json.dumps(row, ensure_ascii=False, sort_keys=True).encode()
                        found = Refused(self.ctx.account_id, raw, str(exc), position)
                    if found is not None:
                        await sink(found)
                    last[table] = int(row.get("id") or 0)
                if rows:
                    await self.cursor.save(json.dumps(last, sort_keys=True))
                if len(rows) < self.BATCH:
                    break
        return last

    def _problem(self, text: str) -> None:
        log.warning("%s: %s", self.database, text)
        self.problems = [*self.problems[-49:], text]


def _load_ids(value: str | None) -> dict[str, int]:
    if not value:
        return {}
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        return {str(k): int(v) for k, v in json.loads(value).items()}
    return {}
