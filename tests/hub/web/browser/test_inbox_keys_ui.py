"""The inbox's keyboard shortcuts in a real browser: j/k walk the list and open each conversation (the focus
on its row), r and n put the cursor in the composer as a reply or a note, a on the assignee, e resolves,
/ searches, ? opens the list of them (Esc closes it and gives the focus back); nothing fires while typing
in a field or with a modifier held, and a Russian keyboard layout's same keys work. RU and EN. Saves the
dialog's screenshot. The dialog gives the focus back to the row it was opened from even when the list was
re-rendered under it by a live update."""

from __future__ import annotations

import re

from playwright.async_api import Browser, Page, expect

from tests.hub.web.browser.conftest import Servers, log_in, new_context, screenshot_path
from tests.hub.web.browser.seed import seed
from tests.hub.web.browser.test_inbox_refresh_ui import alla_writes_again


async def outside_fields(page: Page) -> None:
    """The focus on nothing typed into (the list's heading is no field)."""
    await page.locator(".list-head h1").click()


async def test_shortcuts_walk_the_list_write_assign_resolve_and_list_themselves(
    browser: Browser, servers: Servers
) -> None:
    await seed(servers.hub)
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await log_in(page, servers.hub_url, "anna@tea.example")
        rows = page.locator("#rows .row")
        ids = [str(i) for i in await rows.evaluate_all("rs => rs.map(r => r.dataset.id)")]
        assert len(ids) >= 3, ids
        await outside_fields(page)

        # j from nowhere opens the first conversation, j the next, k back; the row keeps the focus.
        await page.keyboard.press("j")
        await expect(page).to_have_url(re.compile(f"/inbox/{ids[0]}\\?"))
        await expect(page.locator(f'.row[data-id="{ids[0]}"]')).to_be_focused()
        await page.keyboard.press("j")
        await expect(page).to_have_url(re.compile(f"/inbox/{ids[1]}\\?"))
        await expect(page.locator(f'.row[data-id="{ids[1]}"]')).to_have_attribute("aria-current", "true")
        await expect(page.locator(".conv-head")).to_have_attribute("data-conversation", ids[1])
        await expect(page.locator(f'.row[data-id="{ids[1]}"]')).to_be_focused()
        await page.keyboard.press("k")
        await expect(page.locator(".conv-head")).to_have_attribute("data-conversation", ids[0])
        await expect(page.locator(f'.row[data-id="{ids[0]}"]')).to_be_focused()
        await page.keyboard.press("k")  # the first stays the first
        await expect(page.locator(f'.row[data-id="{ids[0]}"]')).to_be_focused()

        # r: the reply box, in reply mode; what is typed there stays text, not a shortcut.
        composer, box = page.locator("#composer"), page.locator("#reply")
        # (The seed's newest conversation may be a phone line's, which takes no reply: r gives a note there.)
        takes_text = await page.locator(".conv-head").get_attribute("data-text") == "1"
        await page.keyboard.press("r")
        await expect(box).to_be_focused()
        await expect(composer).to_have_attribute("data-mode", "reply" if takes_text else "note")
        await page.keyboard.type("jkena?")
        await expect(box).to_have_value("jkena?")
        await expect(page.locator(".conv-head")).to_have_attribute("data-conversation", ids[0])
        await expect(page.locator("#keys")).not_to_be_visible()
        await box.fill("")

        # n: the same box as an internal note.
        await outside_fields(page)
        await page.keyboard.press("n")
        await expect(box).to_be_focused()
        await expect(composer).to_have_attribute("data-mode", "note")
        note_tab = page.locator('.tabs button[data-mode="note"]')
        await expect(note_tab).to_have_attribute("aria-selected", "true")

        # a: the assignee select (a select swallows letters: no shortcut fires from it).
        await outside_fields(page)
        await page.keyboard.press("a")
        await expect(page.locator('#part-head select[data-action="assign"]')).to_be_focused()

        # /: the search box.
        await outside_fields(page)
        await page.keyboard.press("/")
        await expect(page.locator("#search-q")).to_be_focused()
        await page.keyboard.press("Escape")

        # A modifier held: the browser's key, not ours.
        await outside_fields(page)
        await page.keyboard.press("Alt+j")
        await page.keyboard.press("Control+e")
        await expect(page.locator(".conv-head")).to_have_attribute("data-conversation", ids[0])
        await expect(page.locator('.conv-head button[data-status="resolved"]')).to_be_visible()

        # ?: the list, a modal dialog; other shortcuts sleep while it is open; Esc closes, focus comes back.
        await page.locator(f'.row[data-id="{ids[0]}"]').focus()
        await page.keyboard.press("?")
        dialog = page.locator("#keys")
        await expect(dialog).to_be_visible()
        await expect(dialog.locator("h2")).to_have_text("Горячие клавиши")
        await expect(dialog).to_contain_text("Следующий / предыдущий диалог")
        await expect(page.locator("#keys-close")).to_be_focused()
        await page.screenshot(path=screenshot_path("inbox-keys-1366x768.png"))
        await page.keyboard.press("j")
        await expect(page.locator(".conv-head")).to_have_attribute("data-conversation", ids[0])
        await page.keyboard.press("Escape")
        await expect(dialog).not_to_be_visible()
        await expect(page.locator(f'.row[data-id="{ids[0]}"]')).to_be_focused()
        # The header's "?" button opens it too; Close closes it.
        await page.click("#keys-open")
        await expect(dialog).to_be_visible()
        await page.click("#keys-close")
        await expect(dialog).not_to_be_visible()

        # e: resolves, as the Resolve button does.
        await outside_fields(page)
        await page.keyboard.press("e")
        await expect(page.locator(".conv-head .status")).to_have_text("Решён")

        # A Russian layout: the key marked J types "о", the one marked / types "."; the same shortcuts.
        await outside_fields(page)
        await page.evaluate(
            "() => document.body.dispatchEvent(new KeyboardEvent('keydown',"
            " {key: 'о', code: 'KeyJ', bubbles: true, cancelable: true}))"
        )
        await expect(page.locator(".conv-head")).to_have_attribute("data-conversation", ids[1])
        await expect(page.locator(f'.row[data-id="{ids[1]}"]')).to_be_focused()
        await page.evaluate(
            "() => document.activeElement.dispatchEvent(new KeyboardEvent('keydown',"
            " {key: ',', code: 'Slash', shiftKey: true, bubbles: true, cancelable: true}))"
        )
        await expect(dialog).to_be_visible()
        await page.keyboard.press("Escape")
        await expect(dialog).not_to_be_visible()
        # (The list re-renders live after the resolve, maybe while the dialog is open: the focus goes to the
        # same conversation's row all the same.)
        await expect(page.locator(f'.row[data-id="{ids[1]}"]')).to_be_focused()

        # A client writes while the list is open: the list is re-rendered under the dialog (its rows are new
        # elements); Esc gives the focus to the new row of the conversation it was opened from.
        row = page.locator(f'.row[data-id="{ids[1]}"]')
        before = await row.element_handle()
        await page.keyboard.press("?")
        await expect(dialog).to_be_visible()
        await alla_writes_again(servers.hub, "keys-1", "Здравствуйте, есть новости?")
        await page.wait_for_function("r => !r.isConnected", arg=before)
        await page.keyboard.press("Escape")
        await expect(dialog).not_to_be_visible()
        await expect(row).to_be_focused()
    finally:
        await context.close()


async def test_the_shortcuts_list_speaks_english(browser: Browser, servers: Servers) -> None:
    data = await seed(servers.hub)
    context = await new_context(browser, locale="en-GB")
    page = await context.new_page()
    try:
        await log_in(page, servers.hub_url, "anna@tea.example")
        await page.goto(f"{servers.hub_url}/inbox/{data.telegram}")
        await page.wait_for_selector("#live[data-state=open]")
        await expect(page.locator("#keys-open")).to_have_attribute("aria-keyshortcuts", "?")
        resolve = page.locator('button[data-status="resolved"]')
        await expect(resolve).to_have_attribute("aria-keyshortcuts", "e")
        await outside_fields(page)
        await page.keyboard.press("?")
        dialog = page.locator("#keys")
        await expect(dialog.locator("h2")).to_have_text("Keyboard shortcuts")
        await expect(dialog).to_contain_text("Resolve the conversation")
        await expect(page.locator("#keys-close")).to_have_text("Close")
        await page.screenshot(path=screenshot_path("inbox-keys-en-1366x768.png"))
        await page.keyboard.press("Escape")
        await expect(dialog).not_to_be_visible()
    finally:
        await context.close()
