"""Colloquial words bring the plain words templates use into the query, by stem, in both languages."""

from __future__ import annotations

from inbox.knowledge.lexicon import plain_words
from inbox.knowledge.search import IndexedTemplate, SearchIndex, keys_of, visible_to

TEMPLATES = [
    IndexedTemplate(1, "pay", "Способы оплаты", "Оплатить можно картой или наличными.", "ru"),
    IndexedTemplate(2, "promo", "Промокоды и скидки", "Промокод вводится в корзине.", "ru"),
    IndexedTemplate(3, "greet", "Приветствие", "Здравствуйте!", "ru", ("алло", "есть кто")),
    IndexedTemplate(4, "warranty", "Warranty", "Bring it to a service center.", "en", ("stopped working",)),
    IndexedTemplate(5, "en-pay", "Payment methods", "We accept credit cards.", "en"),
]
INDEX = SearchIndex.build(TEMPLATES)


def test_slang_finds_the_template_written_in_plain_words() -> None:
    assert keys_of(INDEX.search("а налом можно?", accept=visible_to(None, language="ru")))[0] == "pay"
    assert keys_of(INDEX.search("промик не работает", accept=visible_to(None, language="ru")))[0] == "promo"
    assert keys_of(INDEX.search("ау", accept=visible_to(None, language="ru"))) == ["greet"]
    english = visible_to(None, language="en")
    assert keys_of(INDEX.search("my headphones died", accept=english))[0] == "warranty"
    assert keys_of(INDEX.search("do u take amex", accept=visible_to(None, language="en")))[0] == "en-pay"


def test_every_word_form_of_a_colloquial_word_counts() -> None:
    assert "наличными" in plain_words("налом")
    assert "наличными" in plain_words("отдам налами")
    assert "дважды" in plain_words("сняли два раза")


def test_a_short_colloquial_word_is_matched_only_as_written() -> None:
    assert plain_words("а его всё нет") == ""  # «ау» would stem to «а»
    assert plain_words("ау") != ""
