"""Files in a real browser: a visitor sends an image through the widget and the agent sees it; the agent
attaches a document to the reply and the visitor gets it as a link they can open."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from hub.runtime import Hub
from tests.hub.web.browser.conftest import (
    ACCOUNTS,
    Servers,
    log_in,
    make_person,
    new_context,
    screenshot_path,
)

# A 1×1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5ddd2a70000000049454e44ae426082"
)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Hub]], tmp_path: Path) -> Hub:
    return await hub_factory(accounts=ACCOUNTS, attachments_dir=str(tmp_path / "files"))


async def test_a_visitor_sends_an_image_and_gets_the_agents_file_reply(
    browser: Browser, servers: Servers, tmp_path: Path
) -> None:
    await make_person(servers.hub, "anna@tea.example", "Анна Петрова", role="supervisor")
    invoice = tmp_path / "счёт.pdf"
    invoice.write_bytes(PDF)
    visitor_context = await new_context(browser)
    agent_context = await new_context(browser)
    try:
        visitor = await visitor_context.new_page()
        agent = await agent_context.new_page()
        await visitor.goto(servers.site_url)
        await visitor.click("[data-okno-widget] .launch")
        # The widget offers files only where the hub takes them; the file goes over HTTP.
        await expect(visitor.locator("[data-okno-widget] .clip")).to_be_visible()
        await visitor.locator("[data-okno-widget] input[type=file]").set_input_files(
            {"name": "чек.png", "mimeType": "image/png", "buffer": PNG}
        )
        sent = visitor.locator("[data-okno-widget] .m.v").last
        await expect(sent.locator(".meta")).to_contain_text("отправлено")
        await expect(sent.locator(".fl img")).to_have_attribute("alt", "чек.png")
        # The preview is fetched with the visitor's token and really is the image.
        assert await sent.locator(".fl img").evaluate("img => img.complete && img.naturalWidth") == 1

        await log_in(agent, servers.hub_url, "anna@tea.example")
        await agent.locator(".row", has_text="чек.png").click()
        link = agent.locator(".timeline .msg.in .files a")
        await expect(link).to_have_text("чек.png")

        # The agent attaches a document to the reply (the picker is there: the web chat carries files).
        await agent.locator("#attach").set_input_files(str(invoice))
        await expect(agent.locator("#attach-names")).to_have_text("Файлов: 1")
        await agent.locator("#reply").fill("Счёт во вложении")
        await agent.locator("#reply").press("Control+Enter")
        await expect(agent.locator(".timeline .msg.out .files a")).to_have_text("счёт.pdf")

        answer = visitor.locator("[data-okno-widget] .m.a:not(.g)").last
        await expect(answer.locator(".fl a")).to_have_text("счёт.pdf")
        href = await answer.locator(".fl a").get_attribute("href")
        assert href is not None and "/webchat/site/files/" in href
        fetched = await visitor.request.get(href)
        assert fetched.status == 200 and await fetched.body() == PDF
        await visitor.screenshot(path=screenshot_path("widget-files-1366x768.png"))
    finally:
        await visitor_context.close()
        await agent_context.close()
