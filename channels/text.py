"""Cutting long replies into parts a messenger accepts (Telegram: 4096 UTF-16 code units per message).

Parts are cut at a paragraph break, else a line break, else a space, else at the limit; the separator at a
cut is dropped and whitespace-only parts are skipped (messengers refuse empty messages). Cutting works on code
points, so a character outside the Basic Multilingual Plane (most emoji) is never split in two.
"""

from __future__ import annotations

from collections.abc import Callable

SEPARATORS = ("\n\n", "\n", " ")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: how Telegram counts (emoji outside the BMP count twice)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _fitting_prefix(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """The number of code points of the longest prefix of `text` whose measure is at most `limit`."""
    if measure is len:
        return min(limit, len(text))
    low, high = 0, min(limit, len(text))
    while low < high:  # measure is monotonic in the prefix length
        mid = (low + high + 1) // 2
        if measure(text[:mid]) <= limit:
            low = mid
        else:
            high = mid - 1
    return low


def split_text(text: str, limit: int, *, measure: Callable[[str], int] = len) -> list[str]:
    """`text` in parts of at most `limit` (as `measure` counts), cut at natural breaks where possible."""
    if limit < 1:
        raise ValueError("limit must be positive")
    parts: list[str] = []
    rest = text
    while measure(rest) > limit:
        cut = max(
            1, _fitting_prefix(rest, limit, measure)
        )  # one character wider than the limit still moves on
        head, skip = cut, 0
        for sep in SEPARATORS:
            pos = rest.rfind(sep, 0, cut)
            if pos >= cut // 2:  # a break in the second half: parts stay reasonably full
                head, skip = pos, len(sep)
                break
        parts.append(rest[:head])
        rest = rest[head + skip :]
    parts.append(rest)
    return [part for part in parts if part.strip()]
