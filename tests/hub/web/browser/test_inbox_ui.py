"""The agent inbox in a real browser: queues and filters, the cross-channel timeline with delivery
states, the card with a duplicate to merge, notes, assign, resolve / snooze / reopen, English, and the
keyboard. Saves the inbox screenshots at 1366×768."""

from __future__ import annotations

import re

from playwright.async_api import Browser, Page, expect

from tests.hub.web.browser.conftest import Servers, log_in, new_context, screenshot_path
from tests.hub.web.browser.seed import Seeded, seed


async def open_inbox(browser: Browser, servers: Servers, path: str, locale: str = "ru-RU") -> Page:
    context = await new_context(browser, locale=locale)
    page = await context.new_page()
    await log_in(page, servers.hub_url, "anna@tea.example")
    await page.goto(servers.hub_url + path)
    await page.wait_for_selector("#live[data-state=open]")
    return page


async def test_the_inbox_shows_the_clients_whole_story_and_acts_on_it(
    browser: Browser, servers: Servers
) -> None:
    data: Seeded = await seed(servers.hub)
    page = await open_inbox(browser, servers, f"/inbox/{data.telegram}")
    try:
        # The list: every open dialog Anna may see, unanswered counts, the queues' counts.
        await expect(page.locator(".list-head h1")).to_have_text("Открытые диалоги")
        await expect(page.locator(f'.row[data-id="{data.telegram}"] .badge')).to_have_text("1")
        await expect(page.locator(".row", has_text="Дмитрий Волков").locator(".badge")).to_have_text("2")
        await expect(page.locator('[data-count="all"]')).to_have_text("6")
        # The timeline: e-mail, calls, Telegram, a note, delivery states.
        timeline = page.locator(".timeline")
        await expect(timeline.locator(".thread")).to_have_count(2)
        await expect(timeline.locator(".call")).to_have_count(2)
        await expect(timeline.locator(".call.d-missed")).to_contain_text("пропущен")
        await expect(timeline.locator(".msg.note")).to_contain_text("Проверил в СДЭК")
        await expect(timeline.locator(".dlv-delivered")).to_contain_text("доставлено")
        await expect(timeline.locator(".dlv-sent")).to_contain_text("отправлено")
        # The card: identities from every channel, the owner, the duplicate warning.
        card = page.locator("#part-card")
        await expect(card.locator(".ids li")).to_have_count(3)
        await expect(card.locator(".dup")).to_contain_text("Возможный дубль")
        await page.screenshot(path=screenshot_path("inbox-1366x768.png"))
        await page.locator("#part-timeline").evaluate("e => { e.scrollTop = 0; }")
        await page.screenshot(path=screenshot_path("inbox-history-1366x768.png"))

        # Keyboard: Tab reaches the list, the conversation's controls, the reply box and the merge button.
        reached: set[str] = set()
        await page.focus("body")
        for _ in range(60):
            await page.keyboard.press("Tab")
            reached.add(
                await page.evaluate(
                    "() => { const e = document.activeElement; return e.getAttribute('data-action') || e.id"
                    " || e.className || e.tagName }"
                )
            )
        assert {"row", "assign", "team", "snooze", "status", "reply", "send", "merge"} <= reached, reached

        # An internal note, sent with Ctrl+Enter, stays internal (no delivery state).
        await page.click('.tabs button[data-mode="note"]')
        await page.fill("#reply", "Предложить курьера до двери, +300 ₽")
        await page.press("#reply", "Control+Enter")
        note = timeline.locator(".msg.note", has_text="курьера")
        await expect(note).to_be_visible()
        await expect(note.locator(".dlv")).to_have_count(0)

        # Assign to Boris; the list follows.
        await page.select_option('select[data-action="assign"]', label="Борис Смирнов")
        await expect(page.locator(f'.row[data-id="{data.telegram}"] .assignee')).to_have_text("Борис Смирнов")
        # Resolve, reopen, snooze.
        await page.click('button[data-status="resolved"]')
        await expect(page.locator(".conv-head .status")).to_have_text("Решён")
        await page.click('button[data-status="open"]')
        await expect(page.locator(".conv-head .status")).to_have_text("Открыт")
        await page.select_option('select[data-action="snooze"]', "1h")
        await expect(page.locator(".conv-head .status")).to_contain_text("Отложен")
        await page.click('button[data-status="open"]')

        # Merge the duplicate card: the warning goes, the other card's identity comes over.
        await page.click('button[data-action="merge"]')
        await expect(card.locator(".dup")).to_have_count(0)
        await expect(card.locator(".ids")).to_contain_text("shop:crm-881")

        # A failed reply shows why.
        await page.click(f'.row[data-id="{data.failed}"]')
        await expect(page).to_have_url(re.compile(f"/inbox/{data.failed}"))
        await expect(timeline.locator(".dlv-failed")).to_contain_text("не доставлено")
        await expect(timeline.locator(".dlv-error")).to_contain_text("запретил сообщения")

        # Filters and queues live in the URL.
        async with page.expect_navigation():  # a filter submits its form
            await page.select_option("#f-channel", "telegram")
        await expect(page.locator(".row")).to_have_count(1)
        async with page.expect_navigation(url=re.compile("status=any")):
            await page.select_option("#f-status", "any")
        async with page.expect_navigation():
            await page.click('a[data-queue="mine"]')
        await expect(page.locator(".rows .none")).to_be_visible()  # the Telegram dialog is Boris's now
    finally:
        await page.context.close()


async def test_the_inbox_speaks_english_and_keeps_the_choice(browser: Browser, servers: Servers) -> None:
    data = await seed(servers.hub)
    page = await open_inbox(browser, servers, f"/inbox/{data.telegram}", locale="en-GB")
    try:
        await expect(page.locator(".list-head h1")).to_have_text("Open conversations")
        await expect(page.locator('button[data-status="resolved"]')).to_contain_text("Resolve")
        await expect(page.locator(".timeline .call.d-missed")).to_contain_text("missed")
        await page.screenshot(path=screenshot_path("inbox-en-1366x768.png"))
        async with page.expect_navigation():
            await page.click('.langs a[hreflang="ru"]')
        await expect(page.locator(".list-head h1")).to_have_text("Открытые диалоги")
        await page.goto(servers.hub_url + "/inbox")  # the switch is remembered
        await expect(page.locator("html")).to_have_attribute("lang", "ru")
    finally:
        await page.context.close()
