"""The Telegram connector: one bot account, receiving by long polling or by webhook, sending replies.

Configuration (an account in ``[accounts.NAME]`` with ``kind = "telegram"``):

* ``token`` (secret, or ``token_env``): the bot token from @BotFather.
* ``mode``: ``"polling"`` (default) or ``"webhook"``.
* ``secret`` (secret): the webhook's secret token, required in webhook mode (1-256 of ``A-Z a-z 0-9 _ -``);
  Telegram sends it in ``X-Telegram-Bot-Api-Secret-Token`` and a request without it is answered 401 before
  its body is read.
* ``webhook_url``: the public URL of this account's hook (``https://hub.example/hooks/NAME``); when set, the
  connector registers it with ``setWebhook`` on start. It must not contain the bot token.
* ``allow_groups`` (false): take messages from groups and supergroups too.
* ``download_files`` (true), ``max_download_bytes`` (20 MB, Telegram's limit for bots): inbound files are
  fetched with ``getFile`` and stored with the message; larger ones are listed as refused.
* ``api_base``: another Bot API server (a local ``telegram-bot-api``, or a test fake).
* ``poll_timeout`` (25): seconds one ``getUpdates`` waits for news.

Receiving: a batch's updates go to the sink in order within each chat, the chats side by side (so they meet in
the inbox's group commit); the update offset is kept in the account's cursor and saved only after every update
of a batch was handed to the sink (which returns after the commit), so a restart resumes without losing or
repeating anything — a batch cut short by a crash is fetched again and its items are duplicates the ingest
path recognizes. In webhook mode the hub routes ``POST /hooks/{account}`` here; the answer (200) goes out only
after the sink returned, so Telegram delivers again whatever was not committed. The handler compares the
``X-Telegram-Bot-Api-Secret-Token`` header in constant time before the body is even read, parses the raw JSON
with the same parser as polling and ``okno ingest`` (one update it cannot read is quarantined, not refused and
redelivered forever), and answers after the commit.

Edits and blocks are handed to the sink as items marked by :mod:`inbox.edits` and
:mod:`inbox.conversation_marks`; a hub whose sink does not route them yet stores blocks as plain events and
drops edits as duplicates, which is logged once.

Sending: text is cut into parts of at most 4096 UTF-16 code units, the first part replying to the message
the client wrote last (``in_reply_to`` = ``"<chat id>:<message id>"``). Parts already sent are remembered per
idempotency key, so a retry after a failure mid-way sends only the rest (within this process). The reply's
external id is that of its first part. A reply's files follow its text, each as a photo or a document.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

from aiohttp import web

from channels.base import (
    AccountContext,
    Capabilities,
    ChannelAuthError,
    ConnectionCheck,
    PayloadError,
    Sink,
    register,
    with_message,
)
from channels.messenger import in_chat_order, parsed_or_refused, position_of, raw_json
from channels.options import check_known, flag, number
from channels.payloads import load_json
from channels.telegram.client import (
    MAX_DOWNLOAD,
    BotIdentity,
    FileTooLarge,
    TelegramApiError,
    TelegramClient,
    delivery_error,
)
from channels.telegram.parse import parse_update
from channels.text import split_text, utf16_len
from inbox.ingest import IngestError
from inbox.items import Delivery, DeliveryError, InboundAttachment, InboundMessage, OutboundMessage, Refused

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TEXT_LIMIT = 4096
# Sent with sendPhoto (shown inline); anything else goes as a document.
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
MAX_PHOTO_UPLOAD = 10 * 2**20  # sendPhoto's limit; sendDocument takes up to 50 MB

OPTIONS = frozenset(
    {
        "mode",
        "api_base",
        "allow_groups",
        "webhook_url",
        "download_files",
        "max_download_bytes",
        "poll_timeout",
    }
)
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
MAX_POLL_FAILURES = 5
DOWNLOAD_ATTEMPTS = 3


class TelegramConfigError(ChannelAuthError):
    """The account's configuration cannot work; like refused credentials, retrying soon will not help."""


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    token: str
    mode: Literal["polling", "webhook"] = "polling"
    secret: str | None = None
    webhook_url: str | None = None
    allow_groups: bool = False
    download_files: bool = True
    max_download_bytes: int = MAX_DOWNLOAD
    api_base: str | None = None
    poll_timeout: int = 25


def _flag(options: Mapping[str, Any], name: str, default: bool) -> bool:
    return flag(options, name, default, TelegramConfigError)


def _number(options: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    return number(options, name, default, low, high, TelegramConfigError)


def read_settings(account: AccountContext) -> TelegramSettings:
    """The account's settings, or :class:`TelegramConfigError` naming what is wrong."""
    options = account.options
    check_known(options, OPTIONS, TelegramConfigError)
    token = account.secrets.get("token") or account.secrets.get("bot_token")
    if not token:
        raise TelegramConfigError("no bot token: set token (or token_env) for this account")
    mode = options.get("mode", "polling")
    if mode not in ("polling", "webhook"):
        raise TelegramConfigError("option mode must be 'polling' or 'webhook'")
    secret = account.secrets.get("secret")
    if mode == "webhook" and not secret:
        raise TelegramConfigError("webhook mode needs a secret (the X-Telegram-Bot-Api-Secret-Token value)")
    if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
        raise TelegramConfigError("secret must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
    webhook_url = options.get("webhook_url")
    if webhook_url is not None:
        if not isinstance(webhook_url, str) or not webhook_url.startswith(("https://", "http://")):
            raise TelegramConfigError("webhook_url must be an http(s) URL")
        if token in webhook_url or token.split(":")[-1] in webhook_url:
            raise TelegramConfigError(
                "webhook_url must not contain the bot token (use /hooks/<account name>)"
            )
    api_base = options.get("api_base")
    if api_base is not None and not isinstance(api_base, str):
        raise TelegramConfigError("option api_base must be a URL")
    return TelegramSettings(
        token=token,
        mode=mode,
        secret=secret,
        webhook_url=webhook_url,
        allow_groups=_flag(options, "allow_groups", False),
        download_files=_flag(options, "download_files", True),
        max_download_bytes=_number(options, "max_download_bytes", MAX_DOWNLOAD, 0, MAX_DOWNLOAD),
        api_base=api_base,
        poll_timeout=_number(options, "poll_timeout", 25, 0, 50),
    )


def _update_chat(update: Any) -> int | None:
    """The chat an update belongs to (its updates are stored in the order Telegram sent them), if it says."""
    if not isinstance(update, Mapping):
        return None
    for key, value in update.items():
        if key == "update_id" or not isinstance(value, Mapping):
            continue
        inner = value.get("message") if key == "callback_query" else value
        chat = inner.get("chat") if isinstance(inner, Mapping) else None
        chat_id = chat.get("id") if isinstance(chat, Mapping) else None
        if isinstance(chat_id, int) and not isinstance(chat_id, bool):
            return chat_id
        sender = value.get("from")
        sender_id = sender.get("id") if isinstance(sender, Mapping) else None
        if isinstance(sender_id, int) and not isinstance(sender_id, bool):
            return sender_id
    return None


def chat_for(out: OutboundMessage) -> int | None:
    """Where a reply goes: the chat of the client's last message, else their Telegram user id."""
    telegram = out.meta.get("telegram")
    if isinstance(telegram, Mapping):
        chat_id = telegram.get("chat_id")
        if isinstance(chat_id, int) and not isinstance(chat_id, bool):
            return chat_id
    for ref in out.recipients:
        if ref.kind == "telegram" and ref.value.lstrip("-").isdigit():
            return int(ref.value)
    return None


def reply_target(in_reply_to: str | None, chat_id: int) -> int | None:
    """The message id to reply to, if `in_reply_to` is ``"<chat id>:<message id>"`` of this chat."""
    if not in_reply_to:
        return None
    chat, _, message = in_reply_to.rpartition(":")
    if chat == str(chat_id) and message.isdigit():
        return int(message)
    return None


@register("telegram")
class TelegramConnector:
    kind: ClassVar[str] = "telegram"
    # The Bot API takes uploads of up to 50 MB (photos up to 10 MB: a larger image goes as a document).
    capabilities: ClassVar[Capabilities] = Capabilities(attachments=True, max_attachment_bytes=50 * 2**20)

    def __init__(self, account: AccountContext) -> None:
        self.account = account
        self.settings: TelegramSettings | None = None
        self._problem: TelegramConfigError | None = None
        try:
            self.settings = read_settings(account)
        except TelegramConfigError as exc:  # raised from run(): a constructor must not fail the supervisor
            self._problem = exc
        self._client: TelegramClient | None = None
        self._closed = False
        self._sink: Sink | None = None
        self.ready = asyncio.Event()
        self.bot: BotIdentity | None = None
        self._partial: dict[str, list[int]] = {}

    # -- lifecycle ---------------------------------------------------------------------------------------

    @property
    def single_holder(self) -> bool:
        """Polling pulls getUpdates (one process may: Telegram refuses a second poller); a webhook is
        pushed to whichever process the load balancer picks, so every process runs it."""
        return self.settings is None or self.settings.mode == "polling"

    def _settings(self) -> TelegramSettings:
        if self.settings is None:
            assert self._problem is not None
            raise self._problem
        return self.settings

    def _ensure_client(self) -> TelegramClient:
        settings = self._settings()
        if self._client is None:
            self._client = TelegramClient(settings.token, settings.api_base)
        return self._client

    async def run(self, sink: Sink) -> None:
        try:
            await self._run(sink)
        finally:
            self.ready.clear()

    async def _run(self, sink: Sink) -> None:
        settings = self._settings()
        client = self._ensure_client()
        self.bot = await client.get_me()
        if settings.mode == "polling":
            await client.delete_webhook()  # getUpdates refuses to work while a webhook is set
            await self._poll(client, sink, settings)
            return
        if settings.webhook_url:
            assert settings.secret is not None
            await client.set_webhook(settings.webhook_url, settings.secret)
        self._sink = sink
        self.ready.set()
        await asyncio.Event().wait()  # updates arrive through handle_webhook

    async def check_connection(self) -> ConnectionCheck:
        """getMe with the account's token: whose bot it is, or why Telegram would not say."""
        try:
            settings = self._settings()
            me = await self._ensure_client().get_me()
        except ChannelAuthError as exc:
            return ConnectionCheck(False, str(exc))
        except TelegramApiError as exc:  # worded as a failed send is
            return ConnectionCheck(False, str(delivery_error(exc)))
        who = f"@{me.username}" if me.username else "a bot without a username"
        how = "by webhook" if settings.mode == "webhook" else "by polling (getUpdates)"
        return ConnectionCheck(True, f"Telegram answered getMe: {who} (id {me.id}), receiving {how}")

    async def close(self) -> None:
        self._closed = True
        self._sink = None
        self.ready.clear()
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    # -- receiving ---------------------------------------------------------------------------------------

    async def _poll(self, client: TelegramClient, sink: Sink, settings: TelegramSettings) -> None:
        saved = await self.account.cursor.load()
        offset = int(saved) if saved and saved.lstrip("-").isdigit() else None
        failures = 0
        while True:
            try:
                updates = await client.get_updates(offset, settings.poll_timeout)
            except TelegramApiError as exc:  # network trouble too (status 0), worded without the token
                if exc.retry_after is not None:
                    await asyncio.sleep(exc.retry_after)
                    continue
                if exc.status == 409:
                    raise RuntimeError(
                        f"{exc.description} (another process polls this bot, or a webhook is set)"
                    ) from None
                failures += 1
                if failures >= MAX_POLL_FAILURES:
                    raise
                await asyncio.sleep(min(30.0, 2.0**failures))
                continue
            failures = 0
            self.ready.set()  # getUpdates answered: the bot is receiving
            await in_chat_order(updates, _update_chat, lambda update: self.process(update, sink))
            last: int | None = None
            for update in updates:
                update_id = update.get("update_id") if isinstance(update, dict) else None
                if isinstance(update_id, int) and not isinstance(update_id, bool):
                    last = update_id if last is None else max(last, update_id)
            if last is not None:
                offset = last + 1
                await self.account.cursor.save(str(offset))
            elif updates:
                raise RuntimeError("getUpdates returned updates without update_id: cannot move on")

    async def process(self, update: Any, sink: Sink) -> None:
        """Parse one update and hand its item to the sink; a refused one goes to the quarantine (through the
        sink too), a skipped one is logged. Nothing is raised."""
        settings = self._settings()
        bot_id = self.bot.id if self.bot else None
        position = position_of(update, "update_id", "update")
        item = parsed_or_refused(
            lambda: parse_update(
                update, account_id=self.account.id, allow_groups=settings.allow_groups, bot_id=bot_id
            ),
            update,
            account_id=self.account.id,
            position=position,
            logger=log,
            source=f"telegram {self.account.name}",
            noun="update",
        )
        if item is None:
            return
        if isinstance(item, Refused):
            await sink(item)
            return
        if settings.download_files:
            item = await with_message(item, lambda message: self._with_files(message, settings))
        try:
            await sink(item)
        except IngestError as exc:
            log.warning("telegram %s: %s refused by the inbox: %s", self.account.name, item.external_id, exc)
            await sink(Refused(self.account.id, raw_json(update), f"refused by the inbox: {exc}", position))
        telegram = item.meta.get("telegram") if isinstance(item, InboundMessage) else None
        callback_id = telegram.get("callback_query_id") if isinstance(telegram, Mapping) else None
        if isinstance(callback_id, str):
            await self._answer_callback(callback_id)

    async def _answer_callback(self, callback_id: str) -> None:
        try:
            await self._ensure_client().answer_callback(callback_id)
        except Exception as exc:  # the press is stored; a spinner left turning is not worth a retry
            log.info("telegram %s: answerCallbackQuery failed: %s", self.account.name, exc)

    async def _with_files(self, item: InboundMessage, settings: TelegramSettings) -> InboundMessage:
        telegram = item.meta.get("telegram")
        files = telegram.get("files") if isinstance(telegram, Mapping) else None
        if not isinstance(files, list) or not files:
            return item
        limit = settings.max_download_bytes
        fetched: list[InboundAttachment] = []
        for attachment, ref in zip(item.attachments, files, strict=False):
            file_id = ref.get("file_id") if isinstance(ref, Mapping) else None
            if not isinstance(file_id, str):
                fetched.append(attachment)
            elif attachment.size > limit:
                fetched.append(replace(attachment, refused=f"larger than {limit} bytes: not downloaded"))
            else:
                fetched.append(await self._download(attachment, file_id, limit))
        fetched.extend(item.attachments[len(fetched) :])
        return replace(item, attachments=tuple(fetched))

    async def _download(self, attachment: InboundAttachment, file_id: str, limit: int) -> InboundAttachment:
        """The attachment with its bytes, or marked refused with the reason. Network trouble is retried a
        few times, then the file is given up (its file_id stays in meta) rather than holding up the chat."""
        client = self._ensure_client()
        for attempt in range(DOWNLOAD_ATTEMPTS):
            try:
                data = await client.download(file_id, limit)
            except FileTooLarge as exc:
                return replace(attachment, refused=f"larger than {limit} bytes ({exc}): not downloaded")
            except TelegramApiError as exc:
                if not exc.transient:
                    return replace(
                        attachment, refused=f"Telegram would not give the file: {exc.description}"[:400]
                    )
                if attempt + 1 == DOWNLOAD_ATTEMPTS:
                    return replace(attachment, refused=f"download failed: {exc}"[:400])
                await asyncio.sleep(0.5 * (attempt + 1))
            else:
                return replace(attachment, content=data, size=len(data))
        raise AssertionError("unreachable")

    async def handle_webhook(self, request: web.Request, tail: str) -> web.StreamResponse:
        """A pushed update: the secret header is checked before the body is read; 200 after the commit."""
        settings = self.settings
        if settings is None or settings.mode != "webhook" or not settings.secret:
            return web.json_response({"error": "this account does not take webhooks"}, status=404)
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), settings.secret.encode()):
            log.warning("telegram %s: webhook with a wrong secret from %s", self.account.name, request.remote)
            return web.json_response({"error": "unauthorized"}, status=401)
        sink = self._sink
        if sink is None:
            return web.json_response({"error": "not running yet"}, status=503, headers={"Retry-After": "5"})
        try:
            payload = load_json(await request.read())
        except PayloadError as exc:
            return web.json_response({"error": exc.reason}, status=400)
        try:
            await self.process(payload, sink)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("telegram %s: webhook update not stored", self.account.name)
            return web.json_response({"error": "not stored, deliver again"}, status=500)
        return web.json_response({"ok": True})

    # -- sending -----------------------------------------------------------------------------------------

    async def send(self, out: OutboundMessage) -> Delivery:
        if self._closed:
            raise DeliveryError("the Telegram connector is stopped")
        try:
            client = self._ensure_client()
        except ChannelAuthError as exc:
            raise DeliveryError(f"the Telegram account is misconfigured: {exc}") from None
        chat_id = chat_for(out)
        if chat_id is None:
            raise DeliveryError("no Telegram chat is known for this contact", permanent=True)
        parts = split_text(out.text, TEXT_LIMIT, measure=utf16_len)
        if not parts:
            raise DeliveryError("the reply is empty", permanent=True)
        reply_to = reply_target(out.in_reply_to, chat_id)
        sent = self._partial.setdefault(out.idempotency_key, [])
        try:
            for index in range(len(sent), len(parts)):
                sent.append(await client.send_text(chat_id, parts[index], reply_to if index == 0 else None))
            # Files follow the text, each as its own message; a retry resumes after the last one sent.
            for index in range(len(sent) - len(parts), len(out.attachments)):
                att = out.attachments[index]
                as_photo = att.content_type in PHOTO_TYPES and len(att.content) <= MAX_PHOTO_UPLOAD
                send_file = client.send_photo if as_photo else client.send_document
                sent.append(await send_file(chat_id, att.content, att.filename))
        except DeliveryError as exc:
            if exc.permanent:
                self._partial.pop(out.idempotency_key, None)
            raise
        self._partial.pop(out.idempotency_key, None)
        return Delivery(external_id=f"{chat_id}:{sent[0]}")
