"""What the messenger connectors (Telegram, VK) do alike around their parsers: one platform payload becomes
an item, a logged skip, or a :class:`Refused` item for the quarantine — never an exception that stops the
receive loop, and never a payload that exists only as a log line; and a pulled batch of payloads handed to
the inbox in order within each chat, all chats at once (:func:`in_chat_order`)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
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


async def in_chat_order(
    payloads: Sequence[T], chat_of: Callable[[T], Hashable], handle: Callable[[T], Awaitable[None]]
) -> None:
    """Handle a pulled batch (a getUpdates answer, a long-poll answer): one chat's payloads one after the
    other, in the order they came, and the chats side by side.

    Each handle waits for its item's commit; one at a time, a busy bot was held to one commit per update (a
    few dozen a second). Side by side, the chats' items meet in the inbox's group commit. Payloads whose chat
    is unknown (`chat_of` gives None) share one lane. If a lane fails, the others are cancelled and the
    error is raised: the caller does not move its cursor, and the batch comes again (ingest is idempotent).
    """
    lanes: dict[Hashable, list[T]] = {}
    for payload in payloads:
        lanes.setdefault(chat_of(payload), []).append(payload)

    async def lane(queued: list[T]) -> None:
        for payload in queued:
            await handle(payload)

    if len(lanes) <= 1:
        for queued in lanes.values():
            await lane(queued)
        return
    tasks = [asyncio.create_task(lane(queued)) for queued in lanes.values()]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()  # after a failure: the other lanes stop (finished ones ignore it)
        await asyncio.gather(*tasks, return_exceptions=True)
