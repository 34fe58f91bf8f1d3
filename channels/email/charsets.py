"""Turning the bytes of real-world mail into text when the charset is missing, misspelled or wrong.

Russian mail arrives in UTF-8, windows-1251 and KOI8-R, often with charset names that Python does not know
(``win-1251``, ``x-cp1251``, ``koi8r``) or with raw 8-bit bytes where only ASCII is allowed (headers,
``charset=us-ascii`` parts). The rules, in order:

1. pure ASCII is ASCII, unless a 7-bit charset is declared (UTF-7 from Exchange, ISO-2022-JP): those
   are ASCII bytes carrying other text;
2. valid UTF-8 is UTF-8 whatever was declared: other 8-bit text (a Cyrillic word in windows-1251 or
   KOI8-R, a Latin-1 accent) is practically never valid UTF-8, while UTF-8 labelled ``windows-1251`` or
   ``iso-8859-1`` by a misconfigured web form is common. *Mostly* valid UTF-8 (a name cut in the middle
   of a letter, one stray byte) is UTF-8 too, the bad bytes replaced: Cyrillic in windows-1251 or KOI8-R
   hardly ever forms even a few valid UTF-8 sequences, so reading it as either would only make mojibake;
3. a declared charset that Python knows (after the aliases below) is trusted;
4. a charset declared elsewhere in the same message (``hints``) — a raw 8-bit subject is usually in the
   charset of the body;
5. otherwise a guess between windows-1251, KOI8-R and windows-1252 (:func:`guess_8bit`).

Nothing here raises on bad input: undecodable bytes become U+FFFD.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Iterable

# Names seen in real mail that Python's codec registry does not resolve (or resolves wrongly).
ALIASES: dict[str, str] = {
    "win-1251": "cp1251",
    "win1251": "cp1251",
    "cp-1251": "cp1251",
    "x-cp1251": "cp1251",
    "windows1251": "cp1251",
    "windows-1251-1": "cp1251",
    "win-1252": "cp1252",
    "x-cp1252": "cp1252",
    "koi8r": "koi8_r",
    "koi-8-r": "koi8_r",
    "x-koi8-r": "koi8_r",
    "koi8u": "koi8_u",
    "x-mac-cyrillic": "mac_cyrillic",
    "utf8": "utf-8",
    "utf-8-sig": "utf-8",
    "x-utf-8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "iso-8859-8-i": "iso8859_8",
    "windows-874": "cp874",
    "ansi_x3.4-1968": "ascii",
    "us-ascii": "ascii",
    "iso-8859-1": "cp1252",  # what senders declaring Latin-1 actually write (curly quotes, euro sign)
    "latin1": "cp1252",
    "latin-1": "cp1252",
}
# Declared names that carry no information.
UNKNOWN = frozenset({"unknown-8bit", "x-unknown", "unknown", "x-user-defined", "default", "charset"})

# Charsets whose bytes are all ASCII: ASCII data declared in one of them still needs decoding.
SEVEN_BIT = frozenset({"utf-7", "iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_kr", "hz"})
# One valid UTF-8 sequence of two to four bytes (no overlongs, no surrogates).
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_CLEAN_NAME = re.compile(r"[^a-z0-9_.:\-]")
_SURROGATE = re.compile("[\udc80-\udcff]")


@functools.lru_cache(maxsize=256)
def lookup(name: str | None) -> str | None:
    """The Python codec for a declared charset name, or None if unknown or meaningless."""
    if not name:
        return None
    cleaned = _CLEAN_NAME.sub("", name.strip().strip("\"'").lower().split(";")[0])
    if not cleaned or cleaned in UNKNOWN:
        return None
    cleaned = ALIASES.get(cleaned, cleaned)
    try:
        info = codecs.lookup(cleaned)
    except LookupError:
        return None
    if info.name in ("rot-13", "base64", "hex", "zlib", "bz2", "quopri", "uu"):  # not text encodings
        return None
    return info.name


def _is_ascii(data: bytes) -> bool:
    return data.isascii()


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def mostly_utf8(data: bytes) -> bool:
    """At least three valid UTF-8 sequences, and at most one stray high byte for every three of them."""
    sequences = _UTF8_SEQUENCE.findall(data)
    stray = sum(1 for b in data if b >= 0x80) - sum(len(s) for s in sequences)
    return len(sequences) >= 3 and stray * 3 <= len(sequences)


def guess_8bit(data: bytes) -> str:
    """The likeliest of windows-1251, KOI8-R and windows-1252 for non-UTF-8 8-bit text.

    Cyrillic words are runs of high bytes; Western European text has single high bytes between ASCII
    letters (``Grüße``). Between the two Cyrillic encodings the letter case decides: running text is
    mostly lower case, which is 0xE0-0xFF in windows-1251 and 0xC0-0xDF in KOI8-R.
    """
    high = [i for i, b in enumerate(data) if b >= 0x80]
    if not high:
        return "ascii"
    isolated = 0
    for i in high:
        left = data[i - 1] if i > 0 else 0x20
        right = data[i + 1] if i + 1 < len(data) else 0x20
        if (left < 0x80 and chr(left).isalpha()) or (right < 0x80 and chr(right).isalpha()):
            isolated += 1
    if isolated * 2 > len(high):
        return "cp1252"
    upper_cp1251 = sum(1 for i in high if 0xC0 <= data[i] <= 0xDF)
    lower_cp1251 = sum(1 for i in high if data[i] >= 0xE0)
    return "cp1251" if lower_cp1251 >= upper_cp1251 else "koi8_r"


def decode(data: bytes, declared: str | None = None, hints: Iterable[str | None] = ()) -> str:
    """Text from `data`, by the rules in the module docstring."""
    if not data:
        return ""
    codec = lookup(declared)
    if _is_ascii(data):
        if codec in SEVEN_BIT:
            return data.decode(codec, errors="replace")
        return data.decode("ascii")
    text = _utf8(data)
    if text is not None:
        return text
    if mostly_utf8(data):
        return data.decode("utf-8", errors="replace")
    if codec is not None and codec not in ("ascii", "utf-8"):
        return data.decode(codec, errors="replace")
    for hint in hints:
        hinted = lookup(hint)
        if hinted is not None and hinted not in ("ascii", "utf-8"):
            return data.decode(hinted, errors="replace")
    return data.decode(guess_8bit(data), errors="replace")


def from_surrogates(value: str, hints: Iterable[str | None] = ()) -> str:
    """A header value the parser read as ASCII with surrogate escapes (raw 8-bit bytes), decoded."""
    if value.isascii() or not _SURROGATE.search(value):
        return value
    raw = value.encode("ascii", errors="surrogateescape")
    return decode(raw, None, hints)


def clean(text: str) -> str:
    """Text safe for every database: no NUL, no lone surrogates."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="replace").decode("utf-8")
    return text
