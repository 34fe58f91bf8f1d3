"""The hub's languages: the gettext catalogs (``hub/locale/<lang>/LC_MESSAGES/messages.po``) and choosing a
language from what a request or a visitor asks for.

The catalogs are the ``.po`` files a translator edits; they are read with Babel once per process (when the
app is built: tens of milliseconds for both) and turned into gettext translations in memory, so no compiled
``.mo`` file is generated, committed or forgotten at a release. Matching a language tag to ours is Babel's
(``en-GB`` → ``en``, ``uk`` → ``ru`` by the aliases given); only the ``q=`` ordering of an Accept-Language
header is done here, in a few lines, because Babel has no header parser and the ones that do (werkzeug)
would bring a web framework along.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES: Final = ("ru", "en")
DEFAULT: Final = "ru"
LOCALE_DIR: Final = Path(__file__).resolve().parent / "locale"
DOMAIN: Final = "messages"


def catalog_path(lang: str, directory: Path = LOCALE_DIR) -> Path:
    return directory / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translation(lang: str) -> Translations:
    """The gettext translations of `lang` (one of LANGUAGES), read from its ``.po`` file on first use."""
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}: use one of {', '.join(LANGUAGES)}")
    with catalog_path(lang).open("rb") as po:
        catalog = read_po(po, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries stay out, as msgfmt leaves them out
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def ranked(accept_language: str | None) -> list[str]:
    """The tags of an Accept-Language header, most wanted first (q=0 and malformed q left out)."""
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            wanted.append((-quality, position, tag.replace("-", "_")))
    return [tag for _, _, tag in sorted(wanted)]


def negotiate(
    accept_language: str | None,
    *,
    choices: Sequence[str | None] = (),
    default: str = DEFAULT,
    aliases: Mapping[str, str] | None = None,
) -> str:
    """The first of `choices` that is one of ours, else the best match of the header, else `default`."""
    for wanted in choices:
        if wanted in LANGUAGES:
            return wanted
    # Each tag followed by its language alone (RFC 4647 lookup), so an alias of "uk" serves "uk-UA" too.
    tags = [form for tag in ranked(accept_language) for form in dict.fromkeys((tag, tag.split("_")[0]))]
    found = negotiate_locale(tags, LANGUAGES, sep="_", aliases=dict(aliases or {}))
    return found if found in LANGUAGES else default


@dataclass(frozen=True, slots=True)
class Msg:
    """A message marked for translation where it is defined, translated where it is shown."""

    text: str
    context: str | None = None


def N_(text: str) -> Msg:
    """Mark `text` for ``pybabel extract`` (the gettext convention's name)."""
    return Msg(text)


def NP_(context: str, text: str) -> Msg:
    """Mark `text`, to be read in `context` (``pgettext``): the same English may need two translations."""
    return Msg(text, context)


class Texts:
    """The strings of one language for Python code: messages, plurals and the labels of codes."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT
        self.translations: Translations = translation(self.lang)

    def gettext(self, message: str, /, **values: object) -> str:
        """`message` translated, with ``%(name)s`` placeholders filled from `values` (if any)."""
        found = self.translations.gettext(message)
        return found % values if values else found

    def ngettext(self, singular: str, plural: str, num: int, **values: object) -> str:
        """``ngettext`` with ``%(num)d`` filled in: 1 диалог, 2 диалога, 5 диалогов."""
        return str(self.translations.ngettext(singular, plural, num)) % {"num": num, **values}

    def msg(self, message: Msg) -> str:
        if message.context is None:
            return self.translations.gettext(message.text)
        return str(self.translations.pgettext(message.context, message.text))

    def label(self, table: Mapping[Any, Msg], code: str | None) -> str:
        """The label of `code` in `table`; a code without one is shown as it is (never dropped)."""
        message = table.get(code)
        return self.msg(message) if isinstance(message, Msg) else code or ""
