"""Search: Russian and English word forms, one typo on longer words, prefixes while typing, and BM25
ranking by title, tags and body."""

from __future__ import annotations

from inbox.knowledge.search import IndexedTemplate, SearchIndex, keys_of, visible_to
from inbox.knowledge.text import language_of

TEMPLATES = [
    IndexedTemplate(1, "delivery", "Доставка", "Доставка по Москве занимает 1–2 дня.", "ru", ("курьер",)),
    IndexedTemplate(2, "returns", "Возврат товара", "Оформить возврат можно в течение 14 дней.", "ru"),
    IndexedTemplate(3, "payment", "Оплата", "Оплатить заказ можно картой или наличными.", "ru"),
    IndexedTemplate(4, "en-delivery", "Delivery", "Delivery takes 3–7 business days.", "en"),
    IndexedTemplate(5, "en-refund", "Refunds", "We refund to your card.", "en", ("money back",)),
    IndexedTemplate(6, "mine", "Моя доставка", "Доставка завтра", "ru", channels=("email",), owner_id=7),
]
INDEX = SearchIndex.build(TEMPLATES)


def test_a_russian_word_form_finds_its_lemma() -> None:
    assert keys_of(INDEX.search("доставкой", accept=visible_to(None))) == ["delivery"]


def test_an_english_word_form_finds_another_form() -> None:
    assert keys_of(INDEX.search("delivered")) == ["en-delivery"]


def test_one_typo_in_a_long_word_is_tolerated() -> None:
    assert keys_of(INDEX.search("вазврат")) == ["returns"]


def test_a_typo_in_a_short_word_is_not_a_match() -> None:
    assert INDEX.search("дпни") == []


def test_a_word_being_typed_matches_by_prefix() -> None:
    assert keys_of(INDEX.search("оплат"))[0] == "payment"
    assert keys_of(INDEX.search("возвр")) == ["returns"]


def test_a_match_in_the_title_or_tags_ranks_above_one_in_the_body() -> None:
    index = SearchIndex.build(
        [
            IndexedTemplate(1, "body", "Общие вопросы", "Про курьера расскажем отдельно.", "ru"),
            IndexedTemplate(2, "tag", "Доставка", "Привезём быстро.", "ru", ("курьер",)),
        ]
    )
    assert keys_of(index.search("курьер")) == ["tag", "body"]


def test_personal_templates_are_found_only_by_their_owner_and_channels_filter() -> None:
    assert "mine" not in keys_of(INDEX.search("доставка", accept=visible_to(8)))
    assert "mine" in keys_of(INDEX.search("доставка", accept=visible_to(7)))
    assert "mine" not in keys_of(INDEX.search("доставка", accept=visible_to(7, channel="telegram")))
    assert keys_of(INDEX.search("доставка", accept=visible_to(7, language="en"))) == []


def test_markup_in_a_body_is_not_searched() -> None:
    index = SearchIndex.build([IndexedTemplate(1, "k", "Привет", "Здравствуйте, {{ contact.name }}", "ru")])
    assert index.search("contact") == []


def test_the_language_of_a_text_is_its_main_script() -> None:
    assert language_of("где мой order") == "ru"
    assert language_of("where is my заказ") == "en"
    assert language_of("12345", default="en") == "en"
