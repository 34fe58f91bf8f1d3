"""Folding the quoted history of replies away from what the sender wrote."""

from __future__ import annotations

import pytest

from channels.email.quoting import fold, unflow


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (  # Gmail, attribution wrapped over two lines, signature below the quote
            "Yes, here are the steps\n\nOn Thu, Aug 19, 2021 at 2:07 PM Tejaswini <\n"
            "tejaswini@example.com> wrote:"
            "\n\n> Any update?\n>\n\n--\nSony",
            "Yes, here are the steps",
        ),
        (
            "Спасибо.\n\nпн, 19 авг. 2021 г. в 14:07, Иван <ivan@example.ru>:\n\n> Счёт во вложении.\n",
            "Спасибо.",
        ),
        ("Да.\n\n19.08.2021 14:07, Иван Петров пишет:\n> Удобно завтра?\n", "Да."),
        ('Ок\n\n19.08.2021, 14:07, "Иван" <ivan@yandex.ru>:\n> Вопрос\n', "Ок"),
        ("Ок\n\nПонедельник, 19 августа 2021, 14:07 +03:00 от Иван <ivan@mail.ru>:\n> Вопрос\n", "Ок"),
        ("Gut.\n\nAm 07.05.2012 um 15:58 schrieb Katja <k@example.de>:\n> Frage\n", "Gut."),
        (
            "Принято.\n\nОт: Иван <ivan@example.ru>\nОтправлено: 19 августа 2021 г. 14:07\n"
            "Кому: s@example.com\n"
            "Тема: Заказ\n\nСтарый текст\n",
            "Принято.",
        ),
        ("Thanks\n\n-----Original Message-----\nFrom: a\nold\n", "Thanks"),
        ("Thanks\n\n________________________________\nFrom: a\nSent: b\nTo: c\nSubject: d\n\nold", "Thanks"),
        ("Hi\n\nIvan <ivan@example.ru>:\n> old\n> older\n", "Hi"),
    ],
)
def test_quoted_history_is_folded_away(text: str, shown: str) -> None:
    folded = fold(text)
    assert folded.folded
    assert folded.shown == shown
    assert folded.quoted is not None and shown + "\n\n" + folded.quoted.strip() in text.strip() + "\n"


@pytest.mark.parametrize(
    "text",
    [
        "See inline.\n\nOn Mon, 1 Jan 2024, X wrote:\n> q1\nA1\n> q2\nA2\n",  # interleaved answers
        "On 04/02/2012 06:26 PM, Megan wrote:\n> Hi\nHello",  # nothing of the sender's own above it
        "> only a quote\n> nothing else\n",
        "Plain text\nwith no quote at all\n",
    ],
)
def test_nothing_is_folded_when_it_would_hide_the_senders_words(text: str) -> None:
    folded = fold(text)
    assert not folded.folded
    assert folded.shown == text


def test_format_flowed_joins_soft_line_breaks() -> None:
    assert unflow("Это длинная \nстрока.\n> цитата \n> дальше\n-- \nподпись") == (
        "Это длинная строка.\n> цитата дальше\n-- \nподпись"
    )


def test_format_flowed_delsp_removes_the_soft_break_space() -> None:
    assert unflow("Verylong \nword", delsp=True) == "Verylongword"
