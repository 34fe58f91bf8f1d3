"""Readable plain text from the HTML of an e-mail (HTML-only mail still needs a text body).

A small converter on the standard library's :class:`html.parser.HTMLParser`: block elements become line
breaks, list items get a dash, table cells are separated by spaces, links keep their target when it is not
the link text, images leave their alt text, and quoted mail (``<blockquote>``) is prefixed with ``>`` as in
a plain-text reply, so the same quote folding works for both. Scripts, styles and the ``<head>`` are dropped.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = frozenset(
    {
        "address",
        "article",
        "aside",
        "center",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "tfoot",
        "thead",
        "tr",
        "ul",
    }
)
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl", "pre", "figure"})
_SKIP = frozenset({"script", "style", "head", "title", "template", "svg", "object", "iframe", "noscript"})
_VOID = frozenset({"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr", "source"})
_SPACE = re.compile(r"[ \t\r\n\f\v\u00a0\u200b]+")
_LINK_SCHEMES = ("http://", "https://", "mailto:", "tel:")


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line: list[str] = []
        self.skip = 0
        self.pre = 0
        self.quote = 0
        self.blank_wanted = False
        self.links: list[tuple[str, int]] = []  # href, length of the text when the link opened

    # -- output --------------------------------------------------------------------------------------
    def _text_so_far(self) -> str:
        return "".join(self.line)

    def _newline(self) -> None:
        text = self._text_so_far().rstrip()
        self.line = []
        if text or self.pre:
            prefix = "> " * self.quote
            self.lines.append(prefix + text if text else prefix.rstrip())
        elif self.lines and self.lines[-1] != "":
            self.lines.append(("> " * self.quote).rstrip())

    def _break(self, paragraph: bool = False) -> None:
        if self.line and self._text_so_far().strip():
            self._newline()
        else:
            self.line = []
        if paragraph and self.lines and self.lines[-1].strip("> ") != "":
            self.lines.append(("> " * self.quote).rstrip())

    def _write(self, text: str) -> None:
        if self.pre:
            parts = text.split("\n")
            for i, part in enumerate(parts):
                if i:
                    self._newline()
                self.line.append(part)
            return
        text = _SPACE.sub(" ", text)
        if not text:
            return
        current = self._text_so_far()
        if not current.strip():
            text = text.lstrip()
            if not text:
                return
            self.line = []
        elif current.endswith(" ") and text.startswith(" "):
            text = text[1:]
        self.line.append(text)

    # -- parser callbacks ----------------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            if tag not in _VOID:
                self.skip += 1
            return
        if self.skip:
            return
        attributes = {k: v or "" for k, v in attrs}
        if tag == "br":
            self._newline()
        elif tag == "blockquote":
            self._break(paragraph=True)
            self.quote += 1
        elif tag in _BLOCK:
            self._break(paragraph=tag in _PARAGRAPH)
            if tag == "li":
                self._write("- ")
            elif tag == "hr":
                self._write("----")
                self._newline()
            elif tag == "pre":
                self.pre += 1
        elif tag in ("td", "th"):
            if self._text_so_far().strip():
                self._write("  ")
        elif tag == "img":
            alt = attributes.get("alt", "").strip()
            if alt:
                self._write(f"[{alt}]")
        elif tag == "a":
            self.links.append((attributes.get("href", "").strip(), len(self._text_so_far())))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            if tag not in _VOID:
                self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if tag == "blockquote":
            self._break()
            while self.lines and self.quote and self.lines[-1] == ("> " * self.quote).rstrip():
                self.lines.pop()  # no empty quoted lines at the end of a quote
            self.quote = max(0, self.quote - 1)
            self._break(paragraph=True)
        elif tag in _BLOCK:
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
            self._break(paragraph=tag in _PARAGRAPH)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            shown = self._text_so_far()[start:].strip()
            target = href[7:] if href.lower().startswith("mailto:") else href
            if href.lower().startswith(_LINK_SCHEMES) and target and target not in shown:
                self._write(f" ({target})" if shown else target)

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self._write(data)

    def result(self) -> str:
        self._break()
        lines = [line.rstrip() for line in self.lines]
        out: list[str] = []
        for line in lines:
            if not line.strip("> ") and out and not out[-1].strip("> "):
                continue  # one blank line at most
            out.append(line)
        return "\n".join(out).strip("\n")


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML document or fragment."""
    converter = _Converter()
    try:
        converter.feed(html)
        converter.close()
    except (AssertionError, ValueError):  # the stdlib parser on pathological markup: keep what it got
        pass
    return converter.result()
