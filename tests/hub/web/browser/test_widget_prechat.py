"""The optional pre-chat form: a name and an e-mail or phone before the first message, which land on
the client's card in the inbox."""

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
)


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Hub]]) -> Hub:
    return await hub_factory(accounts={**ACCOUNTS, "site": {**SITE_ACCOUNT, "prechat": True}})


async def test_pre_chat_answers_reach_the_card(browser: Browser, servers: Servers) -> None:
    await make_person(servers.hub, "anna@tea.example", "Анна Петрова", role="admin")
    visitor_context = await new_context(browser)
    agent_context = await new_context(browser)
    try:
        visitor = await visitor_context.new_page()
        await visitor.goto(servers.site_url)
        await visitor.click("[data-okno-widget] .launch")
        form = visitor.locator("[data-okno-widget] form.form")
        await form.locator("input[name=name]").fill("Ирина")
        await form.locator("button[type=submit]").click()
        await expect(form.locator(".err")).to_have_text("Укажите почту или телефон.")
        await form.locator("input[name=phone]").fill("8 916 123-45-67")
        await form.locator("button[type=submit]").click()
        box = visitor.locator("[data-okno-widget] .foot textarea")
        await box.fill("Здравствуйте, хочу заказать пуэр")
        await box.press("Enter")
        await expect(visitor.locator("[data-okno-widget] .m.v .meta")).to_contain_text("отправлено")

        agent = await agent_context.new_page()
        await log_in(agent, servers.hub_url, "anna@tea.example")
        await agent.click(".row")
        card = agent.locator("#part-card")
        await expect(card.locator("h2")).to_have_text("Ирина")
        await expect(card.locator(".ids")).to_contain_text("+79161234567")
    finally:
        await visitor_context.close()
        await agent_context.close()
