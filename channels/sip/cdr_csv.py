"""Asterisk CDR CSV files: the ``cdr_csv`` Master.csv layout and ``cdr_custom`` layouts.

Master.csv (cdr_csv.c ``build_csv_record``) writes accountcode, src, dst, dcontext, clid, channel,
dstchannel, lastapp, lastdata, start, answer, end, duration, billsec, disposition, amaflags, then
uniqueid (``loguniqueid``), userfield (``loguserfield``) and, with ``newcdrcolumns``, peeraccount,
linkedid, sequence: 16, 17, 18 or 21 columns. The stock ``cdr_custom.conf`` mapping writes clid, src,
dst, dcontext, channel, dstchannel, lastapp, lastdata, start, answer, end, duration, billsec,
disposition, amaflags, accountcode, uniqueid, userfield, sequence (19 columns). Any other cdr_custom
mapping is read by naming its columns in the account option ``columns`` (``did``, ``recordingfile``,
``linkedid`` and ``calldate`` are understood too); a first line made only of column names is taken
as such a list.

One CDR line is one whole call record (stage "record"). Lines are read one by one so that a broken
line is reported with its number and the others are imported, and leniently: a quoted field with
quotes that were never doubled (``""Joe" <1001>"``, as in the Asterisk docs' own Master.csv example)
is read up to the quote that closes it before a comma. Only a line that still fits no layout is
refused; :class:`CdrFollower` hands such a line to the sink as :class:`Refused` (kept in the
quarantine, retried after a fix) before its cursor moves past it. It follows a file that grows
(Asterisk appends a line per call), remembering the byte offset in the account's cursor.

An ``ANSWERED`` record with billsec 0 is not an answer: Asterisk writes one as the last record of a
ring group nobody picked up (the channel was answered only to play a message or hang up), and taking
it as answered would cancel the callback of a missed call.
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from channels.base import CursorStore, PayloadError
from channels.sip.common import ParseContext, device_of, event_id, plus, seconds
from inbox.items import CallEvent, Refused

log = logging.getLogger(__name__)

MASTER_CSV = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "uniqueid",
    "userfield",
    "peeraccount",
    "linkedid",
    "sequence",
)
CDR_CUSTOM = (
    "clid",
    "src",
    "dst",
    "dcontext",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "accountcode",
    "uniqueid",
    "userfield",
    "sequence",
)
KNOWN_COLUMNS = frozenset(
    {*MASTER_CSV, *CDR_CUSTOM, "calldate", "did", "recordingfile", "cnum", "cnam", "outbound_cnum"}
)
DISPOSITIONS = {
    "ANSWERED": "answered",
    "NO ANSWER": "missed",
    "NOANSWER": "missed",
    "BUSY": "busy",
    "FAILED": "failed",
    "CONGESTION": "failed",
}


def _looks_like_time(value: str) -> bool:
    return len(value) >= 19 and value[4] == "-" and value[7] == "-" and value[13] == ":"


def detect_layout(fields: Sequence[str]) -> tuple[str, ...]:
    """The column names of a line, from where its start time sits and how many columns it has."""
    n = len(fields)
    if n in (16, 17, 18, 21) and _looks_like_time(fields[9]):
        return MASTER_CSV[:n] if n <= 18 else MASTER_CSV
    if n == 19 and _looks_like_time(fields[8]):
        return CDR_CUSTOM
    raise PayloadError(
        f"{n} columns in neither the Master.csv layout (16-18 or 21, start time in column 10) nor the stock "
        "cdr_custom one (19, start in column 9): name the columns in the account option `columns`"
    )


def _caller_id(clid: str) -> tuple[str | None, str | None]:
    """'"Ivan" <79139097332>' → ("Ivan", "79139097332")."""
    text = clid.strip()
    if "<" in text and text.endswith(">"):
        name, _, number = text[:-1].rpartition("<")
        name = name.strip().strip('"').strip()
        return (name or None), (number.strip() or None)
    return None, (text or None)


def lenient_fields(text: str) -> list[str]:
    """The fields of a CSV line whose quotes may be unbalanced.

    A field opening with a quote ends at the first quote followed by a comma (or the end of the line);
    a doubled quote inside is one quote, and any other quote is kept as it is.
    """
    fields: list[str] = []
    index, length = 0, len(text)
    while True:
        if index < length and text[index] == '"':
            index += 1
            value: list[str] = []
            while index < length:
                char = text[index]
                if char == '"':
                    following = text[index + 1] if index + 1 < length else ""
                    if following in (",", ""):
                        index += 1
                        break
                    if following == '"' and text[index + 2 : index + 3] not in (",", ""):
                        value.append('"')
                        index += 2
                        continue
                value.append(char)
                index += 1
            fields.append("".join(value))
        else:
            end = text.find(",", index)
            end = length if end < 0 else end
            fields.append(text[index:end])
            index = end
        if index >= length:
            return fields
        index += 1  # the comma
        if index == length:
            fields.append("")
            return fields


@dataclass(slots=True)
class CdrReader:
    """Reads CDR lines one at a time, keeping the layout it found (or was given)."""

    ctx: ParseContext
    columns: tuple[str, ...] | None = None
    detected: tuple[str, ...] | None = None

    def line(self, text: str, lineno: int) -> CallEvent | PayloadError | None:
        """One line → a call record, a PayloadError naming the line, or None (blank, header)."""
        if not text.strip():
            return None
        try:
            fields = next(csv.reader([text], strict=True))
        except (csv.Error, StopIteration):
            fields = lenient_fields(text)
        if self.columns is None and all(f.strip().lower() in KNOWN_COLUMNS for f in fields) and fields:
            self.columns = tuple(f.strip().lower() for f in fields)
            return None
        try:
            layout = self.columns or self.detected or detect_layout(fields)
            self.detected = layout  # the file's layout: a later line with other columns is broken
            if len(fields) != len(layout):
                raise PayloadError(f"expected {len(layout)} columns, found {len(fields)}")
            return record_from_row(dict(zip(layout, fields, strict=True)), self.ctx, text)
        except PayloadError as exc:
            return PayloadError(f"line {lineno}: {exc}")
        except ValueError as exc:
            return PayloadError(f"line {lineno}: {exc}")


def record_from_row(row: Mapping[str, str], ctx: ParseContext, text: str) -> CallEvent:
    """One CDR (a CSV line by column name, or an AMI Cdr event) → a call record."""
    name, clid_number = _caller_id(row.get("clid", ""))
    caller = (row.get("src") or "").strip() or clid_number
    callee = (row.get("dst") or "").strip() or None
    start_text = row.get("start") or row.get("calldate")
    started = ctx.local_time(start_text)
    if started is None:
        raise PayloadError("the call has no start time", "start")
    answered = ctx.local_time(row.get("answer"))
    ended = ctx.local_time(row.get("end"))
    duration = seconds(row.get("duration"))
    billsec = seconds(row.get("billsec"))
    if ended is None:
        ended = plus(duration, started) or started
    raw_disposition = (row.get("disposition") or "").strip().upper()
    disposition = DISPOSITIONS.get(raw_disposition)
    if raw_disposition and disposition is None:
        raise PayloadError(f"unknown disposition {raw_disposition!r}", "disposition")
    lastapp = (row.get("lastapp") or "").strip()
    if lastapp.lower() == "voicemail":
        disposition, answered = "voicemail", None
    if disposition == "answered" and billsec == 0:
        disposition = "missed"  # nobody talked (see the module docstring)
    if disposition != "answered":
        answered = None
    elif answered is None and billsec is not None:
        answered = plus(-billsec, ended)
    talk = billsec if disposition == "answered" else 0
    wait = None
    if duration is not None and billsec is not None:
        wait = max(0, duration - (billsec if disposition == "answered" else 0))
    direction = ctx.direction(caller, callee)
    if direction == "outbound":
        extension = device_of(row.get("channel")) or caller
    else:
        extension = device_of(row.get("dstchannel")) or (callee if ctx.is_extension(callee) else None)
    did = (row.get("did") or "").strip() or None
    if did is None and direction == "inbound" and callee and not ctx.is_extension(callee):
        did = callee
    uniqueid = (row.get("uniqueid") or "").strip()
    call_id = (row.get("linkedid") or "").strip() or uniqueid or event_id("cdr-line", text)
    sequence = (row.get("sequence") or "").strip()
    eid = f"cdr:{uniqueid}:{sequence}" if uniqueid and sequence else event_id("cdr", text.strip())
    meta = {
        k: v
        for k, v in {
            "dcontext": (row.get("dcontext") or "").strip() or None,
            "lastapp": lastapp or None,
            "channel": (row.get("channel") or "").strip() or None,
            "dstchannel": (row.get("dstchannel") or "").strip() or None,
            "cdr_disposition": raw_disposition or None,
        }.items()
        if v is not None
    }
    return CallEvent(
        account_id=ctx.account_id,
        call_id=call_id,
        event_id=eid,
        stage="record",
        at=started,
        direction=direction,
        from_number=caller,
        to_number=callee,
        did=did,
        extension=extension,
        started_at=started,
        answered_at=answered,
        ended_at=ended,
        wait_seconds=wait,
        talk_seconds=talk,
        disposition=disposition,  # type: ignore[arg-type]
        recording_url=ctx.recording(row.get("recordingfile"), call_id),
        caller_name=name,
        meta=meta,
        raw=row,
    )


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1251")  # older Russian PBXs; every byte decodes, so this never fails


def parse_csv(
    data: bytes, ctx: ParseContext, columns: Sequence[str] | None = None
) -> Iterator[CallEvent | PayloadError]:
    """Every line of a CDR file: a call record, or a PayloadError naming the line."""
    reader = CdrReader(ctx, tuple(columns) if columns else None)
    for lineno, line in enumerate(decode(data).splitlines(), start=1):
        result = reader.line(line, lineno)
        if isinstance(result, PayloadError):
            yield result.with_raw(line.encode())  # the one line, for the quarantine
        elif result is not None:
            yield result


@dataclass(slots=True)
class _Position:
    inode: int
    offset: int
    line: int

    def dump(self) -> str:
        return json.dumps({"inode": self.inode, "offset": self.offset, "line": self.line})

    @classmethod
    def load(cls, value: str | None) -> _Position | None:
        if not value:
            return None
        try:
            raw = json.loads(value)
            return cls(int(raw["inode"]), int(raw["offset"]), int(raw["line"]))
        except (ValueError, KeyError, TypeError):
            return None


def _read_from(path: str, position: _Position | None, limit: int) -> tuple[int, int, bytes]:
    """(inode, start offset, complete lines from there): run in a thread, files block."""
    with open(path, "rb") as fh:
        stat = os.fstat(fh.fileno())
        start = 0
        if position is not None and position.inode == stat.st_ino and position.offset <= stat.st_size:
            start = position.offset
        fh.seek(start)
        chunk = fh.read(limit)
    end = chunk.rfind(b"\n")
    return stat.st_ino, start, chunk[: end + 1] if end >= 0 else b""


class CdrFollower:
    """Imports a CDR file and then follows it as it grows; the offset survives restarts in the cursor.

    A replaced file (new inode, as after logrotate) or a truncated one is read again from its start.
    A broken line is logged with its number and handed to the sink as :class:`Refused` (position
    ``file:line@offset``); only complete lines (ending in a newline) are read, so a line Asterisk is
    still writing waits for the next poll.
    """

    CHUNK = 1 << 20

    def __init__(
        self,
        path: str,
        reader: CdrReader,
        cursor: CursorStore,
        *,
        poll_seconds: float = 2.0,
        from_start: bool = True,
    ) -> None:
        self.path = path
        self.reader = reader
        self.cursor = cursor
        self.poll_seconds = poll_seconds
        self.from_start = from_start
        self.problems: list[str] = []  # the last refused lines, for the logs and the UI

    async def resume(self) -> _Position | None:
        """Where to go on: the cursor's position; without one, the start (or the end, if not from_start)."""
        position = _Position.load(await self.cursor.load())
        if position is None and not self.from_start:
            try:
                stat = await asyncio.to_thread(os.stat, self.path)
            except FileNotFoundError:
                return None
            position = _Position(stat.st_ino, stat.st_size, 0)
        return position

    async def run(self, sink: Callable[[CallEvent | Refused], Awaitable[object]]) -> None:
        position = await self.resume()
        while True:
            position = await self.poll(sink, position)
            await asyncio.sleep(self.poll_seconds)

    async def poll(
        self, sink: Callable[[CallEvent | Refused], Awaitable[object]], position: _Position | None
    ) -> _Position | None:
        """Import what was appended since `position`; returns the new position (saved in the cursor)."""
        while True:
            try:
                inode, start, chunk = await asyncio.to_thread(_read_from, self.path, position, self.CHUNK)
            except FileNotFoundError:
                return position
            if position is None or start != position.offset or inode != position.inode:
                line = 0
            else:
                line = position.line
            if not chunk:
                if position is None or (inode, start) != (position.inode, position.offset):
                    position = _Position(inode, start, line)
                    await self.cursor.save(position.dump())
                return position
            offset = start
            for raw in chunk.splitlines(keepends=True):
                line += 1
                result = self.reader.line(decode(raw.rstrip(b"\r\n")), line)
                if isinstance(result, PayloadError):
                    self._problem(str(result))
                    position_text = f"{os.path.basename(self.path)}:{line}@{offset}"
                    account = self.reader.ctx.account_id
                    await sink(Refused(account, raw.rstrip(b"\r\n"), str(result), position_text))
                elif result is not None:
                    await sink(result)
                offset += len(raw)
            position = _Position(inode, start + len(chunk), line)
            await self.cursor.save(position.dump())
            if len(chunk) < self.CHUNK // 2:
                return position

    def _problem(self, text: str) -> None:
        log.warning("%s: %s", self.path, text)
        self.problems = [*self.problems[-49:], text]


__all__ = [
    "CDR_CUSTOM",
    "MASTER_CSV",
    "CdrFollower",
    "CdrReader",
    "detect_layout",
    "parse_csv",
    "record_from_row",
]
