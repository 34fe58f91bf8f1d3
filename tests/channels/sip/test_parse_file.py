"""`okno ingest sip FILE`: each shared telephony sample is ingested or refused in one line, none crashes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.base import AccountContext, PayloadError, file_parser
from channels.sip import parse_file
from hub.runtime import Hub
from inbox.calls import CallResult
from inbox.items import CallEvent
from inbox.models import Call
from tests.conftest import shared_fixture_dir

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXPECTED: dict[str, int | str] = {  # file → calls it holds, or the start of the reason it is refused for
    "SOURCES.md": "not a call log",
    "asterisk_ami_queue_status_response.txt": "an AMI transcript without call events",
    "asterisk_ami_v2_spec_newchannel.txt": 1,
    "asterisk_cdr_custom_master_pjsip.csv": 14,
    "freeswitch_json_cdr.json": 1,
    "telnyx_texml_status_callback_completed.json": "a Twilio/TeXML call status callback",
}


def test_the_channel_registers_its_file_parser() -> None:
    assert file_parser("sip") is parse_file


async def test_every_shared_sample_is_ingested_or_refused_with_a_reason(
    sessionmaker: async_sessionmaker[AsyncSession], hub_factory: Any
) -> None:
    hub: Hub = await hub_factory(accounts={"pbx": {"kind": "sip", "source": "cti", "token": "t"}})
    account = hub.accounts["pbx"].context
    directory = shared_fixture_dir("telephony")
    outcome: dict[str, int | str] = {}
    for path in sorted(directory.iterdir()):
        results = list(parse_file(path.read_bytes(), str(path), account=account, region="RU"))
        refused = [str(r) for r in results if isinstance(r, PayloadError)]
        items = [r for r in results if isinstance(r, CallEvent)]
        for reason in refused:
            assert reason and "\n" not in reason, (path.name, reason)
        ingested = [await hub.sink(item) for item in items]  # what `okno ingest` does with each item
        assert all(isinstance(r, CallResult) for r in ingested)
        outcome[path.name] = len(items) if items else refused[0]
    assert set(outcome) >= set(EXPECTED), f"new shared samples to look at: {set(outcome) - set(EXPECTED)}"
    for name, expected in EXPECTED.items():
        got = outcome[name]
        if isinstance(expected, int):
            assert got == expected, (name, got)
        else:
            assert str(got).startswith(expected), (name, got)
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Call)) == 16


@pytest.mark.parametrize(
    ("name", "calls"),
    [("ami_inbound_answered.txt", 5), ("ami_legacy_18_missed.txt", 3), ("master_with_broken_lines.csv", 3)],
)
def test_our_own_samples_parse(name: str, calls: int) -> None:
    account = AccountContext(id=1, name="pbx", kind="sip")
    results = list(parse_file((FIXTURES / name).read_bytes(), name, account=account))
    assert len([r for r in results if isinstance(r, CallEvent)]) == calls


def test_kamailio_flatstore_lines_are_read_and_broken_ones_named() -> None:
    data = (
        b"INVITE|tagA|tagB|call-1@pbx|200|OK|1715680800|79139097332|100|10.0.0.1\n"
        b"BYE|tagA|tagB|call-1@pbx|200|OK|1715680860|79139097332||10.0.0.1\n"
        b"INVITE|tagC|tagD|call-2@pbx|486|Busy Here|1715680900\n"
        b"INVITE|tagE|x|call-3@pbx|ok|Busy Here|1715680900|a|b|c\n"
    )
    results = list(parse_file(data, "acc_12.log", account=AccountContext(id=1, name="pbx", kind="sip")))
    assert [(r.call_id, r.stage) if isinstance(r, CallEvent) else str(r) for r in results] == [
        ("call-1@pbx", "answer"),
        ("call-1@pbx", "hangup"),
        ("call-2@pbx", "hangup"),
        "line 4: sip_code: not a SIP status code: 'ok'",
    ]


def test_misconfigured_account_is_refused_in_one_line() -> None:
    account = AccountContext(id=1, name="pbx", kind="sip", options={"timezone": "Mars/Olympus"})
    (result,) = list(parse_file(b"x", "f.csv", account=account))
    assert isinstance(result, PayloadError) and "timezone" in str(result)
