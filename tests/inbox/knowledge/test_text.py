"""What a client wrote, made ready to match: a mail without its quoted history and signature, Russian in
Latin letters back in Cyrillic, and the language of a text (transliterated Russian is Russian)."""

from __future__ import annotations

from inbox.knowledge.text import client_text, language_of, strip_mail, transliterate, untransliterate

OUTLOOK_REPLY = """Hello,
I returned order 55120 two weeks ago but the money is not back yet.

Best regards,
Tom Baker | Acme Ltd
-----Original Message-----
From: Shop <support@example.com>
Subject: Your password was reset
"""

RUSSIAN_REPLY = """Здравствуйте.
Стекло у шкафа разбито, фото прикладываю.

--
Иван Сидоров, тел. 8 (495) 123-45-67

> 15 мая 2024 г., в 10:12, Магазин <shop@example.ru> написал(а):
> Ваш пароль изменён.
"""


def test_a_mails_signature_and_quoted_history_are_not_matched() -> None:
    english = strip_mail(OUTLOOK_REPLY)
    assert "returned order" in english
    assert "Tom" not in english and "password" not in english
    russian = strip_mail(RUSSIAN_REPLY)
    assert "Стекло у шкафа разбито" in russian
    assert "Иван" not in russian and "пароль" not in russian


def test_gmail_quote_header_and_sent_from_lines_end_the_clients_text() -> None:
    text = "Where is my parcel?\nSent from my iPhone\n\nOn Mon, May 6, 2024 at 9:14 AM <a@b.c> wrote:\n> hi"
    assert strip_mail(text) == "Where is my parcel?"


def test_a_message_that_is_only_a_valediction_is_kept() -> None:
    assert strip_mail("Спасибо!") == "Спасибо!"
    assert strip_mail("Thanks,\nMark") == "Thanks,\nMark"
    assert strip_mail("> quoted only") == "> quoted only"


def test_a_thanks_line_in_the_middle_of_a_message_is_not_a_signature() -> None:
    text = "Hi\nThanks,\nbut where is my order?\nIt was due on Monday.\nTracking is empty.\nNothing.\nHelp"
    assert strip_mail(text) == text
    assert strip_mail("Где заказ?\nСпасибо!\nОльга\n+7 916 555-12-34") == "Где заказ?"


def test_russian_in_latin_letters_is_read_in_cyrillic() -> None:
    assert transliterate("prishel") == "пришел"
    assert transliterate("moy") == "мой"
    assert transliterate("pozhaluysta") == "пожалуйста"
    assert transliterate("tovary") == "товары"
    assert untransliterate("zakaz ne prishel") == "заказ не пришел"
    assert client_text("gde moy zakaz?") == "где мой заказ?"


def test_english_and_mixed_text_is_not_transliterated() -> None:
    assert untransliterate("do u take amex") == "do u take amex"
    assert untransliterate("where is my order") == "where is my order"
    assert untransliterate("привет, tracking number не работает") == "привет, tracking number не работает"


def test_transliterated_russian_is_russian_and_english_stays_english() -> None:
    assert language_of("zakaz ne prishel") == "ru"
    assert language_of("spasibo, vse ponyatno") == "ru"
    assert language_of("kak oplatit kartoj?") == "ru"
    assert language_of("locked out of my account") == "en"
    assert language_of("changed my mind, don't ship it") == "en"
    assert language_of("Ё-моё, ГДЕ ЗАКАЗ") == "ru"
