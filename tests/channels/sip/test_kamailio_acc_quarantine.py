"""The Kamailio flatstore follower hands a line it cannot read to the sink as a Refused item (for the
quarantine) before its offsets move past it, and today's reparse takes it once the parser can."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from channels.base import AccountContext, MemoryCursor, PayloadError
from channels.sip import reparse
from channels.sip.common import ParseContext, SipOptions
from channels.sip.kamailio_acc import FlatstoreFollower
from inbox.items import CallEvent, Refused

GOOD = b"INVITE|tagA|tagB|call-1@pbx|200|OK|1715680800|79139097332|100|10.0.0.1\n"
BROKEN = b"INVITE|tagE|x|call-3@pbx|ok|Busy Here|1715680900|a|b|c\n"


async def test_a_broken_acc_line_is_handed_in_refused_before_the_offsets_move(tmp_path: Path) -> None:
    (tmp_path / "acc_12.log").write_bytes(GOOD + BROKEN)
    ctx = ParseContext.of(7, SipOptions.of({}))
    cursor = MemoryCursor()
    follower = FlatstoreFollower(str(tmp_path), ctx, cursor)
    handed: list[tuple[CallEvent | Refused, str | None]] = []

    async def sink(item: CallEvent | Refused) -> None:
        handed.append((item, cursor.value))  # what the cursor said when the item came

    offsets = await follower.poll(sink, {})
    refused = [item for item, _ in handed if isinstance(item, Refused)]
    assert [r.raw for r in refused] == [BROKEN.rstrip(b"\n")]
    assert refused[0].account_id == 7 and "sip_code" in refused[0].reason
    assert refused[0].position == f"acc_12.log@{len(GOOD)}"  # the file and the line's byte offset
    assert all(seen is None for _, seen in handed)  # every item before the cursor moved
    assert json.loads(cursor.value or "") == offsets
    assert [i.call_id for i, _ in handed if isinstance(i, CallEvent)] == ["call-1@pbx"]


def test_reparse_reads_an_acc_line_with_the_accounts_options_of_today() -> None:
    account = AccountContext(id=7, name="pbx", kind="sip", options={"source": "kamailio_acc", "path": "/x"})
    (event,) = reparse(GOOD.rstrip(b"\n"), "acc_12.log@0", account=account)
    assert isinstance(event, CallEvent) and event.call_id == "call-1@pbx"
    with pytest.raises(PayloadError, match="sip_code"):
        reparse(BROKEN, f"acc_12.log@{len(GOOD)}", account=account)


def test_reparse_reads_a_kept_db_sqlite_row_by_its_json() -> None:
    account = AccountContext(
        id=7, name="pbx", kind="sip", options={"source": "kamailio_acc", "path": "/x.db"}
    )
    row = {"id": "3", "method": "INVITE", "from_tag": "a", "to_tag": "b", "callid": "c-9@pbx"}
    row |= {"sip_code": "200", "sip_reason": "OK", "time": "2025-03-05 10:00:04", "src_user": "79139097332"}
    row |= {"dst_user": "100"}
    (event,) = reparse(json.dumps(row).encode(), "acc id 3", account=account)
    assert isinstance(event, CallEvent) and event.call_id == "c-9@pbx"
