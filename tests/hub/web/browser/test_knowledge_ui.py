"""The knowledge base in a real browser: suggested replies above the reply box, one click inserts the
rendered text, the agent edits and sends, and the reply records its template; "/" + words searches in
the box; the templates page creates a template with a live preview."""

from __future__ import annotations

import re

from aiohttp import ClientSession
from playwright.async_api import Browser, expect
from sqlalchemy import select

from inbox.models import Message, ReportingEvent, Template
from tests.hub.web.browser.conftest import Servers, log_in, make_person, new_context, screenshot_path


async def _hand_in(servers: Servers, external_id: str, name: str, text: str) -> int:
    async with ClientSession() as http:
        response = await http.post(
            servers.hub_url + "/api/v1/channels/shop/messages",
            json={
                "external_id": external_id,
                "sender": {"name": name, "email": f"{external_id}@example.com"},
                "text": text,
            },
            headers={"Authorization": "Bearer t0ken"},
        )
        assert response.status == 201, await response.text()
        return int((await response.json())["conversation_id"])


async def test_an_agent_inserts_a_suggested_reply_edits_it_and_sends_it(
    browser: Browser, servers: Servers
) -> None:
    await make_person(servers.hub, "anna@tea.example", "Анна Белова", teams=("Продажи",))
    conv = await _hand_in(servers, "m-1", "Ирина Соколова", "здравствуйте, где мой заказ? жду уже неделю")
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await log_in(page, servers.hub_url, "anna@tea.example")
        await page.goto(f"{servers.hub_url}/inbox/{conv}")
        chips = page.locator("#suggestions button.chip")
        await expect(chips).to_have_count(3)
        delivery = chips.filter(has_text="Где мой заказ")
        await expect(delivery).to_be_visible()
        await page.screenshot(path=screenshot_path("kb-suggestions-1366x768.png"))

        await delivery.click()
        box = page.locator("#reply")
        await expect(box).to_have_value(re.compile(r"^Ирина, проверяю ваш заказ\."))
        await box.press("End")
        await box.type(" Номер заказа — 1042?")
        await page.click("#send")
        sent = page.locator(".timeline .msg", has_text="Номер заказа — 1042?")
        await expect(sent).to_be_visible()
        await expect(box).to_have_value("")

        async with servers.hub.sessionmaker() as session:
            template = await session.scalar(select(Template).where(Template.key == "ru.delivery-status"))
            assert template is not None and template.usage_count == 1
            event = await session.scalar(
                select(ReportingEvent).where(ReportingEvent.name == "template_reply")
            )
            assert event is not None and event.template_id == template.id
            reply = await session.scalar(select(Message).where(Message.direction == "out"))
            assert reply is not None and reply.body_text.startswith("Ирина, проверяю ваш заказ.")

        # "/" and a word searches the templates in the box; Enter inserts the first one.
        await box.fill("/пароль")
        found = page.locator("#slash button.chip")
        await expect(found.first).to_have_text("Восстановление пароля")
        await box.press("Enter")
        await expect(box).to_have_value(re.compile(r"^Чтобы восстановить доступ"))
        await expect(page.locator("#slash")).to_be_hidden()
    finally:
        await context.close()


async def test_the_templates_page_creates_a_template_with_a_live_preview(
    browser: Browser, servers: Servers
) -> None:
    await make_person(servers.hub, "lead@tea.example", "Ольга Руденко", role="supervisor")
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await log_in(page, servers.hub_url, "lead@tea.example")
        await page.goto(f"{servers.hub_url}/templates")
        await expect(page.locator("#kb-items li").first).to_be_visible()
        await page.fill("#kb-q", "вазврат")
        await expect(page.locator("#kb-items li")).to_have_count(2)  # the two about «возврат»
        await expect(page.locator("#kb-items")).to_contain_text("Возврат товара")

        await page.click("#kb-new")
        await page.fill("#kb-title", "Подарочная упаковка")
        await page.fill("#kb-key", "ru.gift-wrap")
        await page.fill("#kb-tags", "подарок, упаковка")
        await page.fill("#kb-body", "{{ agent.first_name }} упакует заказ в подарочную бумагу.")
        await expect(page.locator("#kb-preview")).to_have_text("Ольга упакует заказ в подарочную бумагу.")
        await page.fill("#kb-body", "{{ ''.__class__.__mro__ }}")
        await expect(page.locator("#kb-error")).to_contain_text("not allowed")
        await page.fill("#kb-body", "{{ agent.first_name }} упакует заказ в подарочную бумагу.")
        await page.click("#kb-save")
        await expect(page.locator("#kb-status")).to_have_text("Сохранено")
        await page.fill("#kb-q", "подарком")
        await expect(page.locator("#kb-items li").first).to_contain_text("Подарочная упаковка")
        await page.screenshot(path=screenshot_path("kb-templates-page-1366x768.png"))
    finally:
        await context.close()


async def test_a_template_saved_in_one_tab_reaches_another_templates_page_and_the_inbox_suggestions(
    browser: Browser, servers: Servers
) -> None:
    await make_person(servers.hub, "lead@tea.example", "Ольга Руденко", role="supervisor")
    await make_person(servers.hub, "anna@tea.example", "Анна Белова", teams=("Продажи",))
    conv = await _hand_in(servers, "m-1", "Ирина Соколова", "подарочную упаковку к заказу можно добавить?")
    lead, agent = await new_context(browser), await new_context(browser)
    try:
        editor, watcher, inbox = await lead.new_page(), await lead.new_page(), await agent.new_page()
        await log_in(editor, servers.hub_url, "lead@tea.example")
        await log_in(inbox, servers.hub_url, "anna@tea.example")
        await watcher.goto(f"{servers.hub_url}/templates")
        await expect(watcher.locator("#kb-items li").first).to_be_visible()
        await inbox.goto(f"{servers.hub_url}/inbox/{conv}")
        chips = inbox.locator("#suggestions button.chip")
        await expect(chips).to_have_count(3)
        await expect(chips.filter(has_text="Подарочная упаковка")).to_have_count(0)

        await editor.goto(f"{servers.hub_url}/templates")
        await editor.click("#kb-new")
        await editor.fill("#kb-title", "Подарочная упаковка")
        await editor.fill("#kb-tags", "подарочная упаковка, упаковать подарок")
        await editor.fill("#kb-body", "Упакуем заказ в подарочную бумагу бесплатно.")
        await editor.click("#kb-save")
        await expect(editor.locator("#kb-status")).to_have_text("Сохранено")

        # Neither page was reloaded: the template.created event refreshed both.
        await expect(watcher.locator("#kb-items")).to_contain_text("Подарочная упаковка")
        await expect(chips.filter(has_text="Подарочная упаковка")).to_have_count(1)
    finally:
        await lead.close()
        await agent.close()
