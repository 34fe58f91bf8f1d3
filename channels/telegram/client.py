"""The Telegram Bot API client: aiogram's ``Bot`` over one aiohttp session, plus a raw ``getUpdates``.

aiogram is imported lazily, inside :class:`TelegramClient` (``import aiogram`` costs seconds), so importing
this package for `okno ingest telegram` or for parsing stays cheap; the connector first awaits
:func:`import_aiogram`, which does that import in a thread so the event loop keeps serving meanwhile.
``api_base`` points aiogram at another Bot API server (a local one, or the tests' fake) through
``TelegramAPIServer.from_base``.

Why ``getUpdates`` is raw: aiogram validates a whole ``getUpdates`` answer into its types; one update it
cannot read (a field from a newer Bot API, an odd payload) would fail the whole batch, and the offset could
never move past it. So updates are read as plain JSON through aiogram's own aiohttp session and parsed one by
one by :mod:`channels.telegram.parse`, which refuses only the bad one. Everything else goes through aiogram.

Send failures become :class:`~inbox.items.DeliveryError`: 429 with Telegram's ``retry_after``; 403 (the user
blocked the bot, deactivated their account, never started it) permanent and marking the conversation; other
4xx permanent; network trouble and 5xx retried.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import aiohttp

from channels.base import ChannelAuthError
from inbox.items import DeliveryError

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession

ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
MAX_DOWNLOAD = 20 * 1024 * 1024  # the Bot API lets bots download files up to 20 MB


_aiogram_imported = False


async def import_aiogram() -> None:
    """Import aiogram in a worker thread: ``import aiogram`` takes seconds on a cold start, and done on the
    event loop the first time a Telegram connector starts it would stall every other connection meanwhile.
    Awaited before the first use (connector start, sending); once imported this is a dictionary lookup, and
    a later ``from aiogram import …`` on the loop finds the module ready instead of importing it there."""
    global _aiogram_imported
    if not _aiogram_imported:
        await asyncio.to_thread(importlib.import_module, "aiogram")
        _aiogram_imported = True


class TelegramApiError(Exception):
    """The Bot API answered ``ok: false`` (or not at all) to a call made outside aiogram."""

    def __init__(self, status: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(f"Telegram answered {status}: {description}")
        self.status = status
        self.description = description
        self.retry_after = retry_after


class FileTooLarge(Exception):
    pass


@dataclass(frozen=True, slots=True)
class BotIdentity:
    id: int
    username: str | None


def delivery_error(exc: Exception) -> DeliveryError:
    """A failed send as the outbox understands it."""
    from aiogram.exceptions import (
        RestartingTelegram,
        TelegramAPIError,
        TelegramBadRequest,
        TelegramForbiddenError,
        TelegramMigrateToChat,
        TelegramNetworkError,
        TelegramNotFound,
        TelegramRetryAfter,
        TelegramServerError,
        TelegramUnauthorizedError,
    )

    if isinstance(exc, TelegramRetryAfter):
        return DeliveryError(f"Telegram rate limit: {exc.message}", retry_after=float(exc.retry_after))
    if isinstance(exc, TelegramForbiddenError):
        return DeliveryError(f"Telegram refused: {exc.message}", permanent=True, blocks_conversation=True)
    if isinstance(exc, TelegramMigrateToChat):
        return DeliveryError(
            f"the group became a supergroup (new chat id {exc.migrate_to_chat_id})", permanent=True
        )
    if isinstance(exc, TelegramUnauthorizedError):
        return DeliveryError(f"Telegram rejected the bot token: {exc.message}")
    if isinstance(exc, TelegramNetworkError | TelegramServerError | RestartingTelegram):
        return DeliveryError(f"Telegram unreachable: {exc.message}")
    if isinstance(exc, TelegramBadRequest | TelegramNotFound):
        return DeliveryError(f"Telegram refused the message: {exc.message}", permanent=True)
    if isinstance(exc, TelegramAPIError):
        return DeliveryError(f"Telegram error: {exc.message}", permanent=True)
    if isinstance(exc, aiohttp.ClientError | TimeoutError):
        return DeliveryError(f"Telegram unreachable: {exc.__class__.__name__}: {exc}")
    return DeliveryError(f"{exc.__class__.__name__}: {exc}")


class TelegramClient:
    """One bot's calls. Owns one aiohttp session (aiogram's), closed by :meth:`close`."""

    def __init__(self, token: str, api_base: str | None = None, *, timeout: float = 30.0) -> None:
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
        from aiogram.utils.token import TokenValidationError

        server = TelegramAPIServer.from_base(api_base.rstrip("/")) if api_base else PRODUCTION
        self._session: AiohttpSession = AiohttpSession(api=server, timeout=timeout)
        try:
            self.bot: Bot = Bot(token, session=self._session)
        except TokenValidationError:
            raise ChannelAuthError(
                "the bot token is malformed (expected <digits>:<secret> from @BotFather)"
            ) from None
        self._token = token
        self._timeout = timeout

    async def get_me(self) -> BotIdentity:
        """Who the token belongs to; :class:`ChannelAuthError` if Telegram refuses it."""
        from aiogram.exceptions import TelegramNotFound, TelegramUnauthorizedError

        try:
            me = await self.bot.get_me()
        except (TelegramUnauthorizedError, TelegramNotFound) as exc:
            raise ChannelAuthError(f"Telegram refused the bot token: {exc.message}") from None
        return BotIdentity(me.id, me.username)

    async def set_webhook(
        self, url: str, secret: str, allowed_updates: Sequence[str] = ALLOWED_UPDATES
    ) -> None:
        await self.bot.set_webhook(url=url, secret_token=secret, allowed_updates=list(allowed_updates))

    async def delete_webhook(self) -> None:
        await self.bot.delete_webhook(drop_pending_updates=False)

    async def get_updates(
        self, offset: int | None, wait_seconds: int, allowed_updates: Sequence[str] = ALLOWED_UPDATES
    ) -> list[Any]:
        """Raw updates (plain JSON) from ``offset`` on, waiting up to `wait_seconds` for one."""
        session = await self._session.create_session()
        url = self._session.api.api_url(token=self._token, method="getUpdates")
        body: dict[str, Any] = {"timeout": wait_seconds, "allowed_updates": list(allowed_updates)}
        if offset is not None:
            body["offset"] = offset
        wait = aiohttp.ClientTimeout(total=wait_seconds + self._timeout)
        async with session.post(url, json=body, timeout=wait) as response:
            raw = await response.text()
            status = response.status
        try:
            answer = json.loads(raw)
        except json.JSONDecodeError:
            raise TelegramApiError(status, f"not JSON: {raw[:200]!r}") from None
        if not isinstance(answer, dict):
            raise TelegramApiError(status, "the answer is not a JSON object")
        if answer.get("ok") is True:
            result = answer.get("result")
            if not isinstance(result, list):
                raise TelegramApiError(status, "getUpdates result is not a list")
            return result
        description = str(answer.get("description") or "no description")
        parameters = answer.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        code = answer.get("error_code")
        code = code if isinstance(code, int) else status
        if code in (401, 404):
            raise ChannelAuthError(f"Telegram refused the bot token: {description}")
        raise TelegramApiError(
            code, description, float(retry_after) if isinstance(retry_after, int) else None
        )

    async def send_text(self, chat_id: int, text: str, reply_to: int | None = None) -> int:
        """Send one text message (at most 4096 characters); its message id."""
        from aiogram.types import ReplyParameters

        reply = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None
        try:
            message = await self.bot.send_message(chat_id=chat_id, text=text, reply_parameters=reply)
        except Exception as exc:
            raise delivery_error(exc) from exc
        return message.message_id

    async def send_photo(
        self,
        chat_id: int,
        data: bytes,
        filename: str,
        caption: str | None = None,
        reply_to: int | None = None,
    ) -> int:
        return await self._send_file("photo", chat_id, data, filename, caption, reply_to)

    async def send_document(
        self,
        chat_id: int,
        data: bytes,
        filename: str,
        caption: str | None = None,
        reply_to: int | None = None,
    ) -> int:
        return await self._send_file("document", chat_id, data, filename, caption, reply_to)

    async def _send_file(
        self,
        kind: Literal["photo", "document"],
        chat_id: int,
        data: bytes,
        filename: str,
        caption: str | None,
        reply_to: int | None,
    ) -> int:
        """sendPhoto or sendDocument: the same upload, answered the same way."""
        from aiogram.types import BufferedInputFile, ReplyParameters

        reply = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None
        upload = BufferedInputFile(data, filename)
        try:
            if kind == "photo":
                message = await self.bot.send_photo(
                    chat_id=chat_id, photo=upload, caption=caption, reply_parameters=reply
                )
            else:
                message = await self.bot.send_document(
                    chat_id=chat_id, document=upload, caption=caption, reply_parameters=reply
                )
        except Exception as exc:
            raise delivery_error(exc) from exc
        return message.message_id

    async def answer_callback(self, callback_query_id: str) -> None:
        """Stop the spinner on the client's button."""
        await self.bot.answer_callback_query(callback_query_id)

    async def download(self, file_id: str, max_bytes: int = MAX_DOWNLOAD) -> bytes:
        """A file's bytes (getFile, then the file URL); :class:`FileTooLarge` above `max_bytes`."""
        file = await self.bot.get_file(file_id)
        if file.file_size is not None and file.file_size > max_bytes:
            raise FileTooLarge(f"{file.file_size} bytes")
        if not file.file_path:
            raise FileTooLarge("Telegram gives no download path (larger than 20 MB)")
        buffer = io.BytesIO()
        await self.bot.download_file(file.file_path, destination=buffer, timeout=int(self._timeout))
        data = buffer.getvalue()
        if len(data) > max_bytes:
            raise FileTooLarge(f"{len(data)} bytes")
        return data

    async def close(self) -> None:
        # aiogram's close waits 250 ms for TLS connections to wind down; shielded so a cancelled stop
        # still closes the session (no "Unclosed client session").
        await asyncio.shield(self._session.close())
