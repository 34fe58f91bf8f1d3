"""The VK connector: one community, receiving by Bots Long Poll or the Callback API, sending replies.

Configuration (an account with ``kind = "vk"``):

* ``token`` (secret, or ``token_env``; ``access_token`` also read): the community's access token with the
  messages permission.
* ``group_id``: the community's id (a positive number).
* ``mode``: ``"longpoll"`` (default) or ``"callback"``.
* ``secret`` (secret) and ``confirmation``: for the Callback API, the secret key set in the community's
  Callback API settings (required: a request without it is answered 403 before its event is looked at) and the
  string VK expects back when it confirms the server address (``/hooks/NAME``).
* ``allow_groups`` (false): take messages from group chats (``peer_id`` ≥ 2000000000) too.
* ``download_files`` (true), ``max_download_bytes`` (50 MB): photos, documents and voice messages are fetched
  from VK's file hosts and stored with the message.
* ``api_base``, ``api_version`` (5.199), ``wait`` (25): for tests and unusual setups.

Receiving: the long poll's ``ts`` is the account's cursor, saved after the events it covers were handed to the
sink (which returns after the commit); ``failed: 1`` moves on to the ts VK gives (events in between are lost,
and logged), ``failed: 2`` fetches a new key and keeps the ts, ``failed: 3`` starts a new session. Callback
API events are answered ``ok`` only after the commit, so VK delivers again whatever was not stored.

Sending: ``messages.send`` to the peer of the client's last message, text cut at 4096 characters, each part's
``random_id`` derived from the reply's idempotency key (VK drops a repeated random_id, never sends twice).
Files are uploaded first and go with the first part: JPEG, PNG and GIF as photos
(``photos.getMessagesUploadServer`` → upload → ``photos.saveMessagesPhoto``), anything else as a document
(``docs.getMessagesUploadServer`` type=doc → upload → ``docs.save``); a retry reuses what was uploaded.
A reply's buttons become an inline keyboard under its last part (:mod:`channels.vk.keyboard`).
The community's own messages come back as ``message_reply`` events: one we sent carries the id we stored, so
the ingest path finds it a duplicate, and echoes of replies sent by this process are dropped here already
(by their random_id), before the outbox may have recorded the id. Names come from users.get, cached.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import aiohttp
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
from channels.text import split_text, utf16_len
from channels.vk.client import (
    API_BASE,
    API_VERSION,
    AUTH_FAILED,
    LongPollServer,
    VkApiError,
    VkClient,
    delivery_error,
    random_id_for,
)
from channels.vk.keyboard import inline_keyboard
from channels.vk.parse import parse_event
from inbox.ingest import IngestError
from inbox.items import Delivery, DeliveryError, InboundAttachment, InboundMessage, OutboundMessage, Refused

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096
MAX_ATTACHMENTS = 10
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/gif"})  # what VK takes as a photo; else a document
MAX_DOWNLOAD = 50 * 1024 * 1024
OPTIONS = frozenset(
    {
        "mode",
        "group_id",
        "confirmation",
        "allow_groups",
        "download_files",
        "max_download_bytes",
        "api_base",
        "api_version",
        "wait",
    }
)
# Hosts VK serves message files from; nothing else is fetched (a URL in an event is no licence to fetch it).
FILE_HOSTS = ("vk.com", "vk.me", "userapi.com", "vk-cdn.net", "vkuserphoto.ru", "vkuseraudio.net", "mycdn.me")
NAME_CACHE = 10_000
OWN_RANDOM_IDS = 10_000
MAX_POLL_FAILURES = 5
DOWNLOAD_ATTEMPTS = 3


class VkConfigError(ChannelAuthError):
    """The account's configuration cannot work; like refused credentials, retrying soon will not help."""


@dataclass(frozen=True, slots=True)
class VkSettings:
    token: str
    group_id: int
    mode: Literal["longpoll", "callback"] = "longpoll"
    secret: str | None = None
    confirmation: str | None = None
    allow_groups: bool = False
    download_files: bool = True
    max_download_bytes: int = MAX_DOWNLOAD
    api_base: str = API_BASE
    api_version: str = API_VERSION
    wait: int = 25


def _flag(options: Mapping[str, Any], name: str, default: bool) -> bool:
    return flag(options, name, default, VkConfigError)


def _number(options: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    return number(options, name, default, low, high, VkConfigError)


def read_settings(account: AccountContext) -> VkSettings:
    """The account's settings, or :class:`VkConfigError` naming what is wrong."""
    options = account.options
    check_known(options, OPTIONS, VkConfigError)
    token = account.secrets.get("token") or account.secrets.get("access_token")
    if not token:
        raise VkConfigError("no community token: set token (or token_env) for this account")
    group_id = options.get("group_id")
    if isinstance(group_id, str) and group_id.isdigit():
        group_id = int(group_id)
    if isinstance(group_id, bool) or not isinstance(group_id, int) or group_id <= 0:
        raise VkConfigError("option group_id must be the community's id (a positive number)")
    mode = options.get("mode", "longpoll")
    if mode not in ("longpoll", "callback"):
        raise VkConfigError("option mode must be 'longpoll' or 'callback'")
    secret = account.secrets.get("secret")
    confirmation = options.get("confirmation")
    if mode == "callback":
        if not secret:
            raise VkConfigError(
                "callback mode needs the secret key set in the community's Callback API settings"
            )
        if not isinstance(confirmation, str) or not confirmation:
            raise VkConfigError(
                "callback mode needs confirmation: the string VK expects to confirm the address"
            )
    api_base = options.get("api_base", API_BASE)
    if not isinstance(api_base, str) or not api_base.startswith(("https://", "http://")):
        raise VkConfigError("option api_base must be an http(s) URL")
    version = options.get("api_version", API_VERSION)
    if not isinstance(version, str):
        raise VkConfigError("option api_version must be a string such as '5.199'")
    return VkSettings(
        token=token,
        group_id=group_id,
        mode=mode,
        secret=secret,
        confirmation=confirmation if isinstance(confirmation, str) else None,
        allow_groups=_flag(options, "allow_groups", False),
        download_files=_flag(options, "download_files", True),
        max_download_bytes=_number(options, "max_download_bytes", MAX_DOWNLOAD, 0, 1 << 31),
        api_base=api_base,
        api_version=version,
        wait=_number(options, "wait", 25, 1, 90),
    )


def peer_for(out: OutboundMessage) -> int | None:
    """Where a reply goes: the peer of the client's last message, else their VK user id."""
    vk = out.meta.get("vk")
    if isinstance(vk, Mapping):
        peer = vk.get("peer_id")
        if isinstance(peer, int) and not isinstance(peer, bool) and peer != 0:
            return peer
    for ref in out.recipients:
        if ref.kind == "vk" and ref.value.isdigit():
            return int(ref.value)
    return None


def _vk_user(item: InboundMessage) -> int | None:
    for ref in item.sender.identities:
        if ref.kind == "vk" and ref.value.isdigit():
            return int(ref.value)
    return None


def _event_ids(event: Any, keys: tuple[str, ...]) -> list[int]:
    """The integer ids an event's message (or object) holds under `keys`, in that order."""
    if not isinstance(event, Mapping) or not isinstance(event.get("object"), Mapping):
        return []
    obj = event["object"]
    msg = obj.get("message") if isinstance(obj.get("message"), Mapping) else obj
    values = [msg.get(key) for key in keys]
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool)]


def _event_user(event: Any) -> int | None:
    """The user an event is about, to look names up for a whole long-poll batch at once."""
    users = [v for v in _event_ids(event, ("from_id", "user_id", "peer_id")) if 0 < v < 2_000_000_000]
    return users[0] if users else None


def _event_peer(event: Any) -> int | None:
    """The conversation (peer) an event belongs to: its events are stored in the order VK sent them."""
    peers = _event_ids(event, ("peer_id", "user_id", "from_id"))
    return peers[0] if peers else None


@register("vk")
class VkConnector:
    kind: ClassVar[str] = "vk"
    # messages.send takes up to 10 attachments; VK stores documents of up to 200 MB, photos of up to 50 MB.
    capabilities: ClassVar[Capabilities] = Capabilities(
        attachments=True, max_attachment_bytes=50 * 2**20, buttons=True
    )

    def __init__(self, account: AccountContext) -> None:
        self.account = account
        self.settings: VkSettings | None = None
        self._problem: VkConfigError | None = None
        try:
            self.settings = read_settings(account)
        except VkConfigError as exc:  # raised from run(): a constructor must not fail the supervisor
            self._problem = exc
        self._session: aiohttp.ClientSession | None = None
        self._client: VkClient | None = None
        self._closed = False
        self._sink: Sink | None = None
        self.ready = asyncio.Event()
        self._names: OrderedDict[int, str] = OrderedDict()
        self._own: OrderedDict[int, None] = OrderedDict()  # random_ids of messages this process sent
        self._partial: dict[str, list[int]] = {}  # per idempotency key: ids of the parts already sent
        self._uploaded: dict[str, list[str]] = {}  # per idempotency key: files already uploaded

    # -- lifecycle ---------------------------------------------------------------------------------------

    @property
    def single_holder(self) -> bool:
        """The long poll pulls (one process); Callback API events are pushed to any process."""
        return self.settings is None or self.settings.mode == "longpoll"

    def _settings(self) -> VkSettings:
        if self.settings is None:
            assert self._problem is not None
            raise self._problem
        return self.settings

    def _ensure_client(self) -> VkClient:
        settings = self._settings()
        if self._client is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
            self._client = VkClient(
                self._session, settings.token, api_base=settings.api_base, version=settings.api_version
            )
        return self._client

    async def run(self, sink: Sink) -> None:
        try:
            await self._run(sink)
        finally:
            self.ready.clear()

    async def _run(self, sink: Sink) -> None:
        settings = self._settings()
        client = self._ensure_client()
        if settings.mode == "callback":
            try:
                await client.call("groups.getById", group_id=settings.group_id)
            except VkApiError as exc:
                raise self._start_error(exc) from None
            self._sink = sink
            self.ready.set()
            await asyncio.Event().wait()  # events arrive through handle_webhook
        await self._long_poll(client, sink, settings)

    def _start_error(self, exc: VkApiError) -> Exception:
        if exc.code == AUTH_FAILED:
            return ChannelAuthError(f"VK refused the community token: {exc.message}")
        if exc.code in (15, 27, 100):
            return VkConfigError(f"VK error {exc.code}: {exc.message} (is Long Poll on, is group_id right?)")
        return exc

    async def check_connection(self) -> ConnectionCheck:
        """groups.getById with the account's token (the community it names), and in long-poll mode
        groups.getLongPollServer (Long Poll switched on for this token)."""
        try:
            settings = self._settings()
            client = self._ensure_client()
            found = await client.call("groups.getById", group_id=settings.group_id)
            groups = found.get("groups") if isinstance(found, Mapping) else found
            group = groups[0] if isinstance(groups, list) and groups else {}
            name = group.get("name") if isinstance(group, Mapping) else None
            detail = f"VK answered groups.getById: the community {name!r} (id {settings.group_id})"
            if settings.mode == "longpoll":
                await client.get_long_poll_server(settings.group_id)
                detail += "; the Long Poll server was given"
            else:
                detail += "; receiving by the Callback API"
        except ChannelAuthError as exc:
            return ConnectionCheck(False, str(exc))
        except VkApiError as exc:
            return ConnectionCheck(False, str(self._start_error(exc)))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return ConnectionCheck(False, f"VK unreachable: {exc.__class__.__name__}: {exc}")
        return ConnectionCheck(True, detail)

    async def close(self) -> None:
        self._closed = True
        self._sink = None
        self.ready.clear()
        session, self._session, self._client = self._session, None, None
        if session is not None:
            await session.close()

    # -- receiving ---------------------------------------------------------------------------------------

    async def _server(self, client: VkClient, settings: VkSettings) -> LongPollServer:
        try:
            return await client.get_long_poll_server(settings.group_id)
        except VkApiError as exc:
            raise self._start_error(exc) from None

    async def _long_poll(self, client: VkClient, sink: Sink, settings: VkSettings) -> None:
        server = await self._server(client, settings)
        saved = await self.account.cursor.load()
        ts = saved or server.ts
        if saved is None:
            await self.account.cursor.save(ts)  # from now on nothing is missed, even across a restart
        self.ready.set()  # the long-poll server is known and ts saved: events from now on are fetched
        failures = 0
        while True:
            try:
                answer = await client.long_poll(server, ts, settings.wait)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                failures += 1
                if failures >= MAX_POLL_FAILURES:
                    raise RuntimeError(f"VK long poll unreachable: {exc.__class__.__name__}: {exc}") from exc
                await asyncio.sleep(min(30.0, 2.0**failures))
                continue
            failures = 0
            failed = answer.get("failed")
            if failed is not None:
                if failed == 1 and answer.get("ts") is not None:
                    log.warning(
                        "vk %s: VK's event history moved on; events before ts %s may be lost",
                        self.account.name,
                        answer["ts"],
                    )
                    ts = str(answer["ts"])
                    await self.account.cursor.save(ts)
                elif failed == 2:
                    server = await self._server(client, settings)
                elif failed == 3:
                    log.warning(
                        "vk %s: the long-poll session was lost; starting a new one", self.account.name
                    )
                    server = await self._server(client, settings)
                    ts = server.ts
                    await self.account.cursor.save(ts)
                else:
                    raise RuntimeError(f"VK long poll answered failed={failed!r}")
                continue
            updates = answer.get("updates")
            events = updates if isinstance(updates, list) else []
            await self._prefetch_names(_event_user(e) for e in events)
            await in_chat_order(events, _event_peer, lambda event: self.process(event, sink))
            new_ts = answer.get("ts")
            if new_ts is not None and str(new_ts) != ts:
                ts = str(new_ts)
                await self.account.cursor.save(ts)

    async def process(self, event: Any, sink: Sink) -> None:
        """Parse one event and hand its item to the sink; a refused one goes to the quarantine (through the
        sink too), a skipped one is logged. Nothing is raised."""
        settings = self._settings()
        position = position_of(event, "event_id", "event")
        item = parsed_or_refused(
            lambda: parse_event(
                event,
                account_id=self.account.id,
                allow_groups=settings.allow_groups,
                group_id=settings.group_id,
            ),
            event,
            account_id=self.account.id,
            position=position,
            logger=log,
            source=f"vk {self.account.name}",
            noun="event",
        )
        if item is None:
            return
        if isinstance(item, Refused):
            await sink(item)
            return
        vk = item.meta.get("vk") if isinstance(item, InboundMessage) else None
        if isinstance(vk, Mapping) and vk.get("outgoing") and vk.get("random_id") in self._own:
            log.debug("vk %s: echo of our own reply %s", self.account.name, item.external_id)
            return
        item = await with_message(item, self._with_name)
        if settings.download_files:
            item = await with_message(item, lambda message: self._with_files(message, settings))
        try:
            await sink(item)
        except IngestError as exc:
            log.warning("vk %s: %s refused by the inbox: %s", self.account.name, item.external_id, exc)
            await sink(Refused(self.account.id, raw_json(event), f"refused by the inbox: {exc}", position))

    async def _prefetch_names(self, users: Iterable[int | None]) -> None:
        missing = sorted({u for u in users if u is not None and u not in self._names})
        if not missing:
            return
        try:
            found = await self._ensure_client().users_get(missing[:1000])
        except (VkApiError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.info("vk %s: users.get failed (%s); names later", self.account.name, exc)
            return
        for user_id, name in found.items():
            self._names[user_id] = name
        while len(self._names) > NAME_CACHE:
            self._names.popitem(last=False)

    async def _with_name(self, item: InboundMessage) -> InboundMessage:
        user_id = _vk_user(item)
        if user_id is None or item.sender.name:
            return item
        if user_id not in self._names:
            await self._prefetch_names([user_id])
        name = self._names.get(user_id)
        if name is None:
            return item
        self._names.move_to_end(user_id)
        return replace(item, sender=replace(item.sender, name=name))

    def _may_fetch(self, url: str, settings: VkSettings) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("https", "http") or not host:
            return False
        if host == (urlsplit(settings.api_base).hostname or "").lower():
            return True
        return parts.scheme == "https" and any(host == h or host.endswith("." + h) for h in FILE_HOSTS)

    async def _with_files(self, item: InboundMessage, settings: VkSettings) -> InboundMessage:
        vk = item.meta.get("vk")
        files = vk.get("files") if isinstance(vk, Mapping) else None
        if not isinstance(files, list) or not files:
            return item
        self._ensure_client()
        assert self._session is not None
        limit = settings.max_download_bytes
        fetched: list[InboundAttachment] = []
        for attachment, ref in zip(item.attachments, files, strict=False):
            url = ref.get("url") if isinstance(ref, Mapping) else None
            if not isinstance(url, str) or not url:
                fetched.append(replace(attachment, refused="VK gave no file address"))
                continue
            if not self._may_fetch(url, settings):
                fetched.append(replace(attachment, refused="not downloaded: not a VK file host"))
                continue
            if attachment.size > limit:
                fetched.append(replace(attachment, refused=f"larger than {limit} bytes: not downloaded"))
                continue
            fetched.append(await self._download(attachment, url, limit))
        fetched.extend(item.attachments[len(fetched) :])
        return replace(item, attachments=tuple(fetched))

    async def _download(self, attachment: InboundAttachment, url: str, limit: int) -> InboundAttachment:
        """The attachment with its bytes, or marked refused with the reason. Network trouble is retried a
        few times, then the file is given up (its URL stays in meta) rather than holding up the dialog."""
        assert self._session is not None
        for attempt in range(DOWNLOAD_ATTEMPTS):
            try:
                async with self._session.get(url) as response:
                    if 400 <= response.status < 500:
                        return replace(attachment, refused=f"VK refused the download ({response.status})")
                    response.raise_for_status()
                    chunks: list[bytes] = []
                    total = 0
                    async for chunk in response.content.iter_chunked(65536):
                        total += len(chunk)
                        if total > limit:
                            return replace(attachment, refused=f"larger than {limit} bytes: not downloaded")
                        chunks.append(chunk)
            except (aiohttp.ClientError, TimeoutError) as exc:
                if attempt + 1 == DOWNLOAD_ATTEMPTS:
                    return replace(
                        attachment, refused=f"download failed: {exc.__class__.__name__}: {exc}"[:400]
                    )
                await asyncio.sleep(0.5 * (attempt + 1))
            else:
                data = b"".join(chunks)
                return replace(attachment, content=data, size=len(data))
        raise AssertionError("unreachable")

    async def handle_webhook(self, request: web.Request, tail: str) -> web.StreamResponse:
        """A Callback API request: the secret (a field of the body) is checked before the event is looked at;
        ``ok`` only after the commit; the confirmation request gets the configured string."""
        settings = self.settings
        if settings is None or settings.mode != "callback" or not settings.secret:
            return web.Response(status=404, text="this account does not take Callback API requests")
        try:
            payload = load_json(await request.read())
        except PayloadError as exc:
            return web.Response(status=400, text=exc.reason)
        given = payload.get("secret") if isinstance(payload, Mapping) else None
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), settings.secret.encode()):
            log.warning("vk %s: callback with a wrong secret from %s", self.account.name, request.remote)
            return web.Response(status=403, text="bad secret")
        assert isinstance(payload, Mapping)
        group = payload.get("group_id")
        if not isinstance(group, int) or group != settings.group_id:
            return web.Response(status=403, text="not this community")
        if payload.get("type") == "confirmation":
            return web.Response(text=settings.confirmation or "")
        sink = self._sink
        if sink is None:
            return web.Response(status=503, text="not running yet", headers={"Retry-After": "5"})
        try:
            await self.process(payload, sink)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("vk %s: callback event not stored", self.account.name)
            return web.Response(status=500, text="not stored, deliver again")
        return web.Response(text="ok")

    # -- sending -----------------------------------------------------------------------------------------

    def _remember_own(self, random_id: int) -> None:
        self._own[random_id] = None
        while len(self._own) > OWN_RANDOM_IDS:
            self._own.popitem(last=False)

    async def send(self, out: OutboundMessage) -> Delivery:
        if self._closed:
            raise DeliveryError("the VK connector is stopped")
        try:
            client = self._ensure_client()
        except ChannelAuthError as exc:
            raise DeliveryError(f"the VK account is misconfigured: {exc}") from None
        peer = peer_for(out)
        if peer is None:
            raise DeliveryError("no VK dialog is known for this contact", permanent=True)
        parts = split_text(out.text, TEXT_LIMIT, measure=utf16_len)
        if not parts:
            raise DeliveryError("the reply is empty", permanent=True)
        if len(out.attachments) > MAX_ATTACHMENTS:
            raise DeliveryError(f"VK carries at most {MAX_ATTACHMENTS} files in a message", permanent=True)
        key = out.idempotency_key
        sent = self._partial.setdefault(key, [])
        uploaded = self._uploaded.setdefault(key, [])
        try:
            try:
                # Files first (a retry resumes after the last one uploaded); they go with the first part.
                for att in out.attachments[len(uploaded) :]:
                    upload = (
                        client.upload_photo if att.content_type in PHOTO_TYPES else client.upload_document
                    )
                    uploaded.append(await upload(peer, att.content, att.filename, att.content_type))
                keyboard = await inline_keyboard(out.buttons) if out.buttons else None
                for index in range(len(sent), len(parts)):
                    random_id = random_id_for(key, index)
                    self._remember_own(random_id)
                    files = uploaded if index == 0 else ()
                    last = index == len(parts) - 1  # buttons under the end of the reply
                    sent.append(
                        await client.send_message(
                            peer, parts[index], random_id, files, keyboard=keyboard if last else None
                        )
                    )
            except VkApiError as exc:
                raise delivery_error(exc) from None
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise DeliveryError(f"VK unreachable: {exc.__class__.__name__}: {exc}") from None
            except ValueError as exc:  # an answer that is no JSON, or buttons past VK's limits
                raise DeliveryError(f"VK: {exc.__class__.__name__}: {exc}") from None
        except DeliveryError as exc:
            if exc.permanent:
                self._forget(key)
            raise
        self._forget(key)
        return Delivery(external_id=str(sent[0]))

    def _forget(self, key: str) -> None:
        self._partial.pop(key, None)
        self._uploaded.pop(key, None)
