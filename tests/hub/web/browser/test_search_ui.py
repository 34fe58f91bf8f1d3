"""The inbox's search in a real browser: "/" focuses the box, an order number written in a message is found
and Enter opens its conversation, a Russian inflected form finds the word, a card found by name can be
merged into the open card (a supervisor), and the English page. Saves the search panel's screenshot."""

from __future__ import annotations

import re

from playwright.async_api import Browser, expect
from sqlalchemy import select

from hub.runtime import Hub
from inbox.ingest import ingest
from inbox.items import IdentityRef, InboundMessage, Sender
from inbox.models import ChannelAccount, Contact
from tests.hub.web.browser.conftest import Servers, log_in, make_person, new_context, screenshot_path


async def client_writes(
    hub: Hub, external: str, text: str, identity: IdentityRef, name: str
) -> tuple[int, int]:
    """A message through ingest on the "shop" account (team Продажи); (conversation id, card id)."""
    async with hub.sessionmaker() as session:
        account = await session.scalar(select(ChannelAccount.id).where(ChannelAccount.name == "shop"))
        assert account is not None
        item = InboundMessage(
            account_id=account, external_id=external, sender=Sender((identity,), name=name), text=text
        )
        result = await ingest(session, item, hub.policy)
        return result.conversation_id, result.contact_id


async def test_search_finds_an_order_number_and_an_inflected_word_and_opens_them(
    browser: Browser, servers: Servers
) -> None:
    hub = servers.hub
    await make_person(hub, "anna@tea.example", "Анна Петрова", role="supervisor", teams=("Продажи",))
    order, _ = await client_writes(
        hub,
        "m-1",
        "Добрый день! Где мой заказ A-10234? Оплатила вчера.",
        IdentityRef("email", "irina@example.com"),
        "Ирина Орлова",
    )
    delivery, _ = await client_writes(
        hub, "m-2", "Когда будет доставка в Тверь?", IdentityRef("phone", "+79130000002"), "Пётр Ильин"
    )
    _, twin = await client_writes(
        hub, "m-3", "Это снова я, с другого номера", IdentityRef("phone", "+79130000003"), "Ирина Орлова"
    )
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await log_in(page, servers.hub_url, "anna@tea.example")
        box = page.locator("#search-q")
        # "/" from anywhere outside a field focuses the box.
        await page.locator(".list-head h1").click()
        await page.keyboard.press("/")
        await expect(box).to_be_focused()
        await box.press_sequentially("A-10234")
        panel = page.locator("#search-panel")
        await expect(panel.locator('.hit[data-hit="message"]')).to_have_count(1)
        await expect(panel.locator(".snippet mark")).to_have_text("A-10234")
        await expect(panel.locator('.hit[data-hit="conversation"]')).to_have_count(1)
        await page.screenshot(path=screenshot_path("search-order-number-1366x768.png"))
        await box.press("Enter")
        await expect(page).to_have_url(re.compile(rf"/inbox/{order}$"))
        await expect(page.locator(".conv-head")).to_have_attribute("data-conversation", str(order))

        # "доставкой" finds "доставка"; ArrowDown reaches the result, Enter opens it.
        await page.wait_for_selector("#live[data-state=open]")
        await page.keyboard.press("/")
        await expect(box).to_be_focused()
        await box.press_sequentially("доставкой")
        hit = panel.locator('.hit[data-hit="message"]')
        await expect(hit).to_have_count(1)
        await expect(hit.locator("mark")).to_have_text("доставка")
        await box.press("ArrowDown")
        await expect(hit).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page).to_have_url(re.compile(rf"/inbox/{delivery}$"))

        # With Irina's first dialog open, her second card is offered to merge into the open card.
        await page.goto(f"{servers.hub_url}/inbox/{order}")
        await page.wait_for_selector("#live[data-state=open]")
        await page.keyboard.press("/")
        await box.press_sequentially("Ирина")
        merge = panel.locator(f'button[data-action="merge"][data-merge="{twin}"]')
        await expect(merge).to_have_text("Объединить с открытой карточкой")
        await expect(panel.locator('button[data-action="merge"]')).to_have_count(
            1
        )  # not the open card itself
        await merge.click()
        await expect(page.locator("#part-card .ids li")).to_have_count(2)
        async with hub.sessionmaker() as session:
            merged = await session.get_one(Contact, twin)
            assert merged.merged_into_id is not None

        # English, and a query with nothing to search says so instead of failing.
        await page.goto(f"{servers.hub_url}/inbox?lang=en")
        await expect(box).to_have_attribute("placeholder", "Search ( / )")
        await box.fill("?!")
        await expect(panel.locator(".search-none")).to_have_text(
            "Type a word, an order number or a phone number"
        )
        await box.fill("nonexistentword")
        await expect(panel.locator(".search-none")).to_have_text("Nothing found")
        await box.press("Escape")
        await expect(panel).to_be_hidden()
    finally:
        await context.close()
