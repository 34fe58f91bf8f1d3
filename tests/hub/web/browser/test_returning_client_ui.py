"""Routing and leads in a real browser: the card's owner has the inbox open while a colleague handles the
client's dialog; the client writes again and the owner's inbox shows it at once (a notice with the
message's start and a link to the dialog), the colleague's inbox shows no such notice. And the
availability an agent has in the inbox: the header switch sets it, a hidden tab makes them away (no new
dialogs), coming back to it makes them available and the waiting dialog comes to them."""

from __future__ import annotations

import re
from collections.abc import Awaitable

import aiohttp
from playwright.async_api import Browser, expect

from inbox.conversations import assign
from inbox.models import Agent, Conversation, utcnow
from inbox.replies import add_reply
from inbox.routing.availability import presence_of
from tests.hub.web.browser.conftest import Servers, log_in, make_person, new_context, screenshot_path
from tests.waiting import eventually


async def write(servers: Servers, external_id: str, text: str) -> int:
    """The client writes through the generic API channel; the conversation's id."""
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{servers.hub_url}/api/v1/channels/shop/messages",
            json={
                "external_id": external_id,
                "sender": {"email": "back@example.com", "name": "Ирина"},
                "text": text,
            },
            headers={"Authorization": "Bearer t0ken"},
        )
        assert response.status in (200, 201), await response.text()
        conversation_id: int = (await response.json())["conversation_id"]
        return conversation_id


async def test_the_owner_sees_their_returning_client_in_the_inbox_while_a_colleague_has_the_dialog(
    browser: Browser, servers: Servers
) -> None:
    hub = servers.hub
    anna = await make_person(hub, "anna@tea.example", "Анна", teams=("Продажи",))
    boris = await make_person(hub, "boris@tea.example", "Борис", teams=("Продажи",))
    conv_id = await write(servers, "m-1", "Здравствуйте, есть ли пуэр?")
    async with hub.sessionmaker() as session:
        conv = await session.get_one(Conversation, conv_id)
        await add_reply(session, conv, await session.get_one(Agent, anna), "Есть!", policy=hub.policy)
        await assign(
            session, conv, assignee_id=boris, team_id=conv.team_id, actor_id=anna
        )  # Boris has it now
        await session.commit()

    owner = await (await new_context(browser)).new_page()
    colleague = await (await new_context(browser)).new_page()
    try:
        await log_in(owner, servers.hub_url, "anna@tea.example")
        await log_in(colleague, servers.hub_url, "boris@tea.example")
        assert await write(servers, "m-2", "Это снова я: нужен ещё улун") == conv_id

        notice = owner.locator("#notice")
        await expect(notice).to_be_visible()
        await expect(notice).to_contain_text("Ваш клиент написал снова: Это снова я: нужен ещё улун")
        await expect(owner.locator("#notice-link")).to_have_attribute(
            "href", re.compile(rf"^/inbox/{conv_id}\?")
        )
        await owner.screenshot(path=screenshot_path("inbox-client-returned-1366x768.png"))
        # Boris, who has the dialog, sees the new message in his list, and no notice meant for the owner.
        await expect(colleague.locator(f'.row[data-id="{conv_id}"] .preview')).to_contain_text(
            "нужен ещё улун"
        )
        await expect(colleague.locator("#notice")).to_be_hidden()
    finally:
        await owner.context.close()
        await colleague.context.close()


async def presence(servers: Servers, agent_id: int) -> str:
    async with servers.hub.sessionmaker() as session:
        return (await presence_of(session, utcnow(), [agent_id])).get(agent_id, "offline")


async def test_the_header_switch_sets_me_online_and_a_hidden_tab_makes_me_away_until_i_come_back(
    browser: Browser, servers: Servers
) -> None:
    hub = servers.hub
    anna = await make_person(hub, "anna@tea.example", "Анна", teams=("Продажи",))
    page = await (await new_context(browser)).new_page()
    try:
        await log_in(page, servers.hub_url, "anna@tea.example")
        switch = page.locator("#availability")
        await switch.focus()  # keyboard-reachable: a native select
        await switch.select_option("online")

        async def status() -> str:
            async with hub.sessionmaker() as session:
                return (await session.get_one(Agent, anna, populate_existing=True)).status

        await eventually(lambda: _equals(status(), "online"), "Anna's status set online from the header")
        await eventually(lambda: _equals(presence(servers, anna), "online"), "Anna present and active")

        await page.evaluate(HIDE)  # the tab goes to the background
        await eventually(lambda: _equals(presence(servers, anna), "away"), "a hidden tab makes Anna away")
        conv_id = await write(servers, "m-1", "Добрый день, вопрос по доставке")

        async def queued() -> bool:
            async with hub.sessionmaker() as session:
                return (await session.get_one(Conversation, conv_id)).queued_at is not None

        await eventually(queued, "the dialog waits: nobody active")
        await page.evaluate(SHOW)  # she comes back to the tab
        await eventually(lambda: _equals(presence(servers, anna), "online"), "Anna back online")

        async def hers() -> bool:
            async with hub.sessionmaker() as session:
                return (await session.get_one(Conversation, conv_id)).assignee_id == anna

        await eventually(hers, "the waiting dialog went to Anna when she came back")
    finally:
        await page.context.close()


HIDE = """() => {
  Object.defineProperty(document, "hidden", { value: true, configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW = """() => {
  Object.defineProperty(document, "hidden", { value: false, configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


async def _equals(value: Awaitable[str], expected: str) -> bool:
    return await value == expected
