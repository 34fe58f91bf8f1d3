"""Unread per agent, the agent's own time zone and a narrow window, in a real browser.

A client's message is unread (a count on the row, the row in bold) for each agent until they open it;
opening clears it for them alone — a colleague still sees it unread — and a new message from the client
makes it unread again for the colleague while the agent who has it open stays read. The header's time
zone (set from the browser on the first visit) changes every time the page shows. At 900×700 nothing
scrolls sideways: the list, the conversation with its whole subject and the reply box are all there, the
card a button away. Saves inbox-900px.png."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import aiohttp
from playwright.async_api import Browser, Locator, Page, expect
from sqlalchemy import update

from inbox.models import Agent, Conversation, Message
from tests.hub.web.browser.conftest import Servers, log_in, make_person, new_context, screenshot_path
from tests.waiting import eventually

SUBJECT = (
    "Заказ 10234: не пришёл трек-номер, посылка стоит на складе в Хабаровске третью неделю, а в личном "
    "кабинете по-прежнему написано «собирается» — верните деньги или отправьте заказ ещё раз"
)
BOLD = re.compile(r"\bunread\b")
SENT = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)  # 12:05 in Moscow, 19:05 in Vladivostok


async def write(servers: Servers, external_id: str, text: str) -> int:
    """The client writes through the generic API channel; the conversation's id."""
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{servers.hub_url}/api/v1/channels/shop/messages",
            json={
                "external_id": external_id,
                "sender": {"email": "irina@example.com", "name": "Ирина"},
                "text": text,
            },
            headers={"Authorization": "Bearer t0ken"},
        )
        assert response.status in (200, 201), await response.text()
        conversation_id: int = (await response.json())["conversation_id"]
        return conversation_id


async def zone_of(servers: Servers, agent_id: int) -> str | None:
    async with servers.hub.sessionmaker() as session:
        return (await session.get_one(Agent, agent_id)).timezone


def unread(page: Page, conv_id: int) -> Locator:
    return page.locator(f'.row[data-id="{conv_id}"] .unread-count')


async def test_unread_is_per_agent_times_follow_the_agents_zone_and_900px_fits(
    browser: Browser, servers: Servers
) -> None:
    hub = servers.hub
    anna = await make_person(hub, "anna@tea.example", "Анна Петрова", teams=("Продажи",))
    await make_person(hub, "boris@tea.example", "Борис Смирнов", teams=("Продажи",))
    conv_id = await write(servers, "m-1", "Здравствуйте! Где мой заказ?")
    async with hub.sessionmaker() as session:
        await session.execute(update(Message).values(sent_at=SENT, created_at=SENT))
        await session.execute(update(Conversation).values(subject=SUBJECT))
        await session.commit()

    agent = await (await new_context(browser)).new_page()  # the browser says Europe/Moscow
    colleague = await (await new_context(browser)).new_page()
    try:
        await log_in(agent, servers.hub_url, "anna@tea.example")
        await log_in(colleague, servers.hub_url, "boris@tea.example")
        # Unset, the zone comes from the browser on the first visit.
        assert (
            await eventually(lambda: zone_of(servers, anna), "Anna's zone from her browser")
            == "Europe/Moscow"
        )

        # Unread for both: a count on the row, the row in bold.
        for page in (agent, colleague):
            await expect(unread(page, conv_id)).to_contain_text("1")
            await expect(page.locator(f'.row[data-id="{conv_id}"]')).to_have_class(BOLD)
        # Anna opens it (by keyboard): read for her, at once and after a reload; Boris still sees it unread.
        await agent.locator(f'.row[data-id="{conv_id}"]').focus()
        await agent.keyboard.press("Enter")
        await expect(agent.locator(".conv-head")).to_have_attribute("data-conversation", str(conv_id))
        await expect(unread(agent, conv_id)).to_have_count(0)
        await agent.reload()
        await expect(agent.locator(f'.row[data-id="{conv_id}"]')).to_be_visible()
        await expect(unread(agent, conv_id)).to_have_count(0)
        await expect(agent.locator(f'.row[data-id="{conv_id}"]')).not_to_have_class(BOLD)
        await expect(unread(colleague, conv_id)).to_contain_text("1")

        # The client writes again: unread again for Boris (live), not for Anna, who has it open.
        await agent.wait_for_selector("#live[data-state=open]")
        assert await write(servers, "m-2", "Алло, есть новости?") == conv_id
        await expect(unread(colleague, conv_id)).to_contain_text("2")
        await expect(agent.locator(".timeline .msg.in", has_text="есть новости")).to_be_visible()
        await expect(unread(agent, conv_id)).to_have_count(0)
        await agent.reload()
        await expect(agent.locator(f'.row[data-id="{conv_id}"]')).to_be_visible()
        await expect(unread(agent, conv_id)).to_have_count(0)

        # Times in Anna's zone: Moscow first, then Vladivostok chosen in the header.
        first = agent.locator(".timeline .msg.in", has_text="Где мой заказ").locator("time")
        await expect(first).to_have_text("12:05")
        await agent.select_option("#timezone", "Asia/Vladivostok")
        await expect(first).to_have_text("19:05")
        assert await zone_of(servers, anna) == "Asia/Vladivostok"
        await agent.reload()
        await expect(
            agent.locator(".timeline .msg.in", has_text="Где мой заказ").locator("time")
        ).to_have_text("19:05")
        await expect(agent.locator("#timezone")).to_have_value("Asia/Vladivostok")

        # 900×700: no sideways scroll; list, conversation (its whole subject) and reply box are there.
        await agent.set_viewport_size({"width": 900, "height": 700})
        await expect(agent.locator(".conv-head .subject")).to_have_text(SUBJECT)
        subject_box = await agent.locator(".conv-head .subject").bounding_box()
        assert subject_box is not None and subject_box["x"] + subject_box["width"] <= 900
        assert subject_box["height"] > 20  # wrapped over lines, not cut
        assert await agent.evaluate("() => document.documentElement.scrollWidth") <= 900
        assert await agent.evaluate("() => document.body.scrollWidth") <= 900
        await expect(agent.locator("#reply")).to_be_visible()
        await expect(agent.locator("#reply")).to_be_in_viewport()
        await expect(agent.locator(f'.row[data-id="{conv_id}"]')).to_be_in_viewport()
        await expect(agent.locator("#send")).to_be_in_viewport()
        await agent.screenshot(path=screenshot_path("inbox-900px.png"))
        # The card is folded: its button opens it (keyboard), Esc closes it and gives the focus back.
        toggle = agent.locator("#part-head [data-card-toggle]")
        await expect(agent.locator("#part-card")).to_be_hidden()
        await toggle.focus()
        await agent.keyboard.press("Enter")
        await expect(agent.locator("#part-card")).to_be_visible()
        await expect(toggle).to_have_attribute("aria-expanded", "true")
        await agent.screenshot(path=screenshot_path("inbox-900px-card.png"))
        await agent.keyboard.press("Escape")
        await expect(agent.locator("#part-card")).to_be_hidden()
        await expect(toggle).to_be_focused()
        # The reply box works at this width.
        await agent.fill("#reply", "Посылка выехала, трек придёт сегодня")
        await agent.press("#reply", "Control+Enter")
        await expect(agent.locator(".timeline .msg.out", has_text="трек придёт")).to_be_visible()
    finally:
        await agent.context.close()
        await colleague.context.close()
