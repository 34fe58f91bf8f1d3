"""No secret in the logs: the real app, served with the runner options `okno run` uses, is driven through
every route that can carry a secret while every log record (the access log and our own loggers at DEBUG)
is captured; none may contain any configured secret."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hub.cli import QUIET_LOGGERS
from hub.runtime import Hub
from hub.web import create_app
from hub.web.access_log import RUNNER_OPTIONS, redact_url
from hub.web.context import HUB
from tests.channels.ready import ready_connector
from tests.channels.telegram.fake_bot_api import FakeBotApi
from tests.channels.vk.fake_vk_api import FakeVkApi
from tests.channels.webchat.conftest import SITE, Visitor
from tests.hub.web.conftest import PASSWORD, make_agent
from tests.waiting import next_frame

API_CHANNEL_TOKEN = "api-channel-s3cret-4a7f"
PBX_TOKEN = "pbx-path-s3cret-9c1e"
TG_SECRET = "tg-header-s3cret-5b2d"
VK_SECRET = "vk-body-s3cret-7e3a"


@pytest.mark.parametrize(
    ("url", "logged"),
    [
        ("/api/v1/ws?token=okno_abc", "/api/v1/ws?token=***"),
        (
            "/api/v1/ws?lang=ru&access_token=x&identifier_hash=y",
            "/api/v1/ws?lang=ru&access_token=***&identifier_hash=***",
        ),
        ("/hooks/pbx/s3cret", "/hooks/pbx/***"),
        ("/hooks/pbx/s3cret/more?x=1", "/hooks/pbx/***?x=1"),
        ("/hooks/tg", "/hooks/tg"),
        ("/login?next=/inbox", "/login?next=/inbox"),
        ("https://hub.example/api/v1/ws?api_key=k#f", "https://hub.example/api/v1/ws?api_key=***#f"),
    ],
)
def test_secret_parts_of_urls_are_masked(url: str, logged: str) -> None:
    assert redact_url(url) == logged


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage() + (self.format(record) if record.exc_info else ""))


@pytest.fixture
def records() -> Any:
    """Every record, from DEBUG up, as `okno --debug` logs (the levels are restored after)."""
    handler = Records()
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *QUIET_LOGGERS)}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # as `okno --debug` sets up logging
    for name, floor in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(floor)
    yield handler
    root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@asynccontextmanager
async def quiet(api: Any) -> AsyncIterator[Any]:
    """A fake platform API served without an access log (its URLs carry the bot token by design; they
    are not the hub's log)."""
    server = TestServer(api.app())
    await server.start_server(access_log=None)
    api.url = str(server.make_url("")).rstrip("/")
    try:
        yield api
    finally:
        await server.close()


async def hook(
    client: TestClient[web.Request, web.Application],
    path: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Any:
    """POST a webhook to a connector that receives (``ready``: no 503 for a connector still starting)."""
    account = path.split("/")[2]
    await ready_connector(client.app[HUB], account)
    return await client.post(path, json=body, headers=headers)


async def test_no_configured_secret_reaches_any_log(
    hub_factory: Callable[..., Awaitable[Hub]], tmp_path: Path, records: Records
) -> None:
    async with quiet(FakeBotApi()) as bot_api, quiet(FakeVkApi()) as vk_api:
        accounts: dict[str, dict[str, Any]] = {
            "shop": {"kind": "api", "token": API_CHANNEL_TOKEN},
            "site": SITE,
            "pbx": {"kind": "sip", "source": "cti", "token": PBX_TOKEN},
            "tg": {
                "kind": "telegram",
                "token": bot_api.token,
                "secret": TG_SECRET,
                "mode": "webhook",
                "webhook_url": "https://hub.example/hooks/tg",
                "api_base": bot_api.url,
            },
            "vk": {
                "kind": "vk",
                "mode": "callback",
                "token": vk_api.token,
                "secret": VK_SECRET,
                "confirmation": "5e6f7a8b",
                "group_id": vk_api.group_id,
                "api_base": f"{vk_api.url}/method",
            },
        }
        hub = await hub_factory(accounts=accounts, attachments_dir=str(tmp_path / "attachments"))
        agent = await make_agent(hub, "anna@okno.example.com", role="admin")
        secrets = [API_CHANNEL_TOKEN, PBX_TOKEN, TG_SECRET, VK_SECRET, bot_api.token, vk_api.token]
        secrets += [agent.token, PASSWORD]
        server = TestServer(create_app(hub, manage_hub=False))
        await server.start_server(**RUNNER_OPTIONS)  # as `okno run` serves the app
        async with TestClient(server) as client:
            secrets += await _every_door(client, agent.token, agent.email, vk_api.group_id)
    lines = "\n".join(records.lines)
    assert "GET /api/v1/ws?token=***" in lines  # the access log was on, and masked
    assert "POST /hooks/pbx/***" in lines
    leaked = [secret for secret in secrets if secret in lines]
    assert not leaked, f"secrets in the log: {leaked}"


async def _every_door(
    client: TestClient[web.Request, web.Application], token: str, email: str, group: int
) -> list[str]:
    """Drive every route that carries a secret; the secrets it learnt on the way (cookie, CSRF, visitor)."""
    bearer = {"Authorization": f"Bearer {token}"}
    learnt: list[str] = []
    for connect in (
        client.ws_connect(f"/api/v1/ws?token={token}"),
        client.ws_connect("/api/v1/ws", headers=bearer),
    ):
        async with connect as ws:
            assert (await next_frame(ws))["type"] == "hello"
    async with client.ws_connect("/api/v1/ws") as ws:
        await ws.send_json({"type": "auth", "token": token})
        assert (await next_frame(ws))["type"] == "hello"
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status == 200
    learnt.append((await login.json())["csrf_token"])
    learnt += [cookie.value for cookie in client.session.cookie_jar]
    wrong = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD + "!"})
    assert wrong.status == 401
    form = await client.get("/login?next=/inbox")
    assert form.status in (200, 302)
    sent = await client.post(
        "/api/v1/channels/shop/messages",
        json={"external_id": "m-1", "sender": {"email": "olga@example.ru"}, "text": "Здравствуйте"},
        headers={"Authorization": f"Bearer {API_CHANNEL_TOKEN}"},
    )
    assert sent.status == 201, await sent.text()
    async with client.ws_connect("/webchat/site/ws") as ws:
        visitor = Visitor(ws)
        visitor_token = (await visitor.hello())["token"]
        learnt.append(visitor_token)
    async with client.ws_connect("/webchat/site/ws") as ws:
        await Visitor(ws).hello(visitor_token)
    call = {
        "event": "newCall",
        "from": "+79139097332",
        "to": "+74951234567",
        "direction": "in",
        "callId": "c1",
    }
    assert (await hook(client, f"/hooks/pbx/{PBX_TOKEN}", call)).status == 200
    assert (await hook(client, "/hooks/pbx/wrong-token", call)).status == 403
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 1700000000,
            "chat": {"id": 5, "type": "private"},
            "from": {"id": 5, "is_bot": False, "first_name": "Ира"},
            "text": "Привет",
        },
    }
    telegram = await hook(client, "/hooks/tg", update, {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
    assert telegram.status == 200, await telegram.text()
    confirm = {"type": "confirmation", "group_id": group, "secret": VK_SECRET}
    assert (await hook(client, "/hooks/vk", confirm)).status == 200
    return learnt
