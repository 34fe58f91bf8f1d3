"""A local Telegram Bot API server: the parts Okno uses, answering the way the official docs show.

``POST /bot{token}/{method}`` with parameters as a query string, url-encoded or multipart form, or JSON;
answers ``{"ok": true, "result": …}`` or ``{"ok": false, "error_code": …, "description": …[, "parameters":
{"retry_after": N}]}``. ``getUpdates`` confirms every update below ``offset`` (they are gone for good, as on
Telegram) and, when nothing is pending, waits at most :data:`LONG_POLL_CAP` seconds (not the requested
timeout) so tests stay quick; it answers 409 while a webhook is set. Files: ``getFile`` and
``GET /file/bot{token}/{path}``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

LONG_POLL_CAP = 0.3
BOT_ID = 777000111


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)


def _error(code: int, description: str, **parameters: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


def too_many_requests(retry_after: int) -> web.Response:
    return _error(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


def blocked_by_user() -> web.Response:
    return _error(403, "Forbidden: bot was blocked by the user")


def chat_not_found() -> web.Response:
    return _error(400, "Bad Request: chat not found")


class FakeBotApi:
    def __init__(self, token: str = "123456:TEST-token_abc") -> None:
        self.token = token
        self.url = ""
        self.pending: list[dict[str, Any]] = []
        self.delivered: Counter[int] = Counter()
        self.offsets: list[int | None] = []
        self.calls: list[Call] = []
        self.scripted: dict[str, list[web.Response]] = {}
        self.blocked_chats: set[int] = set()
        self.unknown_chats: set[int] = set()
        self.webhook: dict[str, Any] | None = None
        self.files: dict[str, bytes] = {}
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(5001)
        self._news = asyncio.Event()

    # -- what tests do -----------------------------------------------------------------------------------

    def push(self, body: dict[str, Any]) -> dict[str, Any]:
        """Queue an update (``{"message": {...}}`` etc.); it gets the next update_id."""
        update = {"update_id": next(self._update_ids), **body}
        self.pending.append(update)
        self._news.set()
        return update

    def add_file(self, file_id: str, data: bytes) -> None:
        self.files[file_id] = data

    def script(self, method: str, *responses: web.Response) -> None:
        """Answer the next calls of `method` with `responses` (then normally again)."""
        self.scripted.setdefault(method, []).extend(responses)

    def sent(self, method: str = "sendMessage") -> list[Call]:
        return [c for c in self.calls if c.method == method]

    # -- the server --------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.*}", self._file)
        return app

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, tuple[str, bytes]] = {}
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                    continue
                if part.filename:
                    files[part.name] = (part.filename, bytes(await part.read()))
                else:
                    params[part.name] = await part.text()
        elif request.can_read_body:
            params.update(await request.post())
        for key, value in list(params.items()):  # "attach://<name>" points at a file part of that name
            if isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
                files[key] = files.pop(value[9:])
        for key, value in list(params.items()):  # objects travel as JSON strings in forms
            if isinstance(value, str) and value[:1] in "[{":
                with suppress(json.JSONDecodeError):
                    params[key] = json.loads(value)
        return params, files

    async def _method(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params, files = await self._params(request)
        self.calls.append(Call(method, params, files))
        scripted = self.scripted.get(method)
        if scripted:
            return scripted.pop(0)
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            return _error(404, "Not Found")
        result = await (handler(params, files, request) if method == "getUpdates" else handler(params, files))
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response({"ok": True, "result": result})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        data = self.files.get(request.match_info["path"].removeprefix("files/"))
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    def _me(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Okno", "username": "okno_test_bot"}

    async def _getMe(self, params: dict[str, Any], files: Any) -> Any:
        return {**self._me(), "can_join_groups": True, "can_read_all_group_messages": False}

    async def _getUpdates(self, params: dict[str, Any], files: Any, request: web.Request) -> Any:
        if self.webhook is not None:
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active;"
                " use deleteWebhook to delete the webhook first",
            )
        offset = int(params["offset"]) if params.get("offset") not in (None, "") else None
        self.offsets.append(offset)
        if offset is not None:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), LONG_POLL_CAP)
        while not self.pending and time.monotonic() < deadline:
            self._news.clear()
            try:
                await asyncio.wait_for(self._news.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                break
        batch = self.pending[: int(params.get("limit") or 100)]
        if request.transport is not None and not request.transport.is_closing():  # the client still waits
            for update in batch:
                self.delivered[update["update_id"]] += 1
        return batch

    async def _setWebhook(self, params: dict[str, Any], files: Any) -> Any:
        self.webhook = params
        return web.json_response({"ok": True, "result": True, "description": "Webhook was set"})

    async def _deleteWebhook(self, params: dict[str, Any], files: Any) -> Any:
        was = self.webhook
        self.webhook = None
        description = "Webhook was deleted" if was else "Webhook is already deleted"
        return web.json_response({"ok": True, "result": True, "description": description})

    def _sent_message(self, params: dict[str, Any], **content: Any) -> Any:
        chat_id = int(params["chat_id"])
        if chat_id in self.blocked_chats:
            return blocked_by_user()
        if chat_id in self.unknown_chats:
            return chat_not_found()
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": self._me(),
            "chat": {"id": chat_id, "type": "private", "first_name": "Client"},
            "date": int(time.time()),
            **content,
        }
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message["reply_to_message"] = {
                "message_id": reply["message_id"],
                "chat": message["chat"],
                "date": int(time.time()),
            }
        return message

    async def _sendMessage(self, params: dict[str, Any], files: Any) -> Any:
        text = str(params.get("text") or "")
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            return _error(400, "Bad Request: message is too long")
        return self._sent_message(params, text=text)

    async def _sendPhoto(self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> Any:
        name, data = files["photo"]
        size = {
            "file_id": f"photo-{name}",
            "file_unique_id": "u1",
            "width": 1,
            "height": 1,
            "file_size": len(data),
        }
        extra = {"caption": params["caption"]} if params.get("caption") else {}
        return self._sent_message(params, photo=[size], **extra)

    async def _sendDocument(self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> Any:
        name, data = files["document"]
        doc = {"file_id": f"doc-{name}", "file_unique_id": "u2", "file_name": name, "file_size": len(data)}
        return self._sent_message(params, document=doc)

    async def _answerCallbackQuery(self, params: dict[str, Any], files: Any) -> Any:
        return True

    async def _getFile(self, params: dict[str, Any], files: Any) -> Any:
        file_id = str(params.get("file_id"))
        data = self.files.get(file_id)
        if data is None:
            return _error(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_size": len(data),
            "file_path": file_id,
        }
