"""What the messenger connectors (Telegram, VK) do alike around their parsers: one platform payload becomes
an item, a logged skip, or a :class:`Refused` item for the quarantine — never an exception that stops the
receive loop, and never a payload that exists only as a log line."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from channels.base import PayloadError, Refused
from channels.payloads import Ignored

T = TypeVar("T")


def raw_json(payload: Any) -> bytes:
    """A decoded platform payload as the bytes the quarantine keeps (today's `parse_file` reads them back)."""
    return json.dumps(payload, ensure_ascii=False, default=str).encode()


def parsed_or_refused(
    parse: Callable[[], T],
    payload: Any,
    *,
    account_id: int,
    position: str | None,
    logger: logging.Logger,
    source: str,
    noun: str,
) -> T | Refused | None:
    """`parse()`'s item; ``None`` when it was skipped on purpose (:class:`Ignored`, logged at info); a
    :class:`Refused` item carrying `payload` when it was refused (:class:`PayloadError`), for the sink to
    quarantine. `source` names the account in the log (``"vk NAME"``)."""
    try:
        return parse()
    except Ignored as exc:
        logger.info("%s: %s skipped: %s", source, noun, exc)
        return None
    except PayloadError as exc:
        logger.warning("%s: %s refused: %s", source, noun, exc)
        return Refused(account_id, raw_json(payload), str(exc), position)


def position_of(payload: Any, key: str, label: str) -> str | None:
    """`"label VALUE"` for a payload's own id (a Telegram update_id, a VK event_id), if it has one."""
    value = payload.get(key) if isinstance(payload, dict) else None
    return f"{label} {value}" if isinstance(value, int | str) and not isinstance(value, bool) else None
