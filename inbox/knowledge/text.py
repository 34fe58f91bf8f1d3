"""Text → search terms: words, Russian and English snowball stems, stop words, and a text's language.

A word is stemmed by the stemmer of its script (Cyrillic → Russian, Latin → English), so one index holds
both languages. «ё» is folded to «е» first: people type either.
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


def language_of(text: str, default: str = "ru") -> str:
    """ "ru" or "en", by which script has more letters; `default` when the text has neither."""
    lowered = text.lower()
    cyrillic = len(CYRILLIC.findall(lowered))
    latin = len(LATIN.findall(lowered))
    if cyrillic == latin == 0:
        return default
    return "ru" if cyrillic >= latin else "en"
