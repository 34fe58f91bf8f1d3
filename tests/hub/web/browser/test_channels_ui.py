"""The channels page in a real browser: an admin tests an account's connection with the button (by mouse, and
by keyboard) and sees what the test found in the account's row — against the AMI replay server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from playwright.async_api import Browser, expect

from hub.runtime import Hub
from tests.channels.sip.servers import AmiReplay
from tests.hub.web.browser.conftest import (
    ACCOUNTS,
    Servers,
    log_in,
    make_person,
    new_context,
    screenshot_path,
)

SECRET = "ami-secret-for-the-browser"


@pytest.fixture
async def replay() -> AsyncIterator[AmiReplay]:
    server = AmiReplay([], secret=SECRET)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Hub]], replay: AmiReplay) -> Hub:
    ami = {"kind": "sip", "source": "ami", "host": "127.0.0.1", "port": replay.port, "username": "okno"}
    return await hub_factory(
        accounts={**ACCOUNTS, "pbx": {**ami, "secret": SECRET}, "pbx-old": {**ami, "secret": "old-secret"}}
    )


async def test_an_admin_tests_a_connection_and_sees_the_result_in_the_accounts_row(
    browser: Browser, servers: Servers, replay: AmiReplay
) -> None:
    await make_person(servers.hub, "admin@tea.example", "Мария Админ", role="admin")
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await log_in(page, servers.hub_url, "admin@tea.example")
        await page.goto(f"{servers.hub_url}/admin/channels")
        pbx = page.locator('tr[data-account="pbx"]')
        await pbx.get_by_role("button", name="Проверить подключение").click()
        result = page.locator('tr[data-account="pbx"] .test-result')
        await expect(result).to_contain_text("Подключение работает")
        await expect(result).to_contain_text(f"AMI 127.0.0.1:{replay.port}: logged in as 'okno'")
        await page.screenshot(path=screenshot_path("channels-test-connection-1366x768.png"))

        old = page.locator('tr[data-account="pbx-old"]').get_by_role("button", name="Проверить подключение")
        await old.focus()
        await page.keyboard.press("Enter")  # keyboard-reachable
        failed = page.locator('tr[data-account="pbx-old"] .test-result')
        await expect(failed).to_contain_text("Подключение не работает")
        await expect(failed).to_contain_text("AMI login refused: Authentication failed")
        await expect(page.locator('tr[data-account="pbx"] .test-result')).to_have_count(
            0
        )  # one result a test
        assert "old-secret" not in await page.content()
    finally:
        await context.close()
