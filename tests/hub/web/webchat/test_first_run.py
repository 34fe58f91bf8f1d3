"""A first run's web chat: a refused site is logged with the reason, the offline form promises an e-mail
answer only when an e-mail account gives one, and the demo's own page exists only in the demo."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub.runtime import Hub
from hub.web import create_app

ACCOUNTS: dict[str, dict[str, Any]] = {
    "shop": {"kind": "webchat", "allowed_origins": ["https://shop.example"], "reply_by_email": "mail"},
    "site": {"kind": "webchat"},  # no reply_by_email: offline messages are answered in the chat
    # Nothing listens on port 9: the mail connector keeps retrying, which does not matter here.
    "mail": {
        "kind": "email",
        "host": "127.0.0.1",
        "port": 9,
        "security": "plain",
        "login": "support@example.com",
        "password": "x",
    },
}


@pytest.fixture
async def served(
    hub_factory: Callable[..., Awaitable[Hub]],
) -> AsyncIterator[tuple[Hub, TestClient[Any, Any]]]:
    hub = await hub_factory(accounts=ACCOUNTS)
    async with TestClient(TestServer(create_app(hub, manage_hub=False))) as client:
        yield hub, client


async def test_a_refused_origin_is_logged_with_its_reason(
    served: tuple[Hub, TestClient[Any, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    _, client = served

    def said() -> list[str]:  # the web chat's own lines (the hub's connectors log beside them)
        return [r.getMessage() for r in caplog.records if r.name == "hub.web.webchat.routes"]

    with caplog.at_level(logging.WARNING, logger="hub.web.webchat.routes"):
        allowed = await client.get("/webchat/shop/config", headers={"Origin": "https://shop.example"})
        assert allowed.status == 200
        assert not said()
        refused = await client.get("/webchat/shop/config", headers={"Origin": "https://evil.example"})
        assert refused.status == 403
    assert said() == [
        "web chat shop: refused GET /webchat/shop/config from https://evil.example: "
        "it is not in allowed_origins (https://shop.example)"
    ]


async def test_the_offline_form_promises_e_mail_only_when_an_e_mail_account_answers_it(
    served: tuple[Hub, TestClient[Any, Any]],
) -> None:
    _, client = served
    by_mail = await (
        await client.get("/webchat/shop/config?lang=en", headers={"Origin": "https://shop.example"})
    ).json()
    assert by_mail["strings"]["offlineHint"] == "Leave a message and we will answer by e-mail."
    assert by_mail["strings"]["thanks"] == "Thank you! We will answer by e-mail."
    in_chat = await (await client.get("/webchat/site/config?lang=en")).json()
    for key in ("offlineHint", "thanks"):
        assert "e-mail" not in in_chat["strings"][key]
    assert in_chat["strings"]["thanks"] == "Thank you! We will answer here, in this chat."
    russian = await (await client.get("/webchat/site/config?lang=ru")).json()
    assert russian["strings"]["thanks"] == "Спасибо! Мы ответим здесь, в этом чате."


async def test_the_demo_site_is_served_only_in_demo_mode(served: tuple[Hub, TestClient[Any, Any]]) -> None:
    hub, client = served
    assert (await client.get("/demo/site")).status == 404
    hub.demo_site = "site"
    page = await client.get("/demo/site", headers={"Accept-Language": "en"})
    assert page.status == 200
    html = await page.text()
    assert '<script src="/widget.js" data-account="site" data-lang="en" async></script>' in html
    assert "This page stands in for your website." in html
