"""What the Telegram and VK connectors share around their parsers: skipped and refused payloads are logged,
never raised, and a hub whose sink ingests edits and blocks as plain items is told so once."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import PayloadError
from channels.messenger import parsed_or_logged, warn_if_unrouted
from channels.payloads import Ignored, one_item
from channels.telegram import parse_update
from channels.vk import parse_event
from inbox.ingest import ingest
from inbox.items import InboundMessage
from tests.channels.messenger_harness import account_row
from tests.channels.telegram.updates import msg, update
from tests.channels.vk.events import permission

log = logging.getLogger("tests.messenger")


def test_skipped_and_refused_payloads_are_logged_and_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=log.name)
    channel_post = update(1, channel_post=msg("news"))
    skipped_item = parsed_or_logged(lambda: parse_update(channel_post, account_id=1), log, "telegram tg", "u")
    assert skipped_item is None
    assert parsed_or_logged(lambda: parse_event([], account_id=1), log, "vk vk", "event") is None
    (skipped, refused) = caplog.records
    assert skipped.levelno == logging.INFO
    assert skipped.getMessage().startswith("telegram tg: u skipped: ")
    assert refused.levelno == logging.WARNING
    assert refused.getMessage() == "vk vk: event refused: an event must be a JSON object"


def test_a_parser_crash_costs_one_payload_with_a_one_line_reason() -> None:
    def crash() -> InboundMessage:
        raise KeyError("line one\nline two")

    with pytest.raises(PayloadError) as err:
        one_item(crash, "update")
    assert str(err.value) == "unreadable update (KeyError: 'line one\\nline two')"
    with pytest.raises(Ignored):  # the parser's own reasons pass through as they are
        one_item(lambda: parse_update(update(1, channel_post=msg("news")), account_id=1), "update")


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("telegram", update(2, edited_message=msg("Ленина 10", message_id=1, edit_date=1_763_800_100))),
        ("vk", permission(allowed=False)),
    ],
)
async def test_an_edit_or_block_ingested_as_a_plain_item_is_reported_once(
    kind: str, raw: Any, session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    account = await account_row(session, kind, kind)
    parse = parse_update if kind == "telegram" else parse_event
    item = parse(raw, account_id=account.id)
    result = await ingest(session, item)  # a hub that does not route edits and marks: the plain ingest path
    warned = warn_if_unrouted(kind, item, result, False)
    assert warn_if_unrouted(kind, item, result, warned) is True
    (record,) = [r for r in caplog.records if "plain items" in r.getMessage()]
    assert record.getMessage().startswith(f"{kind}: this hub ingests edits and blocks as plain items")
