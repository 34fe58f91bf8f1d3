"""The client card's edit mode in a real browser: name, company, kind (lead → client), owner, tags and
custom fields saved and seen after a reload; a field the server refuses marked with its message; an
identity added (normalized), refused when another card holds it (the merge box then finds that card), and
removed; and a merge from the card's "Merge with…" box, both cards side by side before the confirm.
Everything is reached from the keyboard. Saves the card's screenshot with the two cards side by side."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import Browser, BrowserContext, Dialog, Locator, Page, Route, expect
from sqlalchemy import select

from hub.runtime import Hub
from inbox.ingest import ingest
from inbox.items import IdentityRef, InboundMessage, Sender
from inbox.models import ChannelAccount
from tests.hub.web.browser.conftest import Servers, make_person, new_context, screenshot_path
from tests.hub.web.conftest import PASSWORD
from tests.waiting import resolved


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


async def reopened(context: BrowserContext, page: Page) -> tuple[Page, Locator]:
    """The same URL in a new tab (what a reload shows), and its card. The old tab stays open: a reload
    would cut the fragment requests its refreshes have open, and a request cut mid-transaction can leave
    SQLite's write lock held under the suite's nesting check (see this branch's report)."""
    fresh = await context.new_page()
    await fresh.goto(page.url)
    await fresh.wait_for_selector("#live[data-state=open]")
    return fresh, fresh.locator("#part-card")


async def open_edit(page: Page) -> None:
    """The "Edit" button from the keyboard: focused, then Enter."""
    button = page.locator('#part-card [data-card="edit"]')
    await button.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#card-edit")).to_be_visible()
    await expect(page.locator("#ce-name")).to_be_focused()


async def test_an_agent_edits_the_card_its_identities_and_merges_a_card_found_by_search(
    browser: Browser, servers: Servers
) -> None:
    hub = servers.hub
    await make_person(hub, "anna@tea.example", "Анна Петрова", role="supervisor", teams=("Продажи",))
    await make_person(hub, "kate@tea.example", "Катя Смирнова", teams=("Продажи",))
    conv, _ = await client_writes(
        hub, "m-1", "Добрый день! Хочу заказать пуэр.", IdentityRef("email", "irina@example.com"), "Ирина"
    )
    _, petr = await client_writes(
        hub, "m-2", "Когда доставка?", IdentityRef("phone", "+79130000002"), "Пётр Ильин"
    )
    _, twin = await client_writes(
        hub, "m-3", "Это снова я, с другого номера", IdentityRef("phone", "+79130000003"), "Ирина Орлова"
    )
    context = await new_context(browser)
    page = await context.new_page()
    try:
        # Straight to the conversation: the log-in form carries it as "next".
        await page.goto(f"{servers.hub_url}/inbox/{conv}")
        await page.fill("#email", "anna@tea.example")
        await page.fill("#password", PASSWORD)
        async with page.expect_navigation(url=re.compile(rf"/inbox/{conv}")):
            await page.click("button[type=submit]")
        await page.wait_for_selector("#live[data-state=open]")
        card_part = page.locator("#part-card")
        await expect(card_part.locator(".card-top h2")).to_have_text("Ирина")

        # Edit mode: every field, then Enter in a field saves.
        await open_edit(page)
        await page.keyboard.type(" Соколова")
        await page.fill("#ce-company", "ООО «Чайный дом»")
        await page.select_option("#ce-kind", "client")
        await page.select_option("#ce-owner", label="Катя Смирнова")
        await page.fill("#ce-tags", "vip, опт,  vip")
        await card_part.locator('[data-card="cf-add"]').press("Enter")
        await expect(card_part.locator('input[name="cf_key_0"]')).to_be_focused()
        await page.keyboard.type("ИНН")
        await page.keyboard.press("Tab")
        await page.keyboard.type("7701234567")
        await card_part.locator('[data-card="cf-add"]').press("Enter")
        await page.keyboard.type("Город")
        await page.keyboard.press("Tab")
        await page.keyboard.type("Тверь")
        await page.keyboard.press("Enter")
        await expect(page.locator("#card-edit")).to_be_hidden()
        await expect(card_part.locator(".card-top h2")).to_have_text("Ирина Соколова")

        page, card_part = await reopened(context, page)
        await expect(card_part.locator(".card-top h2")).to_have_text("Ирина Соколова")
        await expect(card_part.locator(".card-top .kind")).to_have_text("Клиент")
        await expect(card_part.locator(".card-top")).to_contain_text("ООО «Чайный дом»")
        await expect(card_part.locator(".card-owner")).to_have_text("Катя Смирнова")
        await expect(card_part.locator(".card-tags .tag")).to_have_text(["vip", "опт"])
        await expect(card_part.locator(".cf-key")).to_have_text(["ИНН", "Город"])
        await expect(card_part.locator(".cf-value")).to_have_text(["7701234567", "Тверь"])

        # A field the server refuses: marked, with the server's message; then a field removed, one changed.
        await page.wait_for_selector("#live[data-state=open]")
        await open_edit(page)
        await page.fill("#ce-tags", "x" * 60)
        await page.locator("#ce-tags").press("Enter")
        await expect(page.locator("#ce-tags")).to_have_attribute("aria-invalid", "true")
        await expect(card_part.locator(".card-error")).to_contain_text("tags")
        await page.fill("#ce-tags", "vip")
        await card_part.get_by_role("button", name="Удалить поле Город").press("Enter")
        await page.fill('input[name="cf_value_0"]', "7709999999")
        await page.locator("#ce-tags").press("Enter")
        await expect(page.locator("#card-edit")).to_be_hidden()
        await expect(card_part.locator(".cf-key")).to_have_text(["ИНН"])
        await expect(card_part.locator(".cf-value")).to_have_text(["7709999999"])
        await expect(card_part.locator(".card-tags .tag")).to_have_text(["vip"])

        # Identities: one added (normalized), a bad one refused, one another card holds refused — and the
        # merge box finds that card.
        add = card_part.locator("form.id-add")
        await add.locator('select[name="kind"]').select_option("phone")
        await add.locator('input[name="value"]').fill("12")
        await add.locator('input[name="value"]').press("Enter")
        await expect(add.locator(".id-error")).to_contain_text("not a valid phone number")
        await expect(add.locator('input[name="value"]')).to_have_attribute("aria-invalid", "true")
        await add.locator('input[name="value"]').fill("8 916 123-45-67")
        await add.locator('input[name="value"]').press("Enter")
        ids = card_part.locator(".ids .id-value")
        await expect(ids).to_have_text(["irina@example.com", "+79161234567"])
        await add.locator('select[name="kind"]').select_option("phone")
        await add.locator('input[name="value"]').fill("+7 913 000-00-02")
        await add.locator('input[name="value"]').press("Enter")
        await expect(add.locator(".id-error")).to_contain_text(f"#{petr}")
        await expect(card_part.locator(".merge-box .merge-hit")).to_have_count(1)
        await expect(card_part.locator(".merge-box .merge-hit")).to_contain_text("Пётр Ильин")
        await expect(ids).to_have_text(["irina@example.com", "+79161234567"])  # never shared

        async def accept(dialog: Dialog) -> None:
            await dialog.accept()

        page.once("dialog", accept)
        await card_part.get_by_role("button", name="Удалить +79161234567").press("Enter")
        await expect(ids).to_have_text(["irina@example.com"])
        await expect(card_part.locator('[data-card="id-remove"]')).to_have_count(0)  # the last one stays

        # Merge from search: the twin card, both side by side, then the confirm.
        merge_q = card_part.locator("#merge-q")
        await merge_q.fill("Орлова")
        await merge_q.press("Enter")
        hit = card_part.locator(".merge-box .merge-hit")
        await expect(hit).to_have_count(1)
        await expect(hit).to_contain_text(f"#{twin}")
        await hit.press("Enter")
        sides = card_part.locator(".merge-side")
        await expect(sides).to_have_count(2)
        await expect(sides.nth(0)).to_contain_text("Ирина Соколова")
        await expect(sides.nth(0)).to_contain_text("1 диалог")
        await expect(sides.nth(1)).to_contain_text("Ирина Орлова")
        await expect(sides.nth(1)).to_contain_text("+79130000003")
        confirm = card_part.locator('[data-card="merge-confirm"]')
        await expect(confirm).to_be_focused()
        await page.screenshot(path=screenshot_path("card-edit-1366x768.png"))
        await page.keyboard.press("Enter")
        await expect(ids).to_have_text(["irina@example.com", "+79130000003"])
        await expect(card_part.locator(".merge-box .merge-side")).to_have_count(0)
        page, card_part = await reopened(context, page)
        ids = card_part.locator(".ids .id-value")
        await expect(ids).to_have_text(["irina@example.com", "+79130000003"])
        await expect(card_part.locator(".others a")).to_have_count(1)  # the twin's conversation is here now

        # The English page.
        page = await context.new_page()
        await page.goto(f"{servers.hub_url}/inbox/{conv}?lang=en")
        card_part = page.locator("#part-card")
        await expect(card_part.locator('[data-card="edit"]')).to_have_text("Edit")
        await expect(card_part.locator('label[for="merge-q"]')).to_have_text("Merge with…")
        await expect(page).to_have_url(re.compile(rf"/inbox/{conv}"))
    finally:
        await context.close()


async def test_an_older_merge_answer_arriving_late_never_replaces_the_agents_newer_search(
    browser: Browser, servers: Servers
) -> None:
    """The merge box shows the answer to the agent's last search: an earlier request (the box's first
    search after an identity clash, or a refresh re-asking it) held back until the new answer is shown
    then lands — and the box keeps the new hits (a CI run under load showed the old ones put back)."""
    hub = servers.hub
    await make_person(hub, "anna@tea.example", "Анна Петрова", role="supervisor", teams=("Продажи",))
    conv, _ = await client_writes(
        hub, "m-1", "Добрый день!", IdentityRef("email", "irina@example.com"), "Ирина"
    )
    await client_writes(hub, "m-2", "Когда доставка?", IdentityRef("phone", "+79130000002"), "Пётр")
    _, twin = await client_writes(
        hub, "m-3", "Это снова я", IdentityRef("phone", "+79130000003"), "Ирина Орлова"
    )
    context = await new_context(browser)
    page = await context.new_page()
    held: list[Route] = []
    arrived = asyncio.Event()

    async def hold_the_phone_search(route: Route) -> None:
        held.append(route)
        arrived.set()

    try:
        await page.goto(f"{servers.hub_url}/inbox/{conv}")
        await page.fill("#email", "anna@tea.example")
        await page.fill("#password", PASSWORD)
        async with page.expect_navigation(url=re.compile(rf"/inbox/{conv}")):
            await page.click("button[type=submit]")
        await page.wait_for_selector("#live[data-state=open]")
        card_part = page.locator("#part-card")
        await page.route(re.compile(r"/inbox/parts/merge\?.*q=%2B7"), hold_the_phone_search)
        add = card_part.locator("form.id-add")
        await add.locator('select[name="kind"]').select_option("phone")
        await add.locator('input[name="value"]').fill("+7 913 000-00-02")
        await add.locator('input[name="value"]').press("Enter")
        # (not the clash's message: a live refresh of the card may already have re-rendered it away)
        await resolved(arrived.wait(), "the merge box's search for the clashing phone")

        merge_q = card_part.locator("#merge-q")
        await merge_q.fill("Орлова")
        await merge_q.press("Enter")
        hit = card_part.locator(".merge-box .merge-hit")
        await expect(hit).to_have_count(1)
        await expect(hit).to_contain_text(f"#{twin}")

        answered = asyncio.Event()
        page.on("requestfinished", lambda request: "q=%2B7" in request.url and answered.set())
        await held[0].continue_()  # the older answer lands now, after the newer one
        await resolved(answered.wait(), "the held answer delivered to the page")
        await expect(hit).to_have_count(1)
        await expect(hit).to_contain_text(f"#{twin}")
        await expect(card_part.locator(".merge-box")).not_to_contain_text("Пётр")
    finally:
        await context.close()
