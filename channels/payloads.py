"""Reading raw payloads the same way in every channel: JSON from bytes with a one-line reason on failure, one
platform event at a time (a parser's crash costs that event only), and what a refusal looks like."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from channels.base import PayloadError

T = TypeVar("T")


class Ignored(PayloadError):
    """A well-formed payload this channel deliberately does not ingest; the message says why."""


def oneline(value: object, limit: int = 80) -> str:
    """`value` as one line of at most `limit` characters, for reasons that quote a payload."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def obj_field(value: Any, field: str) -> Mapping[str, Any]:
    """`value` as a JSON object, or a PayloadError naming `field` (missing, or not an object)."""
    if not isinstance(value, Mapping):
        raise PayloadError("expected an object" if value is not None else "missing", field)
    return value


def text_or_none(value: Any) -> str | None:
    """`value` if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def safe_filename(value: Any, default: str) -> str:
    """A platform's file name safe to store (no path separators, at most 255 characters), or `default`."""
    name = text_or_none(value)
    if not name:
        return default
    return name.replace("/", "_").replace("\\", "_").strip()[:255] or default


def one_item(parse: Callable[[], T], noun: str) -> T:
    """`parse()`'s item, its :class:`PayloadError` (or :class:`Ignored`), or a PayloadError naming the crash:
    a payload nobody foresaw must cost one `noun` (update, event), never the receive loop."""
    try:
        return parse()
    except PayloadError:
        raise
    except Exception as exc:
        raise PayloadError(f"unreadable {noun} ({exc.__class__.__name__}: {oneline(exc)})") from exc


def load_json(data: bytes) -> Any:
    """JSON from bytes (UTF-8, a BOM allowed); PayloadError with a one-line reason otherwise."""
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise PayloadError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise PayloadError("not valid JSON: nested too deeply") from None


def items_of_file(
    data: bytes,
    split: Callable[[Any], tuple[list[Any], str | None]],
    parse_one: Callable[[Any], T],
    noun: str,
    many: Callable[[Any, list[Any]], bool],
) -> Iterator[T | PayloadError]:
    """`okno ingest`'s common loop for JSON files of platform events.

    `split` finds the events in the file (or names why there are none to find), `parse_one` turns one
    event into an item, and each refusal is yielded (numbered, when the file holds several) instead of
    stopping the import.
    """
    try:
        payload = load_json(data)
    except PayloadError as exc:
        yield exc
        return
    entries, problem = split(payload)
    if problem:
        yield PayloadError(problem)
        return
    if not entries:
        yield PayloadError(f"the file holds no {noun}s")
        return
    numbered = many(payload, entries)
    for index, entry in enumerate(entries):
        try:
            yield parse_one(entry)
        except PayloadError as exc:
            refused = exc.__class__(f"{noun} {index}: {exc.reason}", exc.field) if numbered else exc
            yield refused.with_raw(json.dumps(entry, ensure_ascii=False).encode())
