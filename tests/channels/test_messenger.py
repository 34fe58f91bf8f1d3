"""What the Telegram and VK connectors share around their parsers: skipped and refused payloads are logged,
never raised."""

from __future__ import annotations

import logging

import pytest

from channels.base import PayloadError
from channels.messenger import parsed_or_logged
from channels.payloads import Ignored, one_item
from channels.telegram import parse_update
from channels.vk import parse_event
from inbox.items import InboundMessage
from tests.channels.telegram.updates import msg, update

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
