"""What the messenger connectors (Telegram, VK) do alike around their parsers: one platform payload becomes
an item or a logged reason (never an exception that stops the receive loop), and a hub whose sink does not
route edits and conversation marks is reported once."""

from __future__ import annotations

import logging
from collections.abc import Callable

from channels.base import PayloadError
from channels.payloads import Ignored
from inbox.conversation_marks import is_mark
from inbox.edits import is_edit
from inbox.ingest import IngestResult
from inbox.items import InboundMessage

log = logging.getLogger(__name__)


def parsed_or_logged(
    parse: Callable[[], InboundMessage], logger: logging.Logger, source: str, noun: str
) -> InboundMessage | None:
    """`parse()`'s item; ``None`` when it was skipped (:class:`Ignored`, logged at info) or refused
    (:class:`PayloadError`, a warning). `source` names the account in the log (``"vk NAME"``)."""
    try:
        return parse()
    except Ignored as exc:
        logger.info("%s: %s skipped: %s", source, noun, exc)
    except PayloadError as exc:
        logger.warning("%s: %s refused: %s", source, noun, exc)
    return None


def warn_if_unrouted(account: str, item: InboundMessage, result: object, warned: bool) -> bool:
    """Log once when the sink treated an edit or a block as a plain item (the hub does not route them).

    Returns whether the warning has been given, to be passed back as `warned` with the next item.
    """
    if warned or not isinstance(result, IngestResult) or not (is_edit(item) or is_mark(item)):
        return warned
    log.warning(
        "%s: this hub ingests edits and blocks as plain items, so edits are not applied and conversations"
        " not marked (its sink should route them to inbox.edits and inbox.conversation_marks)",
        account,
    )
    return True
