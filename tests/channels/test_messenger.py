"""What the Telegram and VK connectors share around their parsers: skipped payloads are logged, refused ones
become Refused items with their bytes; neither is raised."""

from __future__ import annotations

import logging

import pytest

from channels.base import PayloadError
from channels.messenger import parsed_or_refused
from channels.payloads import Ignored, one_item
from channels.telegram import parse_update
from channels.vk import parse_event
from inbox.items import InboundMessage, Refused
from tests.channels.telegram.updates import msg, update

log = logging.getLogger("tests.messenger")


def test_skipped_payloads_are_logged_and_refused_ones_become_refused_items(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=log.name)
    channel_post = update(1, channel_post=msg("news"))
    skipped_item = parsed_or_refused(
        lambda: parse_update(channel_post, account_id=1),
        channel_post,
        account_id=1,
        position="update 1",
        logger=log,
        source="telegram tg",
        noun="u",
    )
    assert skipped_item is None
    refused_item = parsed_or_refused(
        lambda: parse_event([], account_id=1),
        [],
        account_id=7,
        position=None,
        logger=log,
        source="vk vk",
        noun="event",
    )
    assert refused_item == Refused(7, b"[]", "an event must be a JSON object", None)
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
