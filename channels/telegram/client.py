"""A small Telegram Bot API client of our own, over one aiohttp session it owns.

Not aiogram: importing it cost ~120 MB of RSS per hub process (several hundred pydantic types) and seconds
of a cold start, for the handful of methods used here. So this client speaks the documented HTTP API
directly: ``POST {api_base}/bot<token>/<method>`` with a JSON body (multipart/form-data for an upload),
answered ``{"ok": true, "result": …}`` or ``{"ok": false, "error_code", "description"[, "parameters":
{"retry_after", "migrate_to_chat_id"}]}``; a file is fetched from ``{api_base}/file/bot<token>/<file_path>``
(the path ``getFile`` gives; at most 20 MB for a bot, streamed and cut off past the limit). ``api_base``
points at another Bot API server (a local ``telegram-bot-api``, or the tests' fake). Results are read as
plain JSON: an update or a message is never validated as a whole, so a field from a newer Bot API breaks
nothing (updates are parsed one by one by :mod:`channels.telegram.parse`, which refuses only a bad one).

Every failure is a :class:`TelegramApiError` carrying the status (Telegram's ``error_code``; 0 when no
answer came: a network failure, a timeout, an answer that is not the Bot API's), the description, and
``retry_after`` / ``migrate_to_chat_id`` when Telegram gives them. The bot token is part of every URL, so
no text this module raises carries a URL or the token: aiohttp's errors are reworded (the token scrubbed)
and never chained. :func:`delivery_error` turns a failed send into a :class:`~inbox.items.DeliveryError`:
429 with Telegram's ``retry_after``; 403 (the user blocked the bot, deactivated their account, never
started it) permanent and marking the conversation; a group that became a supergroup permanent, with the
new chat id; 401 (token rejected) retried; no answer and 5xx retried; other 4xx permanent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

import aiohttp

from channels.base import ChannelAuthError
from inbox.items import DeliveryError

PRODUCTION_API = "https://api.telegram.org"
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
MAX_DOWNLOAD = 20 * 1024 * 1024  # the Bot API lets bots download files up to 20 MB
_CHUNK = 64 * 1024
NO_ANSWER = 0  # TelegramApiError.status when Telegram gave no (readable) answer


class TelegramApiError(Exception):
    """A Bot API call failed: Telegram answered ``ok: false`` (`status` is its ``error_code``), or gave no
    readable answer at all (`status` 0: unreachable, timed out, or not a Bot API answer)."""

    def __init__(
        self,
        status: int,
        description: str,
        retry_after: float | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        said = f"answered {status}" if status != NO_ANSWER else "unreachable"
        super().__init__(f"Telegram {said}: {description}")
        self.status = status
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    @property
    def transient(self) -> bool:
        """No answer, or the server's own failure (5xx): the same call may well work later."""
        return self.status == NO_ANSWER or self.status >= 500


class FileTooLarge(Exception):
    pass


@dataclass(frozen=True, slots=True)
class BotIdentity:
    id: int
    username: str | None


def delivery_error(exc: Exception) -> DeliveryError:
    """A failed send as the outbox understands it."""
    if isinstance(exc, TelegramApiError):
        text = exc.description
        if exc.retry_after is not None or exc.status == 429:  # without retry_after: the outbox's backoff
            return DeliveryError(f"Telegram rate limit: {text}", retry_after=exc.retry_after)
        if exc.migrate_to_chat_id is not None:
            return DeliveryError(
                f"the group became a supergroup (new chat id {exc.migrate_to_chat_id})", permanent=True
            )
        if exc.status == 403:
            return DeliveryError(f"Telegram refused: {text}", permanent=True, blocks_conversation=True)
        if exc.status == 401:
            return DeliveryError(f"Telegram rejected the bot token: {text}")
        if exc.transient:
            return DeliveryError(f"Telegram unreachable: {text}")
        if exc.status in (400, 404):
            return DeliveryError(f"Telegram refused the message: {text}", permanent=True)
        return DeliveryError(f"Telegram error {exc.status}: {text}", permanent=True)
    return DeliveryError(f"{exc.__class__.__name__}: {exc}")


def check_token(token: str) -> None:
    """:class:`ChannelAuthError` unless `token` looks like a bot token: ``<digits>:<secret>``, no spaces."""
    bot_id, colon, secret = token.partition(":")
    if not colon or not bot_id.isdigit() or not secret or any(c.isspace() for c in token):
        raise ChannelAuthError("the bot token is malformed (expected <digits>:<secret> from @BotFather)")


class TelegramClient:
    """One bot's calls. Owns one aiohttp session (opened on the first call), closed by :meth:`close`."""

    def __init__(self, token: str, api_base: str | None = None, *, timeout: float = 30.0) -> None:
        check_token(token)
        self._token = token
        base = (api_base or PRODUCTION_API).rstrip("/")
        self._api = f"{base}/bot{token}/"
        self._files = f"{base}/file/bot{token}/"
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _scrubbed(self, text: str) -> str:
        """`text` without the token (nor its secret half): aiohttp's errors may quote the URL."""
        return text.replace(self._token, "<token>").replace(self._token.partition(":")[2], "<token>")

    def _unreachable(self, exc: BaseException) -> TelegramApiError:
        detail = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
        return TelegramApiError(NO_ANSWER, self._scrubbed(detail)[:400])

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def call(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        upload: tuple[str, str, bytes] | None = None,
        wait: float = 0.0,
    ) -> Any:
        """One Bot API method; its ``result``, or :class:`TelegramApiError`. `params` go as JSON, or as
        form fields beside `upload` (field name, file name, bytes) in a multipart body; `wait` is added to
        the timeout (a long poll's own wait)."""
        body: dict[str, Any] = {k: v for k, v in (params or {}).items() if v is not None}
        request: dict[str, Any]
        if upload is None:
            request = {"json": body}
        else:
            form = aiohttp.FormData(quote_fields=False)
            for key, value in body.items():
                form.add_field(key, value if isinstance(value, str) else json.dumps(value))
            field, filename, data = upload
            filename = " ".join(filename.splitlines()) or "file"  # a line break would end the part's header
            form.add_field(field, data, filename=filename, content_type="application/octet-stream")
            request = {"data": form}
        timeout = aiohttp.ClientTimeout(total=self._timeout + wait)
        try:
            async with self._open().post(self._api + method, timeout=timeout, **request) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._unreachable(exc) from None
        try:
            answer = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
            raise TelegramApiError(NO_ANSWER, f"{method}: HTTP {status}, not a Bot API answer")
        if answer["ok"]:
            return answer.get("result")
        code = answer.get("error_code")
        parameters = answer.get("parameters")
        parameters = parameters if isinstance(parameters, dict) else {}
        retry_after = parameters.get("retry_after")
        migrate = parameters.get("migrate_to_chat_id")
        raise TelegramApiError(
            code if _is_int(code) and code > 0 else max(status, 400),
            self._scrubbed(str(answer.get("description") or "no description")),
            float(retry_after) if _is_int(retry_after) else None,
            migrate if _is_int(migrate) else None,
        )

    async def get_me(self) -> BotIdentity:
        """Who the token belongs to; :class:`ChannelAuthError` if Telegram refuses it."""
        try:
            me = await self.call("getMe")
        except TelegramApiError as exc:
            if exc.status in (401, 404):
                raise ChannelAuthError(f"Telegram refused the bot token: {exc.description}") from None
            raise
        if not isinstance(me, dict) or not _is_int(me.get("id")):
            raise TelegramApiError(NO_ANSWER, "getMe answered without the bot's id")
        username = me.get("username")
        return BotIdentity(me["id"], username if isinstance(username, str) else None)

    async def set_webhook(
        self, url: str, secret: str, allowed_updates: Sequence[str] = ALLOWED_UPDATES
    ) -> None:
        await self.call(
            "setWebhook", {"url": url, "secret_token": secret, "allowed_updates": list(allowed_updates)}
        )

    async def delete_webhook(self) -> None:
        await self.call("deleteWebhook", {"drop_pending_updates": False})

    async def get_updates(
        self, offset: int | None, wait_seconds: int, allowed_updates: Sequence[str] = ALLOWED_UPDATES
    ) -> list[Any]:
        """Raw updates (plain JSON) from ``offset`` on, waiting up to `wait_seconds` for one."""
        params = {"offset": offset, "timeout": wait_seconds, "allowed_updates": list(allowed_updates)}
        try:
            result = await self.call("getUpdates", params, wait=wait_seconds)
        except TelegramApiError as exc:
            if exc.status in (401, 404):
                raise ChannelAuthError(f"Telegram refused the bot token: {exc.description}") from None
            raise
        if not isinstance(result, list):
            raise TelegramApiError(NO_ANSWER, "getUpdates result is not a list")
        return result

    async def send_text(self, chat_id: int, text: str, reply_to: int | None = None) -> int:
        """Send one text message (at most 4096 characters); its message id."""
        params = {"chat_id": chat_id, "text": text, "reply_parameters": _reply(reply_to)}
        return await self._sent("sendMessage", params)

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
        method = "sendPhoto" if kind == "photo" else "sendDocument"
        params = {"chat_id": str(chat_id), "caption": caption, "reply_parameters": _reply(reply_to)}
        return await self._sent(method, params, upload=(kind, filename, data))

    async def _sent(
        self, method: str, params: Mapping[str, Any], upload: tuple[str, str, bytes] | None = None
    ) -> int:
        """The id of the message a send method made, or :class:`DeliveryError`."""
        try:
            message = await self.call(method, params, upload=upload)
        except TelegramApiError as exc:
            raise delivery_error(exc) from None
        message_id = message.get("message_id") if isinstance(message, dict) else None
        if not _is_int(message_id):
            raise DeliveryError(f"Telegram answered {method} without a message_id")
        return message_id

    async def answer_callback(self, callback_query_id: str) -> None:
        """Stop the spinner on the client's button."""
        await self.call("answerCallbackQuery", {"callback_query_id": callback_query_id})

    async def download(self, file_id: str, max_bytes: int = MAX_DOWNLOAD) -> bytes:
        """A file's bytes (getFile, then the file URL); :class:`FileTooLarge` above `max_bytes`."""
        file = await self.call("getFile", {"file_id": file_id})
        file = file if isinstance(file, dict) else {}
        size, path = file.get("file_size"), file.get("file_path")
        if _is_int(size) and size > max_bytes:
            raise FileTooLarge(f"{size} bytes")
        if not isinstance(path, str) or not path:
            raise FileTooLarge("Telegram gives no download path (larger than 20 MB)")
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with self._open().get(self._files + path, timeout=timeout) as response:
                if response.status != 200:
                    # Telegram's file server answers a plain status; 5xx are worth another try.
                    status = response.status if response.status >= 400 else NO_ANSWER
                    raise TelegramApiError(status, f"the file server answered HTTP {response.status}")
                if (response.content_length or 0) > max_bytes:
                    raise FileTooLarge(f"{response.content_length} bytes")
                chunks: list[bytes] = []
                received = 0
                async for chunk in response.content.iter_chunked(_CHUNK):
                    received += len(chunk)
                    if received > max_bytes:
                        raise FileTooLarge(f"more than {max_bytes} bytes")
                    chunks.append(chunk)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._unreachable(exc) from None
        return b"".join(chunks)

    async def close(self) -> None:
        # Shielded so that a cancelled stop still closes the session (no "Unclosed client session").
        session, self._session = self._session, None
        if session is not None:
            await asyncio.shield(session.close())


def _reply(message_id: int | None) -> dict[str, Any] | None:
    """``reply_parameters`` for a reply to `message_id` (sent even if that message is gone), or none."""
    return {"message_id": message_id, "allow_sending_without_reply": True} if message_id else None


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
