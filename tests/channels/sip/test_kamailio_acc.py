"""Kamailio acc records in the layout our docstring recommends, and records no layout fits: kept, not lost."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from channels.base import MemoryCursor
from channels.sip.common import ParseContext, SipOptions
from channels.sip.kamailio_acc import FlatstoreFollower, SqliteFollower
from inbox.items import CallEvent, Refused

# method, tags, callid, code, reason, time + time_sec|time_usec|src_user|dst_user|src_ip|did|invite_ts
RECOMMENDED = (
    b"INVITE|ft1|tt1|c1@pbx|200|OK|2025-03-05 10:00:04|1741168804|250000|79139097332|100|10.0.0.5|"
    b"74951234567|1741168800\n"
    b"BYE|ft1|tt1|c1@pbx|200|OK|2025-03-05 10:01:04|1741168864|0|79139097332|100|10.0.0.5||\n"
)
UNKNOWN = b"INVITE|ft2|tt2|c2@pbx|200|OK|1741168900|extra|fields|of|a|layout|nobody|named|here|at|all\n"


def context() -> ParseContext:
    return ParseContext.of(7, SipOptions.of({"source": "kamailio_acc", "path": "/x"}))


async def test_records_of_the_recommended_14_field_layout_are_read_without_naming_columns(
    tmp_path: Path,
) -> None:
    (tmp_path / "acc_1234.log").write_bytes(RECOMMENDED)
    got: list[CallEvent | Refused] = []

    async def sink(item: CallEvent | Refused) -> None:
        got.append(item)

    await FlatstoreFollower(str(tmp_path), context(), MemoryCursor()).poll(sink, {})
    assert [(type(i).__name__, getattr(i, "stage", None)) for i in got] == [
        ("CallEvent", "answer"),
        ("CallEvent", "hangup"),
    ]
    invite = got[0]
    assert isinstance(invite, CallEvent)
    assert invite.did == "74951234567" and invite.from_number == "79139097332"
    assert invite.started_at is not None and invite.at is not None
    assert (invite.at - invite.started_at).total_seconds() == 4.25  # ringing, from invite_ts and time_usec


async def test_an_unreadable_record_goes_to_the_sink_refused_before_the_cursor_moves(tmp_path: Path) -> None:
    (tmp_path / "acc_1234.log").write_bytes(RECOMMENDED + UNKNOWN)
    cursor = MemoryCursor()
    got: list[CallEvent | Refused] = []

    async def sink(item: CallEvent | Refused) -> None:
        assert cursor.value is None  # handed in while the cursor still points before it
        got.append(item)

    await FlatstoreFollower(str(tmp_path), context(), cursor).poll(sink, {})
    refused = [i for i in got if isinstance(i, Refused)]
    assert len(refused) == 1
    assert refused[0].account_id == 7
    assert refused[0].raw == UNKNOWN.rstrip(b"\n")
    assert refused[0].position == f"acc_1234.log@{len(RECOMMENDED)}"
    assert "17 fields: not a known acc layout" in refused[0].reason
    assert cursor.value is not None and json.loads(cursor.value)["acc_1234.log"][1] == len(
        RECOMMENDED + UNKNOWN
    )


async def test_an_unreadable_sqlite_row_goes_to_the_sink_refused(tmp_path: Path) -> None:
    database = tmp_path / "acc.sqlite"
    with sqlite3.connect(database) as db:
        db.execute(
            "CREATE TABLE acc (id INTEGER PRIMARY KEY, method TEXT, callid TEXT, sip_code TEXT, time TEXT)"
        )
        db.execute("INSERT INTO acc VALUES (1, 'INVITE', 'c9@pbx', 'two hundred', '1741168800')")
    got: list[CallEvent | Refused] = []

    async def sink(item: CallEvent | Refused) -> None:
        got.append(item)

    await SqliteFollower(str(database), context(), MemoryCursor(), tables=("acc",)).poll(sink, {})
    assert len(got) == 1 and isinstance(got[0], Refused)
    assert got[0].position == "acc id 1"
    assert "sip_code" in got[0].reason
    assert json.loads(got[0].raw)["callid"] == "c9@pbx"
