"""Text → search terms: words, Russian and English snowball stems, stop words, and a text's language.

A word is stemmed by the stemmer of its script (Cyrillic → Russian, Latin → English), so one index holds
both languages. «ё» is folded to «е» first: people type either.

What a client wrote is cleaned before it is matched (:func:`client_text`): a mail's quoted history and
signature are cut off, and Russian typed in Latin letters («zakaz ne prishel») is turned back into
Cyrillic. The language of a text (:func:`language_of`) is Russian for such transliteration too: it is
decided by the script of the letters, and for Latin words by whether they read as common Russian or
English words.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

import snowballstemmer

WORD = re.compile(r"[^\W_]+", re.UNICODE)
CYRILLIC = re.compile(r"[а-яё]")
LATIN = re.compile(r"[a-z]")
# Jinja markup in a template body is not text a client would type.
MARKUP = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)

# Words too common to tell one template from another. Question words (где, когда, how, where) are kept:
# "где заказ" and "когда привезут" are what the client is asking.
_STOP_WORDS = """
    и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее мне было вот от
    меня еще нет о из ему теперь даже ну вдруг ли если уже или ни быть был него до вас нибудь опять уж вам
    ведь там потом себя ничего ей может они тут есть ней для мы тебя их чем была сам чтоб без будто чего
    раз тоже
    себе под будет ж тогда кто этот того потому этого какой совсем ним здесь этом один почти мой тем чтобы нее
    сейчас были всех при об хоть после над тот через эти нас про всего них какая разве эту моя
    впрочем свою этой перед иногда том такой им более всегда всю между это мой мою мои моего вот
    пожалуйста здравствуйте добрый день вечер утро привет
    the a an and or of to in on at for is are was were be been it its this that these those i me my we our you
    your he she they them his her do does did have has had will would can could should may might there here
    with as by from so if but not no please hi hello dear am just
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
# Greetings are stop words for matching a request, but they are the whole of a message that only greets:
# such a message is matched on them after all (see `terms(keep_all=True)`).


_local = threading.local()


def _stemmer(language: str) -> Any:  # snowballstemmer ships no type hints
    """This thread's stemmer: one keeps the word it works on, so threads (index builds) never share one."""
    stemmers: dict[str, Any] = _local.__dict__.setdefault("stemmers", {})
    if language not in stemmers:
        stemmers[language] = snowballstemmer.stemmer(language)
    return stemmers[language]


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The snowball stem of one lower-case word, by its script; digits and mixed words stay as they are."""
    if CYRILLIC.search(word):
        return str(_stemmer("russian").stemWord(word))
    if LATIN.search(word) and word.isascii():
        return str(_stemmer("english").stemWord(word))
    return word


def words(text: str) -> list[str]:
    """The lower-case words of a text, «ё» folded to «е»."""
    return WORD.findall(text.lower().replace("ё", "е"))


def terms(text: str, *, keep_all: bool = False) -> list[tuple[str, str]]:
    """(word, stem) pairs of the words that carry meaning; all of them when nothing else would be left."""
    found = words(text)
    kept = [w for w in found if w not in STOP_WORDS]
    if not kept and keep_all:
        kept = found
    return [(w, stem(w)) for w in kept]


def strip_markup(body: str) -> str:
    return MARKUP.sub(" ", body)


# Common English words that are not stop words, for telling English from Russian in Latin letters
# (a transliterated «но», «то», «он» is an English stop word: English wins those).
_ENGLISH = """
    order orders delivery refund return payment pay card thanks thank want need help where when what why how
    who which still yet not get got send sent please item items account password cancel change address
"""
_ENGLISH_HINTS = frozenset(_ENGLISH.split())
# Common Russian words beyond the stop words, as clients write them (in Cyrillic; compared after
# transliteration back from Latin letters).
_RUSSIAN = """
    заказ заказа заказал заказала хочу можно нужно надо где когда почему сколько спасибо пожалуйста
    привет здравствуйте товар деньги оплата оплатить вернуть возврат доставка пришел пришла пришло
    скажите подскажите помогите пароль отмените отменить размер почему вообще очень
"""
_RUSSIAN_HINTS = frozenset(_RUSSIAN.split())

# Latin → Cyrillic, longest spellings first; the common schemes people improvise (GOST-like, "translit").
_TRANSLIT = [
    ("shch", "щ"),
    ("sch", "щ"),
    ("zh", "ж"),
    ("kh", "х"),
    ("ch", "ч"),
    ("sh", "ш"),
    ("ts", "ц"),
    ("yu", "ю"),
    ("ju", "ю"),
    ("iu", "ю"),
    ("ya", "я"),
    ("ja", "я"),
    ("ia", "я"),
    ("yo", "е"),
    ("jo", "е"),
    ("ye", "е"),
    ("je", "е"),
    ("a", "а"),
    ("b", "б"),
    ("c", "к"),
    ("d", "д"),
    ("e", "е"),
    ("f", "ф"),
    ("g", "г"),
    ("h", "х"),
    ("i", "и"),
    ("j", "й"),
    ("k", "к"),
    ("l", "л"),
    ("m", "м"),
    ("n", "н"),
    ("o", "о"),
    ("p", "п"),
    ("q", "к"),
    ("r", "р"),
    ("s", "с"),
    ("t", "т"),
    ("u", "у"),
    ("v", "в"),
    ("w", "в"),
    ("x", "кс"),
    ("z", "з"),
    ("'", "ь"),
]
_TRANSLIT_RE = re.compile("|".join(re.escape(latin) for latin, _ in _TRANSLIT) + "|y")
_TRANSLIT_MAP = dict(_TRANSLIT)
_VOWELS = set("аеиоуыэюяё")


def transliterate(word: str) -> str:
    """A Latin-letter spelling of a Russian word back in Cyrillic («prishel» → «пришел», «moy» → «мой»)."""
    out: list[str] = []
    for match in _TRANSLIT_RE.finditer(word.lower()):
        part = match.group()
        if part == "y":  # «й» after a vowel («moy», «pozhaluysta»), else «ы» («vy», «tovary»)
            out.append("й" if out and out[-1] in _VOWELS else "ы")
        else:
            out.append(_TRANSLIT_MAP[part])
    return "".join(out)


def _latin_reads_russian(latin_words: list[str]) -> bool:
    """Whether words in Latin letters are Russian written in Latin (more Russian cues than English)."""
    russian = english = 0
    for word in latin_words:
        if word in STOP_WORDS or word in _ENGLISH_HINTS:
            english += 1
            continue
        cyrillic = transliterate(word)
        if cyrillic in STOP_WORDS or cyrillic in _RUSSIAN_HINTS:
            russian += 1
    return russian > english


def language_of(text: str, default: str = "ru") -> str:
    """ "ru" or "en": by which script has more letters, Russian in Latin letters counting as Russian;
    `default` when the text has no letters."""
    lowered = text.lower().replace("ё", "е")
    cyrillic = len(CYRILLIC.findall(lowered))
    latin = len(LATIN.findall(lowered))
    if cyrillic == latin == 0:
        return default
    if cyrillic >= latin:
        return "ru"
    latin_words = [w for w in words(lowered) if w.isascii() and LATIN.search(w)]
    return "ru" if _latin_reads_russian(latin_words) else "en"


def letters_by_language(text: str) -> tuple[int, int]:
    """(Russian, English) letters of `text`: Cyrillic letters are Russian, Latin ones Russian too where
    they are Russian in Latin letters, else English."""
    lowered = text.lower()
    cyrillic = len(CYRILLIC.findall(lowered))
    latin = len(LATIN.findall(lowered))
    if latin and cyrillic < latin:
        latin_words = [w for w in words(lowered) if w.isascii() and LATIN.search(w)]
        if _latin_reads_russian(latin_words):
            return cyrillic + latin, 0
    return cyrillic, latin


# A quoted earlier message starts at a header line («On Mon, … wrote:», «15 мая 2024 г., в 10:12, …
# написал(а):», Outlook's «-----Original Message-----» / «From: …») or at a line quoted with ">".
_QUOTE_HEADER = re.compile(
    r"^\s*(?:>|(?:on\b.*\bwrote:?|.*\b(?:написал|написала|пишет)(?:\(а\))?:|-{2,}\s*(?:original message|"
    r"исходное сообщение|пересылаемое сообщение|forwarded message)\s*-{2,}|(?:from|от):\s.*@.*))\s*$",
    re.IGNORECASE,
)
# A signature starts at "-- ", "Sent from my …" and the like, or at a valediction alone on its line
# («С уважением,», "Thanks,") followed by no more than a signature's few lines.
_SIGNATURE = re.compile(
    r"^\s*(?:--\s*|_{3,}|sent from .*|отправлено с .*|get outlook for .*)\s*$",
    re.IGNORECASE,
)
_VALEDICTION = re.compile(
    r"^\s*(?:с уважением|с наилучшими пожеланиями|всего доброго|best regards|kind regards|regards|best|"
    r"sincerely|yours|cheers|thanks|thank you|many thanks|спасибо|заранее спасибо|благодарю)\s*[,.!]?\s*$",
    re.IGNORECASE,
)
SIGNATURE_LINES = 4  # a valediction followed by more non-empty lines than this is not a sign-off


def strip_mail(text: str) -> str:
    """The text a client wrote in a mail: without the quoted history and the signature.

    The first line is never cut (a message "Thanks," is the message), and a cut that would leave
    nothing keeps the whole text. A valediction ends the text only when at most
    :data:`SIGNATURE_LINES` non-empty lines follow it before the quoted mail or the end.
    """
    lines = text.splitlines()
    boundary = [bool(_QUOTE_HEADER.match(line) or _SIGNATURE.match(line)) for line in lines]
    # after[i]: non-empty lines after line i up to the next boundary (one pass from the end, not one per line)
    after = [0] * len(lines)
    following = 0
    for number in range(len(lines) - 1, -1, -1):
        after[number] = following
        following = 0 if boundary[number] else following + bool(lines[number].strip())
    kept: list[str] = []
    for number, line in enumerate(lines):
        if number > 0 and (
            boundary[number] or (after[number] <= SIGNATURE_LINES and _VALEDICTION.match(line))
        ):
            break
        kept.append(line)
    cut = "\n".join(kept).strip()
    return cut if WORD.search(cut) else text


def untransliterate(text: str) -> str:
    """`text` with its Latin words in Cyrillic when they read as Russian; otherwise unchanged."""
    latin_words = [w for w in words(text) if w.isascii() and LATIN.search(w)]
    if not latin_words or not _latin_reads_russian(latin_words):
        return text

    def cyrillic(match: re.Match[str]) -> str:
        word = match.group()
        return transliterate(word) if word.isascii() and LATIN.search(word.lower()) else word

    return WORD.sub(cyrillic, text)


def client_text(text: str) -> str:
    """What a client wrote, ready to match: the mail's own text, Russian in Latin letters in Cyrillic."""
    return untransliterate(strip_mail(text))
