"""The widget's configuration carries its words in the visitor's language, from the hub's catalogs: the
account's language first, then the page's data-lang (``?lang=``), then the browser's Accept-Language."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hub.runtime import Hub
from hub.web import create_app
from hub.web.webchat.strings import WIDGET
from inbox.models import Conversation

ACCOUNTS: dict[str, dict[str, Any]] = {
    "site": {"kind": "webchat", "hours": "always", "require_agent_online": False},
    "english": {"kind": "webchat", "language": "en", "hours": "always", "require_agent_online": False},
}


@pytest.fixture
async def served(
    hub_factory: Callable[..., Awaitable[Hub]],
) -> AsyncIterator[tuple[Hub, TestClient[Any, Any]]]:
    hub = await hub_factory(accounts=ACCOUNTS)
    async with TestClient(TestServer(create_app(hub, manage_hub=False))) as client:
        yield hub, client


async def config(client: TestClient[Any, Any], path: str = "/webchat/site/config", **headers: str) -> Any:
    response = await client.get(path, headers=headers)
    assert response.status == 200
    return await response.json()


async def test_a_russian_browser_gets_russian_words_and_default_title(
    served: tuple[Hub, TestClient[Any, Any]],
) -> None:
    _, client = served
    body = await config(client, **{"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.8"})
    assert body["language"] == "ru"
    assert body["strings"]["open"] == "Открыть чат"
    assert body["title"] == "Чат с поддержкой"
    assert body["greeting"] == "Здравствуйте! Напишите нам, мы ответим здесь же."
    assert set(body["strings"]) == set(WIDGET)  # every word widget.js reads


async def test_a_foreign_browser_reads_english_and_a_ukrainian_one_russian(
    served: tuple[Hub, TestClient[Any, Any]],
) -> None:
    _, client = served
    german = await config(client, **{"Accept-Language": "de-DE,de;q=0.9"})
    assert german["language"] == "en" and german["strings"]["send"] == "Send"
    assert german["title"] == "Chat with us"
    ukrainian = await config(client, **{"Accept-Language": "uk-UA,uk;q=0.9"})
    assert ukrainian["language"] == "ru"
    preferring_english = await config(client, **{"Accept-Language": "ru;q=0.5, en-GB"})
    assert preferring_english["language"] == "en"


async def test_data_lang_and_the_account_language_come_before_the_browser(
    served: tuple[Hub, TestClient[Any, Any]],
) -> None:
    _, client = served
    asked = await config(client, "/webchat/site/config?lang=en", **{"Accept-Language": "ru"})
    assert asked["language"] == "en"
    forced = await config(client, "/webchat/english/config?lang=ru", **{"Accept-Language": "ru"})
    assert forced["language"] == "en" and forced["strings"]["agent"] == "Agent"


async def test_the_offline_form_subject_is_in_the_visitors_language(
    served: tuple[Hub, TestClient[Any, Any]],
) -> None:
    hub, client = served
    for lang in ("en", "ru"):
        response = await client.post(
            "/webchat/site/offline",
            json={"id": f"form-{lang}", "email": f"{lang}@example.com", "text": "Hello", "lang": lang},
        )
        assert response.status == 201, await response.text()
    async with hub.sessionmaker() as session:
        subjects = set(await session.scalars(select(Conversation.subject)))
    assert subjects == {"Message from the website form", "Сообщение из формы на сайте"}
