"""What the messenger connectors (Telegram, VK) do alike around their parsers: one platform payload becomes
an item or a logged reason, never an exception that stops the receive loop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from channels.base import PayloadError
from channels.payloads import Ignored

T = TypeVar("T")


def parsed_or_logged(parse: Callable[[], T], logger: logging.Logger, source: str, noun: str) -> T | None:
    """`parse()`'s item; ``None`` when it was skipped (:class:`Ignored`, logged at info) or refused
    (:class:`PayloadError`, a warning). `source` names the account in the log (``"vk NAME"``)."""
    try:
        return parse()
    except Ignored as exc:
        logger.info("%s: %s skipped: %s", source, noun, exc)
    except PayloadError as exc:
        logger.warning("%s: %s refused: %s", source, noun, exc)
    return None
