"""`okno ingest email FILE`: a single .eml, or a whole mbox (history import)."""

from __future__ import annotations

from channels.base import AccountContext, PayloadError, file_parser
from channels.email.parse import parse_file, split_mbox
from inbox.items import InboundMessage
from tests.channels.email.conftest import fixture

ACCOUNT = AccountContext(id=1, name="email", kind="email")


def test_the_channel_registry_serves_this_parser() -> None:
    assert file_parser("email") is parse_file


def test_an_mbox_yields_every_mail_and_a_one_line_reason_for_the_bad_one() -> None:
    out = list(parse_file(fixture("history.mbox"), "history.mbox", account=ACCOUNT))
    assert [type(o).__name__ for o in out] == ["InboundMessage", "PayloadError", "InboundMessage"]
    first, bad, third = out
    assert isinstance(first, InboundMessage) and isinstance(third, InboundMessage)
    assert (first.external_id, third.external_id) == ("mbox-1@example.ru", "mbox-3@example.ru")
    assert first.text == "Первое письмо\nFrom the beginning, thanks."  # ">From" unquoted
    assert str(bad) == "mail 2 (line 9): no sender: the mail has no From header"
    assert isinstance(bad, PayloadError) and bad.raw is not None  # that one mail, for the quarantine
    assert bad.raw in fixture("history.mbox") and b"mbox-1@" not in bad.raw and b"mbox-3@" not in bad.raw


def test_a_single_eml_starting_with_an_envelope_line_is_one_mail() -> None:
    data = b"From olga@example.ru Mon Mar  3 10:00:00 2025\n" + fixture("ru_raw_utf8_headers.eml")
    [item] = list(parse_file(data, "x.eml", account=ACCOUNT))
    assert isinstance(item, InboundMessage) and item.subject == "Возврат товара"


def test_a_bad_single_file_is_refused_without_a_mail_number() -> None:
    [error] = list(parse_file(fixture("no_sender.eml"), "no_sender.eml", account=ACCOUNT))
    assert isinstance(error, PayloadError)
    assert str(error) == "no sender: the mail has no From header"


def test_an_empty_file_is_refused() -> None:
    [error] = list(parse_file(b"  \n", "empty.eml", account=ACCOUNT))
    assert str(error) == "empty file"


def test_mbox_separators_need_a_date_so_a_from_line_in_a_body_does_not_split() -> None:
    data = (
        b"From a@example.ru Mon Mar  3 10:00:00 2025\nFrom: a@example.ru\n\nFrom here on, words.\n\n"
        b"From b@example.ru Tue Mar  4 10:00:00 2025\nFrom: b@example.ru\n\nsecond\n"
    )
    chunks = list(split_mbox(data))
    assert [line for line, _ in chunks] == [1, 6]
    assert b"From here on, words." in chunks[0][1]


def test_account_limits_apply_to_imported_files() -> None:
    account = AccountContext(id=1, name="email", kind="email", options={"max_attachment_bytes": 2048})
    [item] = list(parse_file(fixture("attachments.eml"), "attachments.eml", account=account))
    assert isinstance(item, InboundMessage)
    assert [a.filename for a in item.attachments if a.refused] == ["Прайс.xls"]
