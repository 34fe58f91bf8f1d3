"""A site that knows its logged-in user identifies them to the widget (`OknoWidget.identify` with the
identifier and its HMAC); the chat then lands on that user's card."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from hub.runtime import Hub
from inbox.models import Identity, Message
from tests.hub.web.browser.conftest import ACCOUNTS, SITE_ACCOUNT, Servers, new_context

SECRET = "identity-secret-of-the-tea-shop"


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Hub]]) -> Hub:
    return await hub_factory(accounts={**ACCOUNTS, "site": {**SITE_ACCOUNT, "identity_secret": SECRET}})


async def test_a_signed_in_user_identified_by_the_site_chats_on_their_card(
    browser: Browser, servers: Servers
) -> None:
    digest = hmac.new(SECRET.encode(), b"user-42", hashlib.sha256).hexdigest()
    context = await new_context(browser)
    try:
        page = await context.new_page()
        await page.goto(servers.site_url)
        await page.wait_for_function("typeof (window.OknoWidget || {}).identify === 'function'")
        await page.evaluate(
            f"window.OknoWidget.identify({{identifier: 'user-42', identifier_hash: '{digest}'}})"
        )
        await page.click("[data-okno-widget] .launch")
        box = page.locator("[data-okno-widget] .foot textarea")
        await box.fill("Где мой заказ?")
        await box.press("Enter")
        await expect(page.locator("[data-okno-widget] .m.v .meta")).to_contain_text("отправлено")
    finally:
        await context.close()
    async with servers.hub.sessionmaker() as session:
        message = await session.scalar(select(Message).where(Message.body_text == "Где мой заказ?"))
        assert message is not None
        values = set(
            await session.scalars(select(Identity.value).where(Identity.contact_id == message.contact_id))
        )
    assert "site:user-42" in values
