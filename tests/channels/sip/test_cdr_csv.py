"""Asterisk CDR CSV: the Master.csv and cdr_custom layouts, broken lines, and following a growing file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.base import AccountContext, MemoryCursor, PayloadError
from channels.sip import parse_file
from channels.sip.cdr_csv import CdrFollower, CdrReader, parse_csv
from channels.sip.common import ParseContext
from inbox.items import CallEvent, Refused
from inbox.models import Call, ChannelAccount, Task
from tests.conftest import shared_fixture_dir
from tests.waiting import eventually

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CTX = ParseContext(account_id=1)


def split(results: list[CallEvent | PayloadError]) -> tuple[list[CallEvent], list[str]]:
    return [r for r in results if isinstance(r, CallEvent)], [
        str(r) for r in results if isinstance(r, PayloadError)
    ]


def test_malformed_lines_are_reported_with_their_numbers_and_the_rest_imported() -> None:
    calls, errors = split(list(parse_csv((FIXTURES / "master_with_broken_lines.csv").read_bytes(), CTX)))
    assert errors == [
        "line 2: expected 18 columns, found 15",
        "line 3: not a time: 'yesterday at noon'",
    ]
    assert [c.call_id for c in calls] == ["1715680800.1", "1715681400.7", "1715682000.9"]
    first, outbound, missed = calls
    assert (first.direction, first.from_number, first.to_number, first.did, first.extension) == (
        "inbound",
        "89139097332",
        "74951234567",
        "74951234567",
        "100",
    )
    assert (first.disposition, first.wait_seconds, first.talk_seconds) == ("answered", 6, 120)
    assert first.started_at == datetime(2024, 5, 14, 10, 0, tzinfo=UTC)
    assert first.caller_name == "Ivan Petrov"
    assert (outbound.direction, outbound.extension, outbound.to_number) == ("outbound", "100", "89035556677")
    assert (missed.disposition, missed.wait_seconds, missed.answered_at) == ("missed", 31, None)


def test_shared_cdr_custom_file_gives_fourteen_internal_calls() -> None:
    data = (shared_fixture_dir("telephony") / "asterisk_cdr_custom_master_pjsip.csv").read_bytes()
    calls, errors = split(list(parse_csv(data, CTX)))
    assert errors == []
    assert len(calls) == 14 and {c.direction for c in calls} == {"internal"}
    first = calls[0]
    assert (first.call_id, first.from_number, first.to_number, first.extension) == (
        "1690325492.2",
        "client1",
        "6789",
        "client2",
    )
    assert (first.disposition, first.wait_seconds, first.talk_seconds) == ("answered", 18, 13)
    assert [c.disposition for c in calls].count("missed") == 3


def test_times_are_read_in_the_pbx_time_zone() -> None:
    ctx = ParseContext(account_id=1, zone=ZoneInfo("Europe/Moscow"))
    calls, _ = split(list(parse_csv((FIXTURES / "master_with_broken_lines.csv").read_bytes(), ctx)))
    assert calls[0].started_at == datetime(2024, 5, 14, 7, 0, tzinfo=UTC)


def test_cdr_custom_layout_named_in_the_options() -> None:
    line = (
        b"2024-05-14 10:00:00,89139097332,74951234567,100,NO ANSWER,25,0,1715680800.1,1715680800.1,r1.wav\n"
    )
    account = AccountContext(
        id=1,
        name="pbx",
        kind="sip",
        options={
            "columns": [
                *("start", "src", "did", "dst", "disposition", "duration", "billsec"),
                *("uniqueid", "linkedid", "recordingfile"),
            ],
            "recording_url_template": "https://pbx.example/rec/{file}",
        },
    )  # fmt: skip
    (call,) = list(parse_file(line, "custom.csv", account=account))
    assert isinstance(call, CallEvent)
    assert (call.did, call.to_number, call.extension, call.disposition) == (
        "74951234567",
        "100",
        "100",
        "missed",
    )
    assert call.recording_url == "https://pbx.example/rec/r1.wav"


def test_a_header_line_names_the_columns() -> None:
    data = b"calldate,src,dst,disposition,duration,billsec,uniqueid\n"
    data += b"2024-05-14 10:00:00,89139097332,100,BUSY,4,0,u1\n"
    calls, errors = split(list(parse_csv(data, CTX)))
    assert errors == [] and [(c.call_id, c.disposition) for c in calls] == [("u1", "busy")]


async def test_growing_file_is_followed_and_resumed_from_the_cursor_and_broken_lines_are_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "Master.csv"
    lines = (FIXTURES / "master_with_broken_lines.csv").read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[1])
    seen: list[CallEvent] = []
    refused: list[Refused] = []

    async def sink(item: CallEvent | Refused) -> None:
        if isinstance(item, Refused):
            refused.append(item)
        else:
            seen.append(item)

    cursor = MemoryCursor()
    follower = CdrFollower(str(path), CdrReader(CTX), cursor)
    position = await follower.poll(sink, None)
    assert [c.call_id for c in seen] == ["1715680800.1"]
    assert follower.problems == ["line 2: expected 18 columns, found 15"]
    assert [(r.raw, r.reason, r.position) for r in refused] == [
        (lines[1].rstrip(b"\n"), "line 2: expected 18 columns, found 15", f"Master.csv:2@{len(lines[0])}")
    ]

    with path.open("ab") as fh:  # Asterisk appends; a line being written has no newline yet
        fh.write(lines[2] + lines[3] + lines[4].rstrip(b"\n"))
    position = await follower.poll(sink, position)
    assert [c.call_id for c in seen] == ["1715680800.1", "1715681400.7"]
    with path.open("ab") as fh:
        fh.write(b"\n")

    restarted = CdrFollower(str(path), CdrReader(CTX), cursor)  # a restart: the cursor remembers the offset
    await restarted.poll(sink, await restarted.resume())
    assert [c.call_id for c in seen] == ["1715680800.1", "1715681400.7", "1715682000.9"]
    assert restarted.problems == []


async def test_cdr_csv_account_imports_the_file_into_calls(
    tmp_path: Path, sessionmaker: async_sessionmaker[AsyncSession], hub_factory: Any
) -> None:
    path = tmp_path / "Master.csv"
    path.write_bytes((FIXTURES / "master_with_broken_lines.csv").read_bytes())
    await hub_factory(
        accounts={"pbx": {"kind": "sip", "source": "cdr_csv", "path": str(path), "poll_seconds": 0.05}}
    )

    async def imported() -> bool:
        async with sessionmaker() as session:
            return int(await session.scalar(select(func.count()).select_from(Call)) or 0) == 3

    await eventually(imported, "the three calls imported")
    async with sessionmaker() as session:
        rows = {c.call_id: c for c in await session.scalars(select(Call))}
        tasks = list(await session.scalars(select(Task)))
    assert set(rows) == {"1715680800.1", "1715681400.7", "1715682000.9"}
    assert rows["1715680800.1"].from_number == "+79139097332"
    assert rows["1715681400.7"].to_number == "+79035556677"
    assert [t.call_id for t in tasks] == [rows["1715682000.9"].id]


def test_the_asterisk_docs_master_csv_with_unbalanced_quotes_is_read_line_by_line() -> None:
    data = (FIXTURES / "master_2007_docs_unbalanced_quotes.csv").read_bytes()
    calls, errors = split(list(parse_csv(data, CTX)))
    assert errors == ["line 3: expected 16 columns, found 1"]  # only the truly unreadable line
    assert [(c.from_number, c.caller_name, c.disposition) for c in calls] == [
        ("2565551212", "Joe Caller", "answered"),
        ("2565553434", 'Mary "M" Smith', "missed"),
        ("1000", "Agent", "answered"),
    ]
    assert calls[0].started_at == datetime(2007, 1, 3, 14, 5, 34, tzinfo=UTC)
    assert calls[0].talk_seconds == 27


def test_answered_with_billsec_zero_is_not_an_answer() -> None:
    data = (FIXTURES / "ring_group_answered_billsec_zero.csv").read_bytes()
    calls, errors = split(list(parse_csv(data, CTX)))
    assert errors == []
    assert [(c.disposition, c.answered_at, c.talk_seconds) for c in calls] == [("missed", None, 0)] * 3
    assert calls[2].meta["cdr_disposition"] == "ANSWERED"  # what the PBX wrote stays visible


async def test_a_ring_group_nobody_answered_keeps_its_callback_task(
    tmp_path: Path, sessionmaker: async_sessionmaker[AsyncSession], hub_factory: Any
) -> None:
    path = tmp_path / "Master.csv"
    path.write_bytes((FIXTURES / "ring_group_answered_billsec_zero.csv").read_bytes())
    await hub_factory(
        accounts={"pbx": {"kind": "sip", "source": "cdr_csv", "path": str(path), "poll_seconds": 0.05}}
    )

    async def whole_file_imported() -> bool:  # the cursor moves only after the sink took every line
        async with sessionmaker() as session:
            cursor = await session.scalar(select(ChannelAccount.cursor).where(ChannelAccount.name == "pbx"))
        return bool(cursor) and json.loads(cursor or "{}").get("offset") == path.stat().st_size

    await eventually(whole_file_imported, "the whole file imported")
    async with sessionmaker() as session:
        calls = list(await session.scalars(select(Call)))
        tasks = list(await session.scalars(select(Task)))
    assert [(c.call_id, c.disposition, c.answered_at) for c in calls] == [("1741161600.17", "missed", None)]
    assert [(t.kind, t.status, t.call_id) for t in tasks] == [("callback", "open", calls[0].id)]
