"""Plain-text reply conventions: folding away the quoted history, and format=flowed (RFC 3676).

:func:`fold` splits a reply into what the sender wrote and the history they quoted, so agents see the new
text; the caller keeps the full original. The history starts at

* an attribution line ("On … wrote:", "… пишет:", "пн, 19 авг. 2021 г. в 14:07, Иван <…>:",
  "Am … schrieb …:"), possibly wrapped over up to three lines, when everything after it (up to a
  signature) is ``>``-quoted — otherwise the reply is interleaved with the quote and nothing is folded;
* a separator ("-----Original Message-----", "-----Исходное сообщение-----", Outlook's underscores);
* an Outlook header block ("From: / Sent: / To: / Subject:", "От: / Отправлено: / Кому: / Тема:");
* or, failing those, a trailing block of ``>`` lines.

Nothing is folded when no text of the sender's own would remain above the history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ATTRIBUTION = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^\s*On\b.{4,300}\bwrote\s*:\s*$",  # Gmail, Thunderbird, Apple Mail (EN)
        r"^\s*Le\b.{4,300}\ba écrit\s*:\s*$",  # FR
        r"^\s*Am\b.{4,300}\bschrieb\b.{0,200}:\s*$",  # DE
        r"^.{4,300}\b(пишет|написал|написала|написал\(а\)|писал|писала|писал\(а\))\s*:\s*$",  # RU
        # Gmail RU: "пн, 19 авг. 2021 г. в 14:07, Иван <…>:"
        r"^.{0,80}\d{4}\s*г\.?,?\s*в\s*\d{1,2}:\d{2}.{0,300}:\s*$",
        r"^\s*\d{1,2}\.\d{1,2}\.\d{2,4},?\s+\d{1,2}:\d{2}.{0,300}<[^<>\s]+@[^<>\s]+>\s*:?\s*$",  # Yandex
        r"^.{0,100}\d{1,2}:\d{2}.{0,40}\sот\s.{1,300}:\s*$",  # Mail.ru: "… 14:07 +03:00 от Иван <…>:"
    )
]
_SEPARATOR = re.compile(
    r"^\s*(-{2,}\s*(original message|исходное сообщение|ursprüngliche nachricht|message d'origine|"
    r"исходное письмо)\s*-{2,}|_{20,})\s*$",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^\s*\*?(from|от|von|de)\s*:", re.IGNORECASE)
_HEADER_REST = (
    re.compile(r"^\s*\*?(sent|date|отправлено|дата|gesendet|datum|envoyé)\s*:", re.IGNORECASE),
    re.compile(r"^\s*\*?(to|кому|an|à)\s*:", re.IGNORECASE),
    re.compile(r"^\s*\*?(subject|тема|betreff|objet)\s*:", re.IGNORECASE),
)
_SIGNATURE = re.compile(r"^--\s*$")


@dataclass(frozen=True, slots=True)
class Folded:
    shown: str
    quoted: str | None  # None when nothing was folded

    @property
    def folded(self) -> bool:
        return self.quoted is not None


def _quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _blank(line: str) -> bool:
    return not line.strip()


def _attribution(lines: list[str], i: int) -> int:
    """How many lines (1-3) starting at `i` form an attribution line, or 0."""
    if _quoted(lines[i]) or _blank(lines[i]):
        return 0
    joined = ""
    for n in range(3):
        if i + n >= len(lines) or _quoted(lines[i + n]) or _blank(lines[i + n]):
            break
        joined = f"{joined} {lines[i + n].strip()}" if joined else lines[i + n].strip()
        if len(joined) > 400:
            break
        if any(p.match(joined) for p in _ATTRIBUTION):
            return n + 1
    return 0


def _header_block(lines: list[str], i: int) -> bool:
    if not _HEADER_FROM.match(lines[i]):
        return False
    window = lines[i + 1 : i + 7]
    return all(any(p.match(line) for line in window) for p in _HEADER_REST[1:]) and any(
        _HEADER_REST[0].match(line) for line in window
    )


def _only_quote_follows(lines: list[str]) -> bool:
    """True if `lines` (after an attribution) are quoted or blank up to a signature delimiter."""
    seen_quote = False
    for line in lines:
        if _SIGNATURE.match(line):
            break
        if _quoted(line):
            seen_quote = True
        elif not _blank(line):
            return False
    return seen_quote


def fold(text: str) -> Folded:
    """Split `text` into the sender's own words and the quoted history (see the module docstring)."""
    lines = text.split("\n")
    own = False  # has the sender written anything above the current line?
    for i, line in enumerate(lines):
        start: int | None = None
        n = _attribution(lines, i)
        if n:
            if not _only_quote_follows(lines[i + n :]):
                # Answers interleaved with the quote (or an attribution with nothing quoted): keep all.
                return Folded(text, None)
            start = i
        elif _SEPARATOR.match(line) or _header_block(lines, i):
            start = i
        if start is not None:
            if not own:
                return Folded(text, None)
            return Folded("\n".join(lines[:start]).rstrip(), "\n".join(lines[start:]).strip("\n"))
        if not _blank(line) and not _quoted(line):
            own = True
    # A trailing block of quoted lines (and blank lines), with a short lead-in line ending in ':' kept
    # with it ("Иван Петров <ivan@example.ru>:").
    j = len(lines)
    while j > 0 and (_blank(lines[j - 1]) or _quoted(lines[j - 1])):
        j -= 1
    if j == len(lines) or not any(_quoted(line) for line in lines[j:]):
        return Folded(text, None)
    if j > 0 and lines[j - 1].rstrip().endswith(":") and len(lines[j - 1]) < 300:
        j -= 1
    shown = "\n".join(lines[:j]).rstrip()
    if not shown.strip():
        return Folded(text, None)
    return Folded(shown, "\n".join(lines[j:]).strip("\n"))


def unflow(text: str, *, delsp: bool = False) -> str:
    """Decode format=flowed (RFC 3676): join soft-broken lines, undo space-stuffing."""
    out: list[str] = []
    pending: str | None = None
    pending_depth = -1
    for raw in text.split("\n"):
        line = raw.rstrip("\r")
        depth = len(line) - len(line.lstrip(">"))
        body = line[depth:]
        if body.startswith(" "):
            body = body[1:]  # space-stuffing (and the space after the quote marks)
        if pending is not None and depth != pending_depth:
            out.append(pending)
            pending = None
        soft = body.endswith(" ") and body != "-- "
        if soft and delsp:
            body = body[:-1]
        if pending is None:
            pending, pending_depth = ("> " * depth if depth else "") + body, depth
        else:
            pending += body
        if not soft:
            out.append(pending)
            pending = None
    if pending is not None:
        out.append(pending)
    return "\n".join(out)
