"""The conversation's language is the one the client writes in: newest messages weigh most, a short "ok"
does not flip it, quoted mail is not the client's, Russian in Latin letters is Russian."""

from __future__ import annotations

from inbox.knowledge.suggest import language_of_messages


def test_the_client_s_newest_message_decides_when_it_says_something() -> None:
    assert (
        language_of_messages(["Hello, where is my order? It has been two weeks", "Здравствуйте"], "ru")
        == "en"
    )
    assert language_of_messages(["Где мой заказ? Уже две недели жду", "Hello"], "en") == "ru"


def test_a_client_who_switches_language_is_answered_in_the_new_one() -> None:
    russian_history = ["Здравствуйте, у меня вопрос по заказу номер 5521, он так и не пришёл до сих пор"] * 4
    assert (
        language_of_messages(["Sorry, I'll write in English: where is my order?", *russian_history], "ru")
        == "en"
    )


def test_a_short_reply_does_not_flip_the_conversation_s_language() -> None:
    assert (
        language_of_messages(["ok", "Здравствуйте, заказ 5521 так и не пришёл, что случилось?"], "en") == "ru"
    )
    assert language_of_messages(["ок", "Hi, my parcel has not arrived yet, can you check?"], "ru") == "en"


def test_russian_in_latin_letters_is_russian() -> None:
    assert language_of_messages(["zakaz ne prishel, gde on?"], "en") == "ru"
    assert language_of_messages(["privet", "spasibo, vse ponyatno"], "en") == "ru"


def test_mail_quoted_under_an_answer_is_not_the_client_s_language() -> None:
    reply = (
        "Спасибо, но посылка так и не пришла.\n\n"
        "On Mon, May 6, 2024 at 9:14 AM Shop <orders@example.com> wrote:\n"
        "> Your order has shipped and will arrive within three to five business days. Track it online.\n"
        "> Thank you for shopping with us, and have a wonderful day!"
    )
    assert language_of_messages([reply], "en") == "ru"


def test_without_letters_the_default_holds() -> None:
    assert language_of_messages([], "en") == "en"
    assert language_of_messages(["12345", "👍"], "ru") == "ru"
