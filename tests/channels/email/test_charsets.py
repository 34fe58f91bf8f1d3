"""Decoding mail text whose charset is missing, misspelled or wrong."""

from __future__ import annotations

import codecs

import pytest

from channels.email.charsets import clean, decode, from_surrogates, guess_8bit, lookup

RUSSIAN = "Здравствуйте, подскажите, пожалуйста, где мой заказ?"


@pytest.mark.parametrize(
    ("declared", "codec"),
    [
        ("windows-1251", "cp1251"),
        ("win-1251", "cp1251"),
        ('"CP-1251"', "cp1251"),
        ("koi8r", "koi8_r"),
        ("KOI8-R;", "koi8_r"),
        ("utf8", "utf-8"),
        ("iso-8859-1", "cp1252"),
        ("x-unknown", None),
        ("no-such-charset", None),
        ("base64", None),
        (None, None),
    ],
)
def test_declared_charset_names_resolve_to_codecs(declared: str | None, codec: str | None) -> None:
    assert lookup(declared) == (codecs.lookup(codec).name if codec else None)


@pytest.mark.parametrize("codec", ["cp1251", "koi8_r"])
def test_undeclared_cyrillic_is_told_apart_by_letter_case(codec: str) -> None:
    data = RUSSIAN.encode(codec)
    assert guess_8bit(data) == codec
    assert decode(data) == RUSSIAN


def test_undeclared_western_text_is_not_mistaken_for_cyrillic() -> None:
    data = "Grüße aus München, schöne Größe".encode("cp1252")
    assert guess_8bit(data) == "cp1252"
    assert decode(data) == "Grüße aus München, schöne Größe"


def test_valid_utf8_wins_over_a_wrong_label() -> None:
    assert decode(RUSSIAN.encode(), "windows-1251") == RUSSIAN


def test_declared_single_byte_charset_is_trusted() -> None:
    assert decode(RUSSIAN.encode("koi8_r"), "koi8-r") == RUSSIAN


def test_a_charset_declared_elsewhere_in_the_message_decodes_raw_bytes() -> None:
    short = "Счёт".encode("koi8_r")  # too short to guess safely: the body's charset decides
    assert decode(short, None, ["us-ascii", "koi8-r"]) == "Счёт"


def test_header_read_with_surrogate_escapes_is_decoded() -> None:
    escaped = "Тема".encode("cp1251").decode("ascii", "surrogateescape")
    assert from_surrogates(escaped, ["windows-1251"]) == "Тема"
    assert from_surrogates("plain ascii") == "plain ascii"


def test_clean_text_has_no_nul_and_no_lone_surrogates() -> None:
    assert clean("a\x00b\udcff") == "ab?"
