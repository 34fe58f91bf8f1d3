"""Cutting long replies at Telegram's 4096-unit limit, at natural breaks, never inside a character."""

from __future__ import annotations

from channels.text import split_text, utf16_len


def test_short_text_is_one_part() -> None:
    assert split_text("Здравствуйте!", 4096, measure=utf16_len) == ["Здравствуйте!"]


def test_long_text_is_cut_at_paragraph_then_line_then_word_breaks() -> None:
    paragraph = "а" * 3000
    assert split_text(f"{paragraph}\n\n{paragraph}", 4096) == [paragraph, paragraph]
    line = "б" * 3000
    assert split_text(f"{line}\n{line}", 4096) == [line, line]
    words = " ".join(["слово"] * 1500)  # 8999 characters
    parts = split_text(words, 4096)
    assert all(len(p) <= 4096 for p in parts) and len(parts) == 3
    assert " ".join(parts) == words


def test_text_without_breaks_is_cut_at_the_limit_and_nothing_is_lost() -> None:
    text = "x" * 10000
    parts = split_text(text, 4096)
    assert [len(p) for p in parts] == [4096, 4096, 1808]
    assert "".join(parts) == text


def test_emoji_count_twice_and_are_never_split() -> None:
    text = "😀" * 3000  # 6000 UTF-16 code units
    parts = split_text(text, 4096, measure=utf16_len)
    assert [utf16_len(p) for p in parts] == [4096, 1904]
    assert "".join(parts) == text


def test_whitespace_only_parts_are_dropped() -> None:
    assert split_text("   ", 10) == []
    assert split_text("a" * 10 + "\n\n" + " " * 20, 10) == ["a" * 10]
