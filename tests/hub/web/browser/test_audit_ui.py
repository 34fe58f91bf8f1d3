"""The audit log in a real browser: an admin reaches it from the shared header, narrows it to sign-ins with
one link, and sees a failed sign-in (marked, with its IP and reason) next to their own. Saves the page's
screenshot (audit-sign-ins-1366x768.png)."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.hub.web.browser.conftest import Servers, log_in, make_person, new_context, screenshot_path


async def test_an_admin_finds_a_failed_sign_in_with_its_ip_from_the_header(
    browser: Browser, servers: Servers
) -> None:
    hub = servers.hub
    await make_person(hub, "anna@tea.example", "Анна Петрова", role="admin")
    await make_person(hub, "boris@tea.example", "Борис Смирнов")
    context = await new_context(browser)
    page = await context.new_page()
    try:
        # Someone tries Boris's account with a wrong password.
        await page.goto(f"{servers.hub_url}/login")
        await page.fill("#email", "boris@tea.example")
        await page.fill("#password", "not his password")
        await page.click("button[type=submit]")
        await expect(page.locator("#password")).to_be_visible()  # still the login form

        await log_in(page, servers.hub_url, "anna@tea.example")
        await page.click('#pages a[data-page="audit"]')
        await expect(page.locator("h1")).to_have_text("Журнал действий")
        await expect(page.locator('#pages a[data-page="audit"]')).to_have_attribute("aria-current", "page")
        await page.click("a.sign-ins")
        await expect(page.locator("a.sign-ins")).to_have_attribute("aria-current", "page")
        rows = page.locator(".audit-table tbody tr")
        await expect(rows).to_have_count(2)
        failed = page.locator(".audit-table tbody tr.failed")
        await expect(failed).to_have_count(1)
        await expect(failed).to_contain_text("Борис Смирнов")
        await expect(failed).to_contain_text("127.0.0.1")
        await expect(rows.filter(has_text="Анна Петрова")).to_have_count(1)
        await page.screenshot(path=screenshot_path("audit-sign-ins-1366x768.png"), full_page=True)
    finally:
        await context.close()
