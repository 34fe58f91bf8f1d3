"""The demo's own page, in a real browser: a newcomer opens /demo/site (served by the hub itself, under
the pages' Content-Security-Policy), chats in the widget as a visitor while their agent window is open,
and sees the agent's answer arrive."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from playwright.async_api import Browser, expect

from hub.runtime import Hub
from tests.hub.web.browser.conftest import (
    ACCOUNTS,
    SITE_ACCOUNT,
    Servers,
    log_in,
    make_person,
    new_context,
    screenshot_path,
)


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Hub]]) -> Hub:
    # As `okno demo` configures its web chat: open at any hour, whether or not an agent is online.
    site = {**SITE_ACCOUNT, "hours": "always", "require_agent_online": False, "language": None}
    started = await hub_factory(accounts={**ACCOUNTS, "site": site})
    started.demo_site = "site"
    return started


async def test_a_newcomer_chats_on_the_demo_site_with_their_own_agent_window(
    browser: Browser, servers: Servers
) -> None:
    await make_person(servers.hub, "maria@okno.example", "Мария Иванова", role="admin")
    visitor_context = await new_context(browser, locale="en-US")
    agent_context = await new_context(browser)
    try:
        agent = await agent_context.new_page()
        await log_in(agent, servers.hub_url, "maria@okno.example")
        visitor = await visitor_context.new_page()
        errors: list[str] = []
        visitor.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await visitor.goto(f"{servers.hub_url}/demo/site")
        await expect(visitor.locator("h1")).to_have_text("A client's website, with the chat on it")
        await visitor.click("[data-okno-widget] .launch")
        box = visitor.locator("[data-okno-widget] .foot textarea")
        await box.fill("Hello! Do you deliver to Kazan?")
        await box.press("Enter")
        row = agent.locator(".row", has_text="Do you deliver to Kazan?")
        await expect(row).to_be_visible()
        await row.click()
        reply_box = agent.locator("#reply")
        await reply_box.fill("Yes, in two days.")
        await reply_box.press("Control+Enter")
        await expect(visitor.locator("[data-okno-widget] .m.a:not(.g) .b")).to_have_text("Yes, in two days.")
        await visitor.screenshot(path=screenshot_path("demo-site-1366x768.png"))
        assert errors == []  # nothing refused by the page's Content-Security-Policy
    finally:
        await visitor_context.close()
        await agent_context.close()
