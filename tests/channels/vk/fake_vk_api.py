"""A local VK API: the methods a community bot uses and the Bots Long Poll, answering as VK's docs show.

``POST|GET /method/{name}`` with ``access_token`` and ``v`` → ``{"response": …}`` or
``{"error": {"error_code", "error_msg", "request_params"}}``. The long poll
(``GET /lp?act=a_check&key=…&ts=…&wait=…``) answers ``{"ts": "…", "updates": [...]}``, or
``{"failed": 1, "ts": …}`` / ``{"failed": 2}`` / ``{"failed": 3}`` when a test asks for it;
it waits at most :data:`LONG_POLL_CAP` seconds for news so tests stay quick. Events are numbered: ``ts`` is
the number of the first event not yet returned. ``messages.send`` deduplicates by ``(peer_id, random_id)``
and, like VK, echoes each new message as a ``message_reply`` event.

Files for messages go VK's three steps: ``photos.getMessagesUploadServer`` (peer_id) /
``docs.getMessagesUploadServer`` (type=doc, peer_id) answer an ``upload_url``; a multipart POST there (field
``photo`` / ``file``) answers ``{"server", "photo", "hash"}`` / ``{"file"}``; ``photos.saveMessagesPhoto``
(server, photo, hash) answers a list of photo objects and ``docs.save`` (file, title) ``{"type": "doc",
"doc": {…}}``, whose ``owner_id`` and ``id`` make the ``attachment`` of messages.send.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiohttp import web

LONG_POLL_CAP = 0.3
GROUP_ID = 229000111
TOKEN = "vk1.a.community-token-for-tests"
USERS = {
    321: ("Мария", "Иванова"),
    654: ("Пётр", "Сидоров"),
    123: ("Тест", "Пользователь"),
    123456789: ("Клиент", "ВКонтакте"),
}


@dataclass
class Call:
    method: str
    params: dict[str, str]


def vk_error(code: int, message: str, method: str, params: dict[str, str]) -> dict[str, Any]:
    shown = [{"key": "method", "value": method}, {"key": "oauth", "value": "1"}]
    shown += [{"key": k, "value": v} for k, v in params.items() if k not in ("access_token",)]
    return {"error": {"error_code": code, "error_msg": message, "request_params": shown}}


TOO_MANY = (6, "Too many requests per second")
NO_PERMISSION = (901, "Can't send messages for users without permission")
FLOOD = (9, "Flood control")


class FakeVkApi:
    def __init__(self, token: str = TOKEN, group_id: int = GROUP_ID) -> None:
        self.token = token
        self.group_id = group_id
        self.url = ""
        self.events: list[dict[str, Any]] = []
        self.first_number = 100  # the number of events[0]
        self.key = "key-1"
        self._keys = itertools.count(2)
        self.next_failure: dict[str, Any] | None = None
        self.calls: list[Call] = []
        self.polls: list[dict[str, str]] = []
        self.delivered: Counter[str] = Counter()
        self.scripted: dict[str, list[tuple[int, str]]] = {}
        self.denied: set[int] = set()
        self.sent: dict[tuple[int, int], int] = {}
        self.sent_texts: list[tuple[int, str, int]] = []
        self.files: dict[str, bytes] = {}
        self.broken_files: set[str] = set()  # answered 503, as a file host in trouble
        self._message_ids = itertools.count(830)
        self.uploads: dict[
            str, tuple[str, str, bytes]
        ] = {}  # token → (field, file name, bytes), not saved yet
        self.saved: dict[str, tuple[str, bytes]] = {}  # "photo-1_457239017" → (file name, bytes)
        self.sent_attachments: list[tuple[int, str]] = []  # (peer, attachment parameter) per new message
        self.sent_keyboards: list[tuple[int, Any]] = []  # (peer, keyboard) per new message with one
        self._media_ids = itertools.count(457239017)
        self._news = asyncio.Event()

    # -- what tests do -----------------------------------------------------------------------------------

    @property
    def ts(self) -> int:
        return self.first_number + len(self.events)

    def push(self, event: dict[str, Any]) -> dict[str, Any]:
        """Queue an event (as the Callback API / long poll carries it); fills group_id, event_id and v."""
        number = self.ts
        full = {
            "group_id": self.group_id,
            "event_id": hashlib.sha1(f"{number}".encode()).hexdigest(),
            "v": "5.199",
            **event,
        }
        self.events.append(full)
        self._news.set()
        return full

    def fail_next_poll(self, failed: int) -> None:
        """The next a_check answers failed 1 (history lost: jump to now), 2 (key expired) or 3 (all lost)."""
        self.next_failure = {"failed": failed}
        if failed in (2, 3):
            self.key = f"key-{next(self._keys)}"  # the old key no longer works
        self._news.set()

    def script(self, method: str, *errors: tuple[int, str]) -> None:
        self.scripted.setdefault(method, []).extend(errors)

    def method_calls(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    # -- the server --------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/method/{name}", self._method)
        app.router.add_get("/lp", self._long_poll)
        app.router.add_get("/files/{name}", self._file)
        app.router.add_post("/upload/{field}", self._upload)
        return app

    async def _method(self, request: web.Request) -> web.Response:
        params: dict[str, str] = dict(request.query)
        if request.can_read_body:
            params.update({k: str(v) for k, v in (await request.post()).items()})
        method = request.match_info["name"]
        shown = {k: v for k, v in params.items() if k not in ("access_token", "v")}
        self.calls.append(Call(method, shown))
        if params.get("access_token") != self.token:
            return web.json_response(
                vk_error(5, "User authorization failed: invalid access_token (4).", method, shown)
            )
        if not params.get("v"):
            return web.json_response(vk_error(8, "Invalid request: v (version) is required", method, shown))
        scripted = self.scripted.get(method)
        if scripted:
            code, message = scripted.pop(0)
            return web.json_response(vk_error(code, message, method, shown))
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response(vk_error(3, "Unknown method passed", method, shown))
        answer = handler(shown)
        if "error" in answer:
            code, message = answer["error"]
            return web.json_response(vk_error(code, message, method, shown))
        return web.json_response(answer)

    def _groups_getLongPollServer(self, params: dict[str, str]) -> dict[str, Any]:
        if params.get("group_id") != str(self.group_id):
            return {
                "error": (
                    100,
                    "One of the parameters specified was missing or invalid: group_id is undefined",
                )
            }
        return {"response": {"key": self.key, "server": f"{self.url}/lp", "ts": str(self.ts)}}

    def _groups_getById(self, params: dict[str, str]) -> dict[str, Any]:
        group = {"id": self.group_id, "name": "Окно", "screen_name": "okno", "is_closed": 0, "type": "group"}
        return {"response": {"groups": [group], "profiles": []}}

    def _users_get(self, params: dict[str, str]) -> dict[str, Any]:
        users = []
        for raw in params.get("user_ids", "").split(","):
            if raw.strip().isdigit() and int(raw) in USERS:
                first, last = USERS[int(raw)]
                users.append(
                    {
                        "id": int(raw),
                        "first_name": first,
                        "last_name": last,
                        "can_access_closed": True,
                        "is_closed": False,
                    }
                )
        return {"response": users}

    def _messages_send(self, params: dict[str, str]) -> dict[str, Any]:
        peer = int(params.get("peer_id") or params.get("user_id") or 0)
        random_id = int(params.get("random_id", "0"))
        if peer in self.denied:
            return {"error": NO_PERMISSION}
        text = params.get("message", "")
        if not text:
            return {
                "error": (100, "One of the parameters specified was missing or invalid: message is empty")
            }
        if len(text) > 4096:
            return {"error": (914, "Message is too long")}
        if (peer, random_id) in self.sent:  # VK does not send one random_id twice
            return {"response": self.sent[(peer, random_id)]}
        attachment = params.get("attachment", "")
        names = [a for a in attachment.split(",") if a]
        unknown = [a for a in names if a.split("_")[0] + "_" + a.split("_")[1] not in self.saved]
        if len(names) > 10 or unknown:
            return {
                "error": (
                    100,
                    f"One of the parameters specified was missing or invalid: attachment {unknown}",
                )
            }
        message_id = next(self._message_ids)
        self.sent[(peer, random_id)] = message_id
        self.sent_texts.append((peer, text, random_id))
        if attachment:
            self.sent_attachments.append((peer, attachment))
        if params.get("keyboard"):
            self.sent_keyboards.append((peer, json.loads(params["keyboard"])))
        self.push(
            {
                "type": "message_reply",
                "object": {
                    "date": int(time.time()),
                    "from_id": -self.group_id,
                    "id": message_id,
                    "out": 1,
                    "peer_id": peer,
                    "text": text,
                    "conversation_message_id": message_id - 800,
                    "fwd_messages": [],
                    "important": False,
                    "random_id": random_id,
                    "attachments": [],
                    "is_hidden": False,
                },
            }
        )
        return {"response": message_id}

    # -- files -----------------------------------------------------------------------------------------

    def _upload_server(self, params: dict[str, str], field: str) -> dict[str, Any]:
        if not params.get("peer_id", "").lstrip("-").isdigit():
            return {"error": (100, "One of the parameters specified was missing or invalid: peer_id")}
        return {
            "response": {
                "album_id": -64,
                "upload_url": f"{self.url}/upload/{field}?peer={params['peer_id']}",
                "user_id": 0,
                "group_id": self.group_id,
            }
        }

    def _photos_getMessagesUploadServer(self, params: dict[str, str]) -> dict[str, Any]:
        return self._upload_server(params, "photo")

    def _docs_getMessagesUploadServer(self, params: dict[str, str]) -> dict[str, Any]:
        if params.get("type") != "doc":
            return {"error": (100, "One of the parameters specified was missing or invalid: type")}
        return self._upload_server(params, "file")

    async def _upload(self, request: web.Request) -> web.Response:
        field = request.match_info["field"]
        form = await request.post()
        part = form.get(field)
        if not isinstance(part, web.FileField):
            return web.json_response({"error": "ERR_UPLOAD_FILE_NOT_UPLOADED: file is undefined"})
        data = part.file.read()
        token = hashlib.sha1(data + part.filename.encode()).hexdigest()
        self.uploads[token] = (field, part.filename, data)
        if field == "photo":
            photo = json.dumps([{"photo": token, "sizes": [], "kid": "k"}])
            return web.json_response({"server": 842, "photo": photo, "hash": _hash(photo)})
        return web.json_response({"file": token})

    def _saved_token(self, token: str, field: str) -> tuple[str, bytes] | None:
        found = self.uploads.pop(token, None)
        if found is None or found[0] != field:
            return None
        return found[1], found[2]

    def _photos_saveMessagesPhoto(self, params: dict[str, str]) -> dict[str, Any]:
        photo = params.get("photo", "")
        if params.get("server") != "842" or params.get("hash") != _hash(photo):
            return {"error": (100, "One of the parameters specified was missing or invalid: hash")}
        found = self._saved_token(json.loads(photo)[0]["photo"], "photo")
        if found is None:
            return {"error": (1, "Unknown error occurred")}
        media_id = next(self._media_ids)
        self.saved[f"photo-{self.group_id}_{media_id}"] = found
        return {
            "response": [
                {
                    "album_id": -64,
                    "date": int(time.time()),
                    "id": media_id,
                    "owner_id": -self.group_id,
                    "access_key": "ak1",
                    "sizes": [],
                    "text": "",
                    "has_tags": False,
                }
            ]
        }

    def _docs_save(self, params: dict[str, str]) -> dict[str, Any]:
        found = self._saved_token(params.get("file", ""), "file")
        if found is None:
            return {"error": (1, "Unknown error occurred")}
        media_id = next(self._media_ids)
        title = params.get("title") or found[0]
        self.saved[f"doc-{self.group_id}_{media_id}"] = (title, found[1])
        doc = {
            "id": media_id,
            "owner_id": -self.group_id,
            "title": title,
            "size": len(found[1]),
            "ext": title.rsplit(".", 1)[-1],
            "date": int(time.time()),
            "type": 1,
            "url": f"{self.url}/files/{media_id}",
        }
        return {"response": {"type": "doc", "doc": doc}}

    async def _long_poll(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.polls.append(query)
        if query.get("act") != "a_check":
            return web.json_response({"failed": 2})
        try:
            ts = int(query["ts"])
        except (KeyError, ValueError):
            return web.json_response({"failed": 1, "ts": self.ts})
        deadline = time.monotonic() + min(float(query.get("wait") or 0), LONG_POLL_CAP)
        while True:  # checked again after every wake-up: a failure asked for meanwhile wins
            if self.next_failure is not None:
                answer, self.next_failure = self.next_failure, None
                if answer["failed"] == 1:
                    answer["ts"] = self.ts
                return web.json_response(answer)
            if query.get("key") != self.key:
                return web.json_response({"failed": 2})
            if ts < self.ts or time.monotonic() >= deadline:
                break
            self._news.clear()
            try:
                await asyncio.wait_for(self._news.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                break
        start = max(0, ts - self.first_number)
        updates = self.events[start:]
        if request.transport is not None and not request.transport.is_closing():  # the client still waits
            for event in updates:
                self.delivered[event["event_id"]] += 1
        return web.json_response({"ts": str(self.ts), "updates": updates})

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["name"] in self.broken_files:
            return web.Response(status=503)
        data = self.files.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")


def _hash(photo: str) -> str:
    return hashlib.md5(photo.encode()).hexdigest()
