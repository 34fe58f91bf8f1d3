"""Browser fixtures: Debian's Chromium driven by Playwright (never a downloaded browser), the hub's app
served on 127.0.0.1, and a customer's site on another origin that embeds the widget with one tag.

Screenshots go outside the repository: to $OKNO_SCREENSHOTS, or /tmp/okno-screenshots.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright, expect

from hub.runtime import Hub
from hub.web import create_app
from inbox.agents import create_agent
from tests.conftest import require_service
from tests.hub.web.conftest import PASSWORD
from tests.waiting import WAIT_CEILING

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREEN: ViewportSize = {"width": 1366, "height": 768}
SHOTS = Path(os.environ.get("OKNO_SCREENSHOTS") or "/tmp/okno-screenshots")
# Every Playwright wait (actions, navigations, expect) has the suite's one ceiling, not Playwright's 5 s.
WAIT_MS = WAIT_CEILING * 1000
expect.set_options(timeout=WAIT_MS)

SITE_ACCOUNT: dict[str, Any] = {
    "kind": "webchat",
    "title": "Поддержка «Чайной лавки»",
    "greeting": "Здравствуйте! Подскажем с выбором и доставкой — пишите.",
    "color": "#1f6f5c",
    "language": "ru",
    "hours": "always",
    "require_agent_online": False,
}
ACCOUNTS: dict[str, dict[str, Any]] = {
    "site": SITE_ACCOUNT,
    "shop": {"kind": "api", "token": "t0ken", "team": "Продажи"},
}

SITE_PAGE = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>Чайная лавка</title>
<style>
  body {{ margin: 0; font: 16px/1.6 Georgia, serif; color: #2b2620; background: #faf6ef; }}
  header {{ padding: 22px 48px; border-bottom: 1px solid #e8dfcf; font-size: 22px; letter-spacing: .02em; }}
  main {{ max-width: 760px; padding: 40px 48px; }}
  h1 {{ font-weight: normal; font-size: 40px; margin: 0 0 12px; }}
  .tea {{ display: inline-block; width: 200px; height: 120px; margin: 18px 18px 0 0; border-radius: 12px;
          background: linear-gradient(135deg, #c9d8b6, #7fa36b); }}
  .tea.b {{ background: linear-gradient(135deg, #e9c8a0, #b5773e); }}
</style></head>
<body><header>Чайная лавка · с 1998 года</header>
<main><h1>Пуэры, улуны и зелёные чаи</h1>
<p>Собираем чай у небольших хозяйств и отправляем по всей России за 1–3 дня.</p>
<div class="tea"></div><div class="tea b"></div><div class="tea"></div>
</main>
<script src="{hub}/widget.js" data-account="site" async></script>
</body></html>
"""


@dataclass(frozen=True, slots=True)
class Servers:
    hub: Hub
    app: web.Application
    hub_url: str
    site_url: str


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    require_service("chromium", CHROMIUM.exists(), f"{CHROMIUM} (apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Hub]]) -> Hub:
    return await hub_factory(accounts=ACCOUNTS)


@pytest.fixture
async def servers(hub: Hub) -> AsyncIterator[Servers]:
    app = create_app(hub, manage_hub=False)
    hub_server = TestServer(app, host="127.0.0.1")
    await hub_server.start_server()
    hub_url = str(hub_server.make_url("")).rstrip("/")

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=SITE_PAGE.format(hub=hub_url), content_type="text/html")

    site = web.Application()
    site.router.add_get("/", page)
    site_server = TestServer(site, host="127.0.0.1")  # another port: another origin
    await site_server.start_server()
    try:
        yield Servers(hub, app, hub_url, str(site_server.make_url("/")))
    finally:
        await site_server.close()
        await hub_server.close()


async def new_context(browser: Browser, locale: str = "ru-RU") -> BrowserContext:
    context = await browser.new_context(viewport=SCREEN, locale=locale, timezone_id="Europe/Moscow")
    context.set_default_timeout(WAIT_MS)
    context.set_default_navigation_timeout(WAIT_MS)
    return context


async def make_person(
    hub: Hub, email: str, name: str, role: str = "agent", teams: tuple[str, ...] = ()
) -> int:
    async with hub.sessionmaker() as session:
        agent = await create_agent(
            session, email=email, name=name, password=PASSWORD, role=role, team_names=teams
        )
        await session.commit()
        return agent.id


async def log_in(page: Page, hub_url: str, email: str, *, screenshot: str | None = None) -> None:
    await page.goto(f"{hub_url}/login")
    if screenshot:
        await page.screenshot(path=screenshot_path(screenshot))
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    async with page.expect_navigation(url=f"{hub_url}/inbox*"):  # the form posts, then 303 to the inbox
        await page.click("button[type=submit]")
    await page.wait_for_selector("#live[data-state=open]")


def screenshot_path(name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / name
