"""Header lines as real traffic writes them: wrapped X- values, a bad byte, UTF-7, quotes in names, folds."""

from __future__ import annotations

from channels.email.parse import ParseOptions, parse
from inbox.items import InboundMessage
from tests.channels.email.conftest import fixture


def parsed(data: bytes) -> InboundMessage:
    return parse(data, account_id=1, options=ParseOptions())


def mail(
    *headers: bytes, body: bytes = b"Hello", content_type: bytes = b"text/plain; charset=utf-8"
) -> bytes:
    head = b"\r\n".join(
        [
            *headers,
            b"To: support@example.com",
            b"Message-ID: <h1@example.ru>",
            b"Content-Type: " + content_type,
        ]
    )
    return head + b"\r\n\r\n" + body + b"\r\n"


def test_a_wrapped_x_header_value_does_not_end_the_header_block() -> None:
    item = parsed(fixture("outlook_mbox_wrapped_x_header.eml"))
    assert item.subject == "Не работает вход"
    assert item.sender.name == "Игорь Соколов"
    assert item.sender.identities[0].value == "igor.sokolov@example.ru"
    assert item.text == "Добрый день! Не могу войти в личный кабинет."
    assert item.meta["message_id"] == "AM6PR04MB1234ABCD@AM6PR04MB1234.eurprd04.prod.outlook.com"


def test_a_body_that_starts_without_the_empty_line_still_ends_the_header_block() -> None:
    data = b"From: olga@example.ru\r\nSubject: Hi\r\nthis is already the body\r\nsecond line\r\n"
    item = parsed(data)
    assert item.subject == "Hi"
    assert item.text == "this is already the body\nsecond line"


def test_raw_utf8_name_with_one_bad_byte_stays_utf8_not_koi8r() -> None:
    name = "Анна Кузнецова".encode()
    broken = name[:9] + b"\xd0" + name[9:]  # a stray lead byte, as a cut-and-paste leaves it
    item = parsed(mail(b"From: " + broken + b" <anna@example.ru>", b"Subject: " + "Возврат".encode()))
    assert item.sender.name == "Анна \ufffdКузнецова"


def test_a_body_in_declared_utf7_is_decoded() -> None:
    body = "Привет, это Exchange".encode("utf-7")
    assert body.isascii()
    item = parsed(mail(b"From: ex@example.ru", content_type=b"text/plain; charset=utf-7", body=body))
    assert item.text == "Привет, это Exchange"


def test_a_display_name_keeps_its_closing_quote() -> None:
    item = parsed(mail(b'From: "OOO \\"Romashka\\"" <info@romashka.example.ru>'))
    assert item.sender.name == 'OOO "Romashka"'


def test_a_quoted_display_name_loses_only_its_own_quotes() -> None:
    item = parsed(mail(b"From: 'Olga' <olga@example.ru>"))
    assert item.sender.name == "Olga"


def test_a_folded_subject_has_no_tab() -> None:
    item = parsed(mail(b"From: olga@example.ru", b"Subject: Order 4512\r\n\tdelivery date"))
    assert item.subject == "Order 4512 delivery date"
