"""The gettext catalogs: every message the code and templates use is translated in every language (a missing
translation fails here, not in front of a user), none is left over, placeholders agree, Russian plurals have
their three forms, and the language of a request is matched by Babel."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from hub import i18n
from hub.settings import ROOT

# The keywords README's extraction command gives pybabel: the defaults and the markers of labels.
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "NP_": ((1, "c"), 2)}
Key = tuple[str | None, str]


def extracted() -> dict[Key, str]:
    """(context, msgid) → where it was found, as `pybabel extract -F babel.cfg` finds them."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[Key, str] = {}
    for filename, lineno, message, _, context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        found.setdefault((context, msgid), f"{filename}:{lineno}")
    return found


def catalog(lang: str) -> Catalog:
    with i18n.catalog_path(lang).open("rb") as po:
        return read_po(po, locale=lang)


def keyed(cat: Catalog) -> dict[Key, Message]:
    """The catalog's live entries (obsolete ones, ``#~``, are kept apart by Babel and count as absent)."""
    return {(m.context, m.id[0] if isinstance(m.id, tuple) else m.id): m for m in cat if m.id}


@pytest.fixture(scope="module")
def used() -> dict[Key, str]:
    found = extracted()
    assert len(found) > 150  # the extraction itself worked
    return found


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_message_in_code_and_templates_is_translated(lang: str, used: dict[Key, str]) -> None:
    entries = keyed(catalog(lang))
    missing = {key: where for key, where in used.items() if key not in entries}
    where = i18n.catalog_path(lang)
    assert not missing, f"add to {where} (README, 'Languages and translating'): {missing}"
    untranslated = [
        key
        for key, message in entries.items()
        if message.fuzzy or not all(message.string if isinstance(message.string, tuple) else [message.string])
    ]
    assert not untranslated, f"empty or fuzzy in {lang}: {untranslated}"


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_no_catalog_entry_is_left_over_and_placeholders_agree(lang: str, used: dict[Key, str]) -> None:
    cat = catalog(lang)
    unused = set(keyed(cat)) - set(used)
    assert not unused, f"no longer used (remove them, or run pybabel update): {unused}"
    problems = [(message.id, errors) for message, errors in cat.check()]
    assert not problems, problems


def test_russian_has_three_plural_forms() -> None:
    ru = i18n.Texts("ru")
    forms = {
        n: ru.ngettext("%(num)d conversation", "%(num)d conversations", n) for n in (1, 2, 5, 11, 21, 22)
    }
    assert forms == {
        1: "1 диалог",
        2: "2 диалога",
        5: "5 диалогов",
        11: "11 диалогов",
        21: "21 диалог",
        22: "22 диалога",
    }
    en = i18n.Texts("en")
    assert [en.ngettext("%(num)d conversation", "%(num)d conversations", n) for n in (1, 2)] == [
        "1 conversation",
        "2 conversations",
    ]


def test_labels_read_in_their_context() -> None:
    ru = i18n.Texts("ru")
    assert ru.gettext("E-mail") == "Эл. почта"
    assert ru.msg(i18n.NP_("channel", "E-mail")) == "Почта"
    assert ru.label({"x": i18n.N_("Today")}, "unknown-code") == "unknown-code"  # shown, never dropped


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en-US,en;q=0.9,ru;q=0.8", "en"),
        ("de-DE, ru;q=0.5, en;q=0.4", "ru"),
        ("ru;q=0.2, en-GB;q=0.8", "en"),
        ("en;q=0, ru;q=0.1", "ru"),
        ("fr, de", "ru"),  # none of ours: the default
        ("en;q=abc, ru", "ru"),  # a malformed q counts as not wanted
        ("", "ru"),
        (None, "ru"),
    ],
)
def test_accept_language_is_matched_by_quality(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header) == expected


def test_explicit_choices_come_first_and_aliases_apply() -> None:
    assert i18n.negotiate("en", choices=(None, "ru")) == "ru"
    assert i18n.negotiate("en", choices=("fr", None)) == "en"  # not ours: skipped
    assert i18n.negotiate("uk-UA", default="en", aliases={"uk": "ru"}) == "ru"
    assert i18n.negotiate("uk-UA", default="en") == "en"


def test_an_unknown_language_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'de'"):
        i18n.translation("de")


def test_catalogs_are_shipped_where_the_hub_reads_them() -> None:
    assert Path(i18n.__file__).parent / "locale" == i18n.LOCALE_DIR
    for lang in i18n.LANGUAGES:
        assert i18n.catalog_path(lang).is_file()
