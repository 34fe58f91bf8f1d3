"""Parsing real-world mail into InboundMessage: charsets, broken structure, bodies, files, noise, threads."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from channels.base import PayloadError
from channels.email.parse import ParseOptions, parse, safe_filename
from channels.email.threading import ReplyTokens
from inbox.items import InboundMessage
from tests.channels.email.conftest import fixture


def parsed(name: str, **options: object) -> InboundMessage:
    return parse(fixture(name), account_id=1, options=ParseOptions(**options))  # type: ignore[arg-type]


# -- charsets -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sender_name", "subject", "text"),
    [
        (
            "ru_koi8r_encoded_words.eml",
            "Ольга Смирнова",
            "Где мой заказ?",
            "Здравствуйте!\nПодскажите, когда придёт заказ 4512?\n\nОльга",
        ),
        (
            "ru_cp1251_raw_headers.eml",
            "Пётр Иванов",
            "Счёт на оплату за март",
            "Добрый день! Пришлите, пожалуйста, счёт.",
        ),
        ("ru_raw_utf8_headers.eml", "Анна Кузнецова", "Возврат товара", "Хочу вернуть товар, он не подошёл."),
        ("ru_koi8r_undeclared.eml", None, "Вопрос по доставке", "Здравствуйте, доставка возможна в субботу?"),
        ("ru_charset_alias.eml", None, "Коммерческое предложение", "Предлагаем сотрудничество."),
        ("ru_utf8_labelled_cp1251.eml", None, "Заявка с сайта", "Имя: Сергей. Телефон: +7 913 000-00-00"),
    ],
)
def test_russian_mail_in_every_charset_reads_correctly(
    name: str, sender_name: str | None, subject: str, text: str
) -> None:
    item = parsed(name)
    assert item.sender.name == sender_name
    assert item.subject == subject
    assert item.text == text


def test_header_lines_that_lost_their_folding_are_rejoined() -> None:
    item = parsed("broken_folding.eml")
    assert item.subject == "Заявка на подключение тарифа «Бизнес»"
    assert item.sender.name == "Мария Петрова"  # From comes after the broken lines and is still read
    assert item.meta["to"] == ["support@example.com", "sales@example.com"]
    assert item.text == "Прошу подключить тариф."


def test_a_character_split_across_encoded_words_is_whole() -> None:
    assert parsed("split_multibyte_words.eml").subject == "Привет, мир"


@pytest.mark.parametrize(
    "name", ["multipart_no_boundary.eml", "multipart_wrong_boundary.eml", "multipart_unclosed.eml"]
)
def test_multipart_with_missing_or_wrong_boundaries_still_yields_text_and_files(name: str) -> None:
    item = parsed(name)
    assert item.text == "Текст письма"
    assert [(a.filename, a.content_type, a.content) for a in item.attachments] == [
        ("invoice.pdf", "application/pdf", b"%PDF-1.4 tiny")
    ]


# -- bodies -------------------------------------------------------------------------------------------


def test_html_only_mail_gets_readable_text_and_only_sanitized_html() -> None:
    item = parsed("html_only_ru.eml")
    assert (
        item.text
        == "Здравствуйте!\n\nСписок вопросов:\n\n- доставка\n- оплата по ссылке (https://shop.example.ru/pay)"
    )
    assert item.html is not None
    for unsafe in ("<script", "onclick", "onload", "<style", "alert(", "<title"):
        assert unsafe not in item.html
    assert '<a href="https://shop.example.ru/pay"' in item.html
    assert "Чем можем помочь?" in item.html  # the quoted history stays in the HTML
    assert "Чем можем помочь?" in item.meta["full_text"]


def test_text_part_is_preferred_and_the_quote_is_folded_with_the_full_text_kept() -> None:
    item = parsed("reply_gmail_ru.eml")
    assert item.text == "Спасибо, получил счёт."
    assert item.meta["full_text"].startswith("Спасибо, получил счёт.\n\nпн, 3 мар. 2025 г. в 10:00")
    assert "> Счёт во вложении." in item.meta["full_text"]
    assert item.html is not None and "Счёт во вложении." in item.html


def test_outlook_header_block_starts_the_folded_history() -> None:
    item = parsed("reply_outlook_ru.eml")
    assert item.text == "Добрый день.\nОплату провели.\n\nС уважением,\nБухгалтерия"
    assert "Отправлено: 3 марта 2025 г. 10:00" in item.meta["full_text"]


def test_format_flowed_is_unwrapped() -> None:
    assert parsed("format_flowed.eml").text == (
        "Это длинная строка, которую почтовый клиент перенёс мягким переносом.\n\n-- \nПодпись"
    )


# -- attachments --------------------------------------------------------------------------------------


def test_attachments_get_safe_names_and_the_oversized_one_is_refused() -> None:
    item = parsed("attachments.eml", max_attachment_bytes=2048)
    shown = [(a.filename, a.content_type, a.size, a.refused is not None) for a in item.attachments]
    assert shown == [
        ("attachment-1.png", "image/png", 70, False),  # the inline image
        ("passwd", "application/octet-stream", 10, False),  # "../../etc/passwd": no directories
        ("Счёт № 12.pdf", "application/pdf", 8, False),  # RFC 2231
        ("Прайс.xls", "application/vnd.ms-excel", 3072, True),  # RFC 2047, over the limit
        ("log.txt", "text/plain", 6, False),  # a named text part after the body is a file
        ("_CON.txt", "application/octet-stream", 1, False),  # a reserved device name on Windows
    ]
    refused = item.attachments[3]
    assert refused.content is None and refused.refused == "larger than the limit of 2048 bytes (3072 bytes)"
    assert item.attachments[2].content == b"%PDF-1.4"
    assert item.text == "Смотрите фото"  # the mail itself is still taken


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("C:\\Users\\x\\Desktop\\отчёт.docx", "отчёт.docx"),
        ("..", "attachment-3.bin"),
        (".hidden", "hidden"),
        ('a<b>:"c"|?*.txt', "a_b___c____.txt"),
        ("line\nbreak\x00.txt", "linebreak.txt"),
        ("x" * 300 + ".pdf", "x" * 251 + ".pdf"),
        (None, "attachment-3.bin"),
    ],
)
def test_safe_filename(name: str | None, expected: str) -> None:
    assert safe_filename(name, "application/octet-stream", 3) == expected


# -- noise --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("autoreply_x_autoreply.eml", "X-Autoreply header"),
        ("autoreply_precedence.eml", "Precedence: auto_reply"),
        ("autoreply_subject_ru.eml", "out-of-office subject: Автоматический ответ: Re: Заказ"),
        ("autoreply_subject_en.eml", "out-of-office subject: Out of Office: Re: Order"),
    ],
)
def test_auto_replies_are_recognized(name: str, reason: str) -> None:
    item = parsed(name)
    assert item.kind == "auto_reply"
    assert item.meta["auto_reply"] == reason


def test_auto_submitted_no_is_a_person() -> None:
    assert parsed("not_autoreply_auto_submitted_no.eml").kind == "message"


def test_delivery_report_names_our_message_and_the_reason() -> None:
    item = parsed("bounce_dsn_ours.eml")
    assert item.kind == "bounce"
    assert item.meta["bounce"] == {
        "action": "failed",
        "reason": "olga@example.ru: 550 5.1.1 <olga@example.ru>: Recipient address rejected: User unknown",
        "recipients": ["olga@example.ru"],
        "status": "5.1.1",
        "message_ids": ["okno-test-outbound-1@example.com"],
    }


def test_prose_bounce_from_mailer_daemon_is_a_bounce_too() -> None:
    item = parsed("bounce_prose.eml")
    assert item.kind == "bounce"
    assert item.meta["bounce"]["message_ids"] == ["okno-test-outbound-2@example.com"]
    assert item.meta["bounce"]["reason"] == "550 5.1.1 sorry, no mailbox here by that name"


def test_raw_8bit_diagnostic_in_a_report_is_decoded_and_safe_to_store() -> None:
    data = (
        b"From: MAILER-DAEMON@mx.example.ru\r\nSubject: Undelivered\r\nMessage-ID: <d@x>\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
        b"Final-Recipient: rfc822; a@b.ru\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"Diagnostic-Code: smtp; 550 " + "Нет такого".encode("cp1251") + b" \x00user\r\n\r\n--b--\r\n"
    )
    assert parse(data, account_id=1).meta["bounce"]["reason"] == "a@b.ru: 550 Нет такого user"


def test_delayed_report_is_a_bounce_but_not_a_failure() -> None:
    item = parsed("bounce_delayed.eml")
    assert item.kind == "bounce" and item.meta["bounce"]["action"] == "delayed"


# -- threading ----------------------------------------------------------------------------------------


def test_reply_carries_in_reply_to_then_references_newest_first() -> None:
    item = parsed("reply_gmail_ru.eml")
    assert item.external_id == "CAreply-gmail-ru@mail.gmail.com"
    assert item.references == ("okno-out-1@example.com", "cp1251-raw@example.ru")


@pytest.mark.parametrize("name", ["forward_inline.eml", "forward_attached.eml"])
def test_forwarded_mail_starts_a_conversation_of_its_own(name: str) -> None:
    tokens = ReplyTokens(b"k", 1)
    item = parse(fixture(name), account_id=1, options=ParseOptions(tokens=tokens))
    assert item.meta["forwarded"] is True
    assert item.references == ()
    assert item.conversation_hint is None


def test_mail_forwarded_as_attachment_shows_the_forwarded_text() -> None:
    item = parsed("forward_attached.eml")
    assert "From: angry@example.org" in item.text and "Заказ пришёл разбитым." in item.text
    assert [(a.filename, a.content_type) for a in item.attachments] == [("Жалоба.eml", "message/rfc822")]


def test_reply_token_in_the_address_hints_the_conversation() -> None:
    tokens = ReplyTokens(b"account-secret", 1)
    data = fixture("reply_token_only.eml").replace(b"{token}", tokens.make(17).encode())
    item = parse(data, account_id=1, options=ParseOptions(tokens=tokens))
    assert item.references == ()
    assert item.conversation_hint == 17
    assert item.hint_source == "reply_token"


def test_forged_reply_token_is_ignored() -> None:
    tokens = ReplyTokens(b"account-secret", 1)
    data = fixture("reply_token_only.eml").replace(b"{token}", b"c17-0123456789")
    assert parse(data, account_id=1, options=ParseOptions(tokens=tokens)).conversation_hint is None


def test_conversation_tag_in_the_subject_hints_the_conversation() -> None:
    item = parse(fixture("reply_subject_tag.eml").replace(b"{n}", b"23"), account_id=1)
    assert item.conversation_hint == 23
    assert item.hint_source == "subject_tag"


def test_mail_without_message_id_gets_a_stable_content_id() -> None:
    first = parsed("no_message_id.eml")
    again = parse(b"Received: from elsewhere\r\n" + fixture("no_message_id.eml"), account_id=1)
    assert first.external_id.startswith("sha256:")
    assert first.external_id == again.external_id  # fetched again (with a new trace header): same id


def test_date_is_utc_and_a_far_future_date_is_dropped() -> None:
    assert parsed("ru_koi8r_encoded_words.eml").sent_at == datetime(2025, 3, 3, 7, 15, tzinfo=UTC)
    future = fixture("ru_koi8r_encoded_words.eml").replace(b"Mon, 3 Mar 2025", b"Mon, 3 Mar 2125")
    assert parse(future, account_id=1).sent_at is None


# -- refusals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (fixture("no_sender.eml"), "no sender: the mail has no From header"),
        (
            fixture("bad_sender.eml"),
            "no usable sender address (From '\"Иван Петров\"': An email address must have an @-sign.)",
        ),
        (b"", "empty message"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not an e-mail message: no header fields at the start"),
    ],
)
def test_mail_that_cannot_be_taken_is_refused_with_one_line(data: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as err:
        parse(data, account_id=1)
    assert str(err.value) == reason
    assert "\n" not in str(err.value)


def test_pathologically_nested_mail_does_not_crash() -> None:
    data = b"From: a@example.ru\r\nMessage-ID: <deep@example.ru>\r\n"
    for level in range(200):
        data += f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'.encode()
    data += b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    item = parse(data, account_id=1)
    assert item.external_id == "deep@example.ru"


def test_huge_text_is_cut_with_a_note_rather_than_refused() -> None:
    body = base64.encodebytes(("я" * 1_100_000).encode())
    data = (
        b"From: a@example.ru\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body
    )
    item = parse(data, account_id=1)
    assert len(item.text) <= 1_000_000
    assert item.text.endswith("[… cut: the text had 1100000 characters]")
    assert item.meta["truncated_from"] == 1_100_000
