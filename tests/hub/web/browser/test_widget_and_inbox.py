"""The issue's acceptance, in a real browser: a visitor on a customer's site writes through the widget,
an agent sees it arrive live in the inbox and replies, both reload and keep the history, the visitor's
socket is cut and restored without losing or doubling anything, and markup stays text on both sides."""

from __future__ import annotations

import asyncio
import weakref

from aiohttp import web
from playwright.async_api import Browser, Dialog, Page, expect
from sqlalchemy import select

from inbox.models import Message
from tests.hub.web.browser.conftest import (
    Servers,
    log_in,
    make_person,
    new_context,
    screenshot_path,
)

XSS = "<img src=x onerror=alert(1)>"
REPLY = "Здравствуйте! <b>Уже смотрю</b> ваш заказ."


def widget(page: Page, selector: str) -> str:
    return f"[data-okno-widget] {selector}"


async def inbound_texts(servers: Servers) -> list[str]:
    async with servers.hub.sessionmaker() as session:
        rows = await session.scalars(
            select(Message.body_text).where(Message.direction == "in").order_by(Message.id)
        )
        return list(rows)


async def cut_visitor_sockets(app: web.Application) -> int:
    from hub.web.webchat.socket import VISITOR_SOCKETS

    sockets: weakref.WeakSet[web.WebSocketResponse] = app[VISITOR_SOCKETS]
    live = list(sockets)
    for socket in live:
        await socket.close(message=b"cut by the test")
    return len(live)


async def test_visitor_and_agent_talk_live_through_reloads_and_a_cut_socket(
    browser: Browser, servers: Servers
) -> None:
    await make_person(servers.hub, "anna@tea.example", "Анна Петрова", role="supervisor")
    dialogs: list[str] = []
    dismissing: set[asyncio.Task[None]] = set()

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        task = asyncio.ensure_future(dialog.dismiss())
        dismissing.add(task)
        task.add_done_callback(dismissing.discard)

    visitor_context = await new_context(browser)
    agent_context = await new_context(browser)
    try:
        visitor = await visitor_context.new_page()
        agent = await agent_context.new_page()
        visitor.on("dialog", on_dialog)
        agent.on("dialog", on_dialog)

        # The agent is in the inbox before anyone writes.
        await log_in(agent, servers.hub_url, "anna@tea.example", screenshot="login-1366x768.png")
        await expect(agent.locator(".rows .none")).to_be_visible()
        await agent.screenshot(path=screenshot_path("inbox-empty-1366x768.png"))

        # A visitor opens the widget on the shop's site and writes.
        await visitor.goto(servers.site_url)
        await visitor.click(widget(visitor, ".launch"))
        box = visitor.locator(widget(visitor, ".foot textarea"))
        await expect(box).to_be_focused()
        await box.fill(XSS)
        await box.press("Enter")
        sent = visitor.locator(widget(visitor, ".m.v")).last
        await expect(sent.locator(".meta")).to_contain_text("отправлено")
        await expect(sent.locator(".b")).to_have_text(XSS)

        # It appears in the agent's list without a reload; the timeline shows it as text.
        row = agent.locator(".row", has_text=XSS)
        await expect(row).to_be_visible()
        await expect(row.locator(".badge")).to_have_text("1")
        await row.click()
        await expect(agent.locator(".timeline .msg.in .text")).to_have_text(XSS)
        assert await agent.locator(".timeline img, .rows img").count() == 0

        # The agent replies with Ctrl+Enter; the visitor sees it, with the agent's name.
        reply_box = agent.locator("#reply")
        await reply_box.fill(REPLY)
        await reply_box.press("Control+Enter")
        answer = visitor.locator(widget(visitor, ".m.a:not(.g) .b"))
        await expect(answer).to_have_text(REPLY)
        await expect(visitor.locator(widget(visitor, ".who"))).to_have_text("Анна Петрова")
        await expect(visitor.locator(widget(visitor, ".sub"))).to_contain_text("Анна Петрова")
        assert await visitor.locator(widget(visitor, "img, b")).count() == 0
        # The widget confirmed it showed the reply: the agent sees "delivered".
        await expect(agent.locator(".timeline .msg.out .dlv")).to_contain_text("доставлено")

        # Typing shows on both sides.
        await box.fill("Спасибо")
        await expect(agent.locator("#typing")).to_have_text("Клиент печатает…")
        await box.fill("")
        await reply_box.fill("Сейчас уточню")
        await expect(visitor.locator(widget(visitor, ".typing"))).to_have_text("Анна Петрова печатает…")
        await reply_box.fill("")

        await visitor.screenshot(path=screenshot_path("widget-1366x768.png"))
        await agent.screenshot(path=screenshot_path("inbox-live-1366x768.png"))

        # Both reload and keep the history (the widget reopens by itself, as it was left).
        await visitor.reload()
        await expect(visitor.locator(widget(visitor, ".m.v .b"))).to_have_text([XSS])
        await expect(visitor.locator(widget(visitor, ".m.a:not(.g) .b"))).to_have_text([REPLY])
        await agent.reload()
        await agent.wait_for_selector("#live[data-state=open]")  # live again before the visitor writes more
        await expect(agent.locator(".timeline .msg .text")).to_have_text([XSS, REPLY])

        # The visitor's socket is cut by the server while the visitor is offline; what they type
        # meanwhile waits, and is sent once when the connection is back.
        await visitor_context.set_offline(True)
        assert await cut_visitor_sockets(servers.app) == 1
        await expect(visitor.locator(widget(visitor, ".net"))).to_be_visible()
        for text in ("Вы тут?", "Заказ 1042, оплачен картой"):
            await box.fill(text)
            await box.press("Enter")
        pending = visitor.locator(widget(visitor, ".m.v.p"))
        await expect(pending).to_have_count(2)
        await visitor_context.set_offline(False)
        await expect(pending).to_have_count(0)
        await expect(visitor.locator(widget(visitor, ".m.v .b"))).to_have_text(
            [XSS, "Вы тут?", "Заказ 1042, оплачен картой"]
        )
        await expect(agent.locator(".timeline .msg.in .text")).to_have_text(
            [XSS, "Вы тут?", "Заказ 1042, оплачен картой"]
        )
        assert await inbound_texts(servers) == [XSS, "Вы тут?", "Заказ 1042, оплачен картой"]

        # One more reload of the visitor: still each message exactly once.
        await visitor.reload()
        await expect(visitor.locator(widget(visitor, ".m .b"))).to_have_text(
            [
                "Здравствуйте! Подскажем с выбором и доставкой — пишите.",
                XSS,
                REPLY,
                "Вы тут?",
                "Заказ 1042, оплачен картой",
            ]
        )
        assert dialogs == []
    finally:
        await visitor_context.close()
        await agent_context.close()
