"""With nobody to answer, the widget offers the offline form; its message becomes a normal conversation
with the visitor's e-mail on the card, and the visitor sees it in the chat afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

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
async def hub(hub_factory: Callable[..., Awaitable[Hub]]) -> AsyncIterator[Hub]:
    site = {**SITE_ACCOUNT, "require_agent_online": True, "language": None}
    yield await hub_factory(accounts={**ACCOUNTS, "site": site})


async def test_the_offline_form_reaches_the_inbox(browser: Browser, servers: Servers) -> None:
    await make_person(servers.hub, "anna@tea.example", "Анна Петрова", role="admin")
    visitor_context = await new_context(browser, locale="en-US")  # no language set: the browser's
    try:
        visitor = await visitor_context.new_page()
        await visitor.goto(servers.site_url)
        await visitor.click("[data-okno-widget] .launch")
        form = visitor.locator("[data-okno-widget] form.form")
        await expect(form).to_contain_text("Leave a message")
        await expect(visitor.locator("[data-okno-widget] .sub")).to_have_text("We are away right now")
        await form.locator("input[name=name]").fill("Oleg")
        await form.locator("input[name=email]").fill("oleg@example.com")
        await form.locator("textarea[name=text]").fill("Please call me back about a wholesale order.")
        await visitor.screenshot(path=screenshot_path("widget-offline-1366x768.png"))
        await form.locator("button[type=submit]").click()
        # No e-mail account answers this widget's form (no reply_by_email): the answer comes in the chat.
        await expect(visitor.locator("[data-okno-widget] .typing")).to_have_text(
            "Thank you! We will answer here, in this chat."
        )
        await expect(visitor.locator("[data-okno-widget] .m.v .b")).to_have_text(
            ["Please call me back about a wholesale order."]
        )
    finally:
        await visitor_context.close()
    agent_context = await new_context(browser)
    try:
        agent = await agent_context.new_page()
        await log_in(agent, servers.hub_url, "anna@tea.example")
        await agent.click(".row")
        await expect(agent.locator(".timeline .msg.in")).to_contain_text("Сообщение из формы")
        await expect(agent.locator("#part-card .ids")).to_contain_text("oleg@example.com")
        await expect(agent.locator(".conv-head .sub")).to_contain_text(
            "Message from the website form"
        )  # the visitor's language
    finally:
        await agent_context.close()
