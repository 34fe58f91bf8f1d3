"""A small asynchronous VK API client: what a community bot needs, over the connector's aiohttp session.

Not the ``vk-api`` package: it is synchronous (``requests``, ``time.sleep``) and hard-codes its base URL, so
on the event loop it would block every other channel, and off it (in a thread) it would still spare no real
work — the surface used here is a handful of methods and the long-poll request. So this client is written
directly against the documented HTTP API: ``POST {api_base}/{method}`` with ``access_token`` and ``v``,
answering ``{"response": …}`` or ``{"error": {"error_code", "error_msg", …}}``; ``api_base`` is injectable
(tests run a local fake).

Rate limits: calls are spaced to at most :data:`MAX_CALLS_PER_SECOND` (VK allows a community token 20 per
second), and error 6 ("Too many requests per second") is retried after a short pause a few times before it is
reported; error 9 (flood control) is reported with a long ``retry_after``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from inbox.items import DeliveryError

API_BASE = "https://api.vk.com/method"
API_VERSION = "5.199"
MAX_CALLS_PER_SECOND = 20
TOO_MANY_REQUESTS = 6
FLOOD_CONTROL = 9
AUTH_FAILED = 5
# messages.send failures that mean "this person cannot be written to": permanent, and shown on the dialog.
BLOCKING = {
    900: "the user has blacklisted the community",
    901: "the user has not allowed messages from the community",
    902: "the user's privacy settings forbid messages from the community",
}
# Failures a retry will not mend.
PERMANENT = {
    7: "the token lacks the messages permission",
    15: "access denied (are community messages enabled?)",
    27: "a group token is required",
    100: "a parameter is invalid",
    113: "invalid user id",
    914: "the message is too long",
    917: "no access to this chat",
    921: "cannot forward these messages",
    936: "contact not found",
    945: "the chat is disabled",
    946: "chat not supported",
    950: "cannot send to this peer",
}


class VkApiError(Exception):
    """VK answered with an error object."""

    def __init__(self, code: int, message: str, method: str) -> None:
        super().__init__(f"VK error {code} in {method}: {message}")
        self.code = code
        self.message = message
        self.method = method


def random_id_for(key: str, part: int = 0) -> int:
    """messages.send's ``random_id`` for one part of one reply: a stable 31-bit number from its idempotency
    key, so a retry of the same reply is deduplicated by VK instead of sent twice."""
    digest = hashlib.sha256(f"{key}#{part}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF or 1


def delivery_error(exc: VkApiError) -> DeliveryError:
    """A messages.send failure as the outbox understands it (the VK code and text stay in the reason)."""
    shown = f"VK error {exc.code}: {exc.message}"
    if exc.code in BLOCKING:
        return DeliveryError(f"{shown} ({BLOCKING[exc.code]})", permanent=True, blocks_conversation=True)
    if exc.code == TOO_MANY_REQUESTS:
        return DeliveryError(f"{shown} (rate limit)", retry_after=1.0)
    if exc.code == FLOOD_CONTROL:
        return DeliveryError(f"{shown} (flood control: too many identical messages)", retry_after=600.0)
    if exc.code in PERMANENT:
        return DeliveryError(f"{shown} ({PERMANENT[exc.code]})", permanent=True)
    if exc.code == AUTH_FAILED:
        return DeliveryError(f"{shown} (the community token was refused)")
    return DeliveryError(shown)


@dataclass(frozen=True, slots=True)
class LongPollServer:
    server: str
    key: str
    ts: str


class VkClient:
    """Calls over one aiohttp session that the connector owns."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        token: str,
        *,
        api_base: str = API_BASE,
        version: str = API_VERSION,
        rate_limit_pause: float = 0.35,
        rate_limit_retries: int = 3,
    ) -> None:
        self._session = session
        self._token = token
        self._base = api_base.rstrip("/")
        self._version = version
        self._pause = rate_limit_pause
        self._retries = rate_limit_retries
        self._lock = asyncio.Lock()
        self._last_call = 0.0
        self.calls = 0

    async def _space_calls(self) -> None:
        async with self._lock:
            gap = 1.0 / MAX_CALLS_PER_SECOND - (time.monotonic() - self._last_call)
            if gap > 0:
                await asyncio.sleep(gap)
            self._last_call = time.monotonic()

    async def call(self, method: str, **params: Any) -> Any:
        """One API method; its ``response``, or :class:`VkApiError` (error 6 retried first)."""
        form = {k: _form_value(v) for k, v in params.items() if v is not None}
        form.update(access_token=self._token, v=self._version)
        attempt = 0
        while True:
            await self._space_calls()
            self.calls += 1
            async with self._session.post(f"{self._base}/{method}", data=form) as response:
                answer = await _json_answer(response, "VK")
            if not isinstance(answer, dict):
                raise VkApiError(0, "the answer is not a JSON object", method)
            error = answer.get("error")
            if error is None:
                return answer.get("response")
            code = error.get("error_code") if isinstance(error, dict) else None
            message = error.get("error_msg") if isinstance(error, dict) else None
            exc = VkApiError(code if isinstance(code, int) else 0, str(message or error), method)
            if exc.code == TOO_MANY_REQUESTS and attempt < self._retries:
                attempt += 1
                await asyncio.sleep(self._pause * attempt)
                continue
            raise exc

    async def get_long_poll_server(self, group_id: int) -> LongPollServer:
        answer = await self.call("groups.getLongPollServer", group_id=group_id)
        if not isinstance(answer, dict) or not all(k in answer for k in ("server", "key", "ts")):
            raise VkApiError(
                0, "groups.getLongPollServer gave no server, key and ts", "groups.getLongPollServer"
            )
        return LongPollServer(str(answer["server"]), str(answer["key"]), str(answer["ts"]))

    async def long_poll(self, server: LongPollServer, ts: str, wait: int = 25) -> dict[str, Any]:
        """One ``a_check`` request: ``{"ts", "updates"}`` or ``{"failed": 1|2|3, ...}``."""
        params = {"act": "a_check", "key": server.key, "ts": ts, "wait": str(wait)}
        timeout = aiohttp.ClientTimeout(total=wait + 15)
        async with self._session.get(server.server, params=params, timeout=timeout) as response:
            answer = await _json_answer(response, "long poll")
        if not isinstance(answer, dict):
            raise VkApiError(0, "the long-poll answer is not a JSON object", "a_check")
        return answer

    async def users_get(self, user_ids: Sequence[int]) -> dict[int, str]:
        """Display names ("First Last") by user id."""
        if not user_ids:
            return {}
        answer = await self.call("users.get", user_ids=",".join(str(u) for u in user_ids))
        names: dict[int, str] = {}
        for user in answer if isinstance(answer, list) else ():
            if isinstance(user, Mapping) and isinstance(user.get("id"), int):
                parts = [user.get("first_name"), user.get("last_name")]
                name = " ".join(str(p).strip() for p in parts if isinstance(p, str) and p.strip())
                if name:
                    names[user["id"]] = name[:200]
        return names

    async def send_message(
        self,
        peer_id: int,
        text: str,
        random_id: int,
        attachments: Sequence[str] = (),
        *,
        keyboard: str | None = None,
    ) -> int:
        """messages.send; the new message's id (VK answers the same id again for a repeated random_id).
        `attachments` are uploaded files as ``photo{owner_id}_{id}`` / ``doc{owner_id}_{id}`` (at most 10);
        `keyboard` a keyboard's JSON (:mod:`channels.vk.keyboard`)."""
        answer = await self.call(
            "messages.send",
            peer_id=peer_id,
            message=text,
            random_id=random_id,
            attachment=",".join(attachments) if attachments else None,
            keyboard=keyboard,
        )
        if isinstance(answer, bool) or not isinstance(answer, int):
            if isinstance(answer, list) and answer and isinstance(answer[0], Mapping):
                message_id = answer[0].get("message_id") or answer[0].get("conversation_message_id")
                if isinstance(message_id, int):
                    return message_id
            raise VkApiError(0, f"messages.send answered {answer!r}", "messages.send")
        return answer

    # -- files: upload server → multipart upload → save → an attachment string ------------------------

    async def upload_photo(self, peer_id: int, content: bytes, filename: str, content_type: str) -> str:
        """A photo for a message to `peer_id`: ``photos.getMessagesUploadServer`` (peer_id) → the file
        POSTed as the multipart field ``photo`` → ``photos.saveMessagesPhoto`` (server, photo, hash) →
        ``photo{owner_id}_{id}`` (with ``_{access_key}`` when VK gives one)."""
        method = "photos.saveMessagesPhoto"
        server = await self.call("photos.getMessagesUploadServer", peer_id=peer_id)
        uploaded = await self._upload(
            _upload_url(server, "photos.getMessagesUploadServer"), "photo", content, filename, content_type
        )
        if not all(
            isinstance(uploaded.get(k), str | int) for k in ("server", "photo", "hash")
        ) or not uploaded.get("photo"):
            raise VkApiError(0, f"the photo upload answered {_short(uploaded)}", "photos.upload")
        saved = await self.call(
            method, server=uploaded["server"], photo=uploaded["photo"], hash=uploaded["hash"]
        )
        photo = saved[0] if isinstance(saved, list) and saved else None
        return _attachment("photo", photo, method)

    async def upload_document(self, peer_id: int, content: bytes, filename: str, content_type: str) -> str:
        """A document for a message to `peer_id`: ``docs.getMessagesUploadServer`` (type=doc, peer_id) → the
        file POSTed as the multipart field ``file`` → ``docs.save`` (file, title) → ``doc{owner_id}_{id}``."""
        method = "docs.save"
        server = await self.call("docs.getMessagesUploadServer", type="doc", peer_id=peer_id)
        uploaded = await self._upload(
            _upload_url(server, "docs.getMessagesUploadServer"), "file", content, filename, content_type
        )
        file = uploaded.get("file")
        if not isinstance(file, str) or not file:
            raise VkApiError(0, f"the document upload answered {_short(uploaded)}", "docs.upload")
        saved = await self.call(method, file=file, title=filename)
        doc = saved.get("doc") if isinstance(saved, Mapping) else None  # {"type": "doc", "doc": {...}}
        return _attachment("doc", doc, method)

    async def _upload(
        self, url: str, field: str, content: bytes, filename: str, content_type: str
    ) -> Mapping[str, Any]:
        form = aiohttp.FormData(quote_fields=False)  # the file name in raw UTF-8, as browsers send it
        form.add_field(field, content, filename=filename, content_type=content_type)
        async with self._session.post(url, data=form) as response:
            answer = await _json_answer(response, "VK upload")
        if not isinstance(answer, Mapping):
            raise VkApiError(0, "the upload answer is not a JSON object", "upload")
        if answer.get("error"):
            raise VkApiError(0, f"the upload was refused: {_short(answer['error'])}", "upload")
        return answer


async def _json_answer(response: aiohttp.ClientResponse, what: str) -> Any:
    """The JSON of an answer; a 5xx is a server in trouble (retried), raised as a client error."""
    if response.status >= 500:
        raise aiohttp.ClientResponseError(
            response.request_info, (), status=response.status, message=f"{what} answered {response.status}"
        )
    return await response.json(content_type=None)


def _upload_url(server: Any, method: str) -> str:
    url = server.get("upload_url") if isinstance(server, Mapping) else None
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise VkApiError(0, f"{method} gave no upload_url", method)
    return url


def _attachment(kind: str, saved: Any, method: str) -> str:
    """``{kind}{owner_id}_{id}[_{access_key}]``, the form messages.send takes, from a saved photo or doc."""
    if (
        not isinstance(saved, Mapping)
        or not isinstance(saved.get("owner_id"), int)
        or not isinstance(saved.get("id"), int)
    ):
        raise VkApiError(0, f"{method} answered {_short(saved)}", method)
    key = saved.get("access_key")
    suffix = f"_{key}" if isinstance(key, str) and key else ""
    return f"{kind}{saved['owner_id']}_{saved['id']}{suffix}"


def _short(value: Any) -> str:
    return repr(value)[:200]


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
