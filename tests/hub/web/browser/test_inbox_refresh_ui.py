"""The inbox in a real browser while events arrive: a click on another conversation is never lost to a
refresh of the one still shown (an event about it landing while the clicked one loads), and a title typed
into the head's task form (a phone line's) survives a refresh of the conversation, as does the message of
a card save the server refused."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import pytest
from playwright.async_api import Browser, Route, expect
from sqlalchemy import select

from hub.runtime import Hub
from inbox.items import IdentityRef, InboundMessage, Sender
from inbox.models import ChannelAccount
from tests.hub.web.api.test_capabilities import conversation_on
from tests.hub.web.browser.conftest import ACCOUNTS, WAIT_MS, Servers, log_in, make_person, new_context
from tests.hub.web.browser.test_search_ui import client_writes
from tests.waiting import event_set

ALLA = IdentityRef("email", "alla@example.com")


async def alla_writes_again(hub: Hub, external: str, text: str) -> None:
    """Through the hub's own sink, as a channel hands an item in: stored, then published to agents."""
    async with hub.sessionmaker() as session:
        account = await session.scalar(select(ChannelAccount.id).where(ChannelAccount.name == "shop"))
    assert account is not None
    sender = Sender((ALLA,), name="Алла")
    await hub.sink(InboundMessage(account_id=account, external_id=external, sender=sender, text=text))


async def test_a_click_on_another_conversation_wins_over_a_refresh_of_the_open_one(
    browser: Browser, servers: Servers
) -> None:
    hub = servers.hub
    await make_person(hub, "anna@tea.example", "Анна Петрова", role="admin")
    first, _ = await client_writes(hub, "n-1", "Здравствуйте, где мой заказ?", ALLA, "Алла")
    boris = IdentityRef("email", "boris@example.com")
    second, _ = await client_writes(hub, "n-2", "Добрый день", boris, "Борис")
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await log_in(page, servers.hub_url, "anna@tea.example")
        await page.goto(f"{servers.hub_url}/inbox/{first}")
        await page.wait_for_selector("#live[data-state=open]")

        # The clicked conversation's part is held back until the open one has had an event.
        release, asked = asyncio.Event(), asyncio.Event()

        async def hold(route: Route) -> None:
            asked.set()
            await event_set(release, "the test releases the clicked conversation")
            await route.continue_()

        await page.route(f"**/inbox/parts/conversation/{second}", hold)
        await page.click(f'.row[data-id="{second}"]')
        await event_set(asked, "the browser asks for the clicked conversation")
        async with page.expect_response(lambda r: "/inbox/parts/list" in r.url, timeout=WAIT_MS):
            await alla_writes_again(hub, "n-3", "И ещё вопрос про доставку")
        release.set()

        await expect(page.locator(".conv-head")).to_have_attribute("data-conversation", str(second))
        await expect(page).to_have_url(re.compile(f"/inbox/{second}\\?"))
        await expect(page.locator(f'.row[data-id="{second}"]')).to_have_attribute("aria-current", "true")
    finally:
        await context.close()


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Hub]]) -> Hub:
    return await hub_factory(accounts={**ACCOUNTS, "pbx": {"kind": "sip", "enabled": False}})


async def test_a_task_title_being_typed_survives_a_refresh_of_the_conversation(
    browser: Browser, servers: Servers
) -> None:
    hub = servers.hub
    anna = await make_person(hub, "anna@tea.example", "Анна Петрова", role="admin")
    call = await conversation_on(hub, "pbx", ("phone", "+74951234567"))
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await log_in(page, servers.hub_url, "anna@tea.example")
        await page.goto(f"{servers.hub_url}/inbox/{call}")
        await page.wait_for_selector("#live[data-state=open]")
        title = page.locator(".phone-actions .task-form input[name=title]")
        await title.fill("Отправить счёт")
        # Assigning re-renders the conversation's head, the task form in it included.
        async with page.expect_response(
            lambda r: f"/inbox/parts/conversation/{call}" in r.url, timeout=WAIT_MS
        ) as refreshed:
            await page.select_option('select[data-action="assign"]', str(anna))
        await (await refreshed.value).finished()
        await expect(page.locator('select[data-action="assign"] option:checked')).to_contain_text("Анна")
        await expect(title).to_have_value("Отправить счёт")
        await title.press("Enter")
        await expect(page.locator("#task-status")).to_have_text("Задача создана")
    finally:
        await context.close()


async def test_a_key_pressed_on_a_card_button_after_a_refresh_reaches_the_new_button(
    browser: Browser, servers: Servers
) -> None:
    """The card is re-rendered on events; the button the agent had focused ("+ field" in edit mode) is
    focused again in the new card, so the Enter they press next is not lost to the page's body (a CI run
    lost it: the card test waited for the new field's row that never came)."""
    hub = servers.hub
    await make_person(hub, "anna@tea.example", "Анна Петрова", role="admin")
    first, _ = await client_writes(hub, "n-1", "Здравствуйте, где мой заказ?", ALLA, "Алла")
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await log_in(page, servers.hub_url, "anna@tea.example")
        await page.goto(f"{servers.hub_url}/inbox/{first}")
        await page.wait_for_selector("#live[data-state=open]")
        await page.locator('#part-card [data-card="edit"]').press("Enter")
        await expect(page.locator("#card-edit")).to_be_visible()
        add = page.locator('#part-card [data-card="cf-add"]')
        await add.focus()
        async with page.expect_response(
            lambda r: f"/inbox/parts/conversation/{first}" in r.url, timeout=WAIT_MS
        ) as refreshed:
            await alla_writes_again(hub, "n-2", "И ещё вопрос про доставку")
        await (await refreshed.value).finished()
        await expect(page.locator("#part-timeline")).to_contain_text("И ещё вопрос про доставку")
        await expect(add).to_be_focused()
        await page.keyboard.press("Enter")  # wherever the focus is now, as a person's key would go
        await expect(page.locator('#part-card input[name="cf_key_0"]')).to_be_focused()
    finally:
        await context.close()


async def test_a_refused_card_save_keeps_its_message_through_a_refresh(
    browser: Browser, servers: Servers
) -> None:
    """The server's message under the card form and the field it marked stay while the agent corrects
    them, though an event re-renders the card; a save that then succeeds clears them."""
    hub = servers.hub
    await make_person(hub, "anna@tea.example", "Анна Петрова", role="admin")
    first, _ = await client_writes(hub, "n-1", "Здравствуйте, где мой заказ?", ALLA, "Алла")
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await log_in(page, servers.hub_url, "anna@tea.example")
        await page.goto(f"{servers.hub_url}/inbox/{first}")
        await page.wait_for_selector("#live[data-state=open]")
        await page.locator('#part-card [data-card="edit"]').press("Enter")
        tags = page.locator("#ce-tags")
        await tags.fill("x" * 60)
        await tags.press("Enter")
        error = page.locator("#part-card .card-error")
        await expect(error).to_contain_text("tags")
        said = await error.text_content()
        async with page.expect_response(
            lambda r: f"/inbox/parts/conversation/{first}" in r.url, timeout=WAIT_MS
        ) as refreshed:
            await alla_writes_again(hub, "n-2", "И ещё вопрос про доставку")
        await (await refreshed.value).finished()
        await expect(page.locator("#part-timeline")).to_contain_text("И ещё вопрос про доставку")
        await expect(error).to_have_text(said or "")
        await expect(tags).to_have_attribute("aria-invalid", "true")
        await expect(tags).to_have_value("x" * 60)

        await tags.fill("vip")
        await tags.press("Enter")
        await expect(page.locator("#card-edit")).to_be_hidden()
        await expect(page.locator("#part-card .card-tags .tag")).to_have_text(["vip"])
        await page.locator('#part-card [data-card="edit"]').press("Enter")
        await expect(error).to_have_text("")
        await expect(tags).not_to_have_attribute("aria-invalid", "true")
    finally:
        await context.close()
