"""Reports and SLA in a real browser: a supervisor clicks a bar of a wait report and sees the conversations
behind it, then opens one in the inbox; an agent's inbox list marks the client who has waited past the
SLA. Saves screenshots (reports-drill-down-1366x768.png, inbox-sla-1366x768.png)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.async_api import Browser, expect

from hub.runtime import Hub
from inbox.ingest import ingest
from inbox.items import IdentityRef, InboundMessage, Sender
from inbox.models import Agent, Conversation
from inbox.replies import add_reply
from tests.hub.web.browser.conftest import Servers, log_in, make_person, new_context, screenshot_path


async def hand_in(hub: Hub, external: str, email: str, name: str, *, at: datetime | None = None) -> int:
    """A client's message on the "shop" account (team Продажи); `at`: when the client wrote."""
    item = InboundMessage(
        account_id=hub.accounts["shop"].context.id,
        external_id=external,
        sender=Sender((IdentityRef("email", email),), name=name),
        text="Здравствуйте! Когда будет доставка?",
        sent_at=at,
    )
    async with hub.sessionmaker() as session:
        return (await ingest(session, item, hub.policy)).conversation_id


async def answer(hub: Hub, conversation_id: int, agent_id: int) -> None:
    async with hub.sessionmaker() as session:
        conv = await session.get_one(Conversation, conversation_id)
        agent = await session.get_one(Agent, agent_id)
        await add_reply(session, conv, agent, "Завтра до обеда.", policy=hub.policy)
        await session.commit()


async def test_a_bar_of_the_first_response_chart_opens_the_conversations_behind_it(
    browser: Browser, servers: Servers
) -> None:
    hub = servers.hub
    await hub.outbox.stop()  # nothing is sent: the API account has no callback
    await make_person(hub, "nina@tea.example", "Нина Орлова", role="supervisor", teams=("Продажи",))
    boris = await make_person(hub, "boris@tea.example", "Борис Смирнов", teams=("Продажи",))
    irina = await hand_in(hub, "r-1", "irina@example.ru", "Ирина Соколова")
    # Oleg has waited two hours, past the hour of the SLA: his unanswered wait is a miss, in a row of its own.
    oleg = await hand_in(
        hub, "r-2", "oleg@example.ru", "Олег Белов", at=datetime.now(UTC) - timedelta(hours=2)
    )
    await answer(hub, irina, boris)
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await log_in(page, servers.hub_url, "nina@tea.example")
        await page.goto(f"{servers.hub_url}/reports?report=first_response&by=agent")
        bars = page.locator(".chart a.bar")
        await expect(bars).to_have_count(2)  # Борис, and the dialog nobody answered
        # Each bar is labelled under the chart (the group) and over it (its value).
        await expect(page.locator(".chart-axis span").first).to_contain_text("Борис Смирнов")
        await expect(page.locator(".chart-values span")).to_have_count(2)
        await bars.first.click()
        drill = page.locator("#drill")
        await expect(drill.locator("h2")).to_contain_text("Борис Смирнов")
        rows = drill.locator("tbody tr")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text("Ирина Соколова")
        await expect(rows.first.locator("td.sla-met")).to_have_text("в срок")
        await page.screenshot(path=screenshot_path("reports-drill-down-1366x768.png"), full_page=True)
        # The row of the table opens the other group: the client still waiting.
        await page.locator("table.report-table a.drill", has_text="(нет)").click()
        await expect(drill.locator("tbody tr")).to_have_count(1)
        await expect(drill.locator("tbody tr").first).to_contain_text("Олег Белов")
        await expect(drill.locator("tbody tr").first).to_contain_text("ещё ждёт")
        await expect(drill.locator("td.sla-missed")).to_have_text("просрочен")
        # Open a conversation from the drill-down: the inbox shows it.
        await drill.locator("tbody tr a").first.click()
        await page.wait_for_url("**/inbox/*")
        await page.wait_for_selector("#live[data-state=open]")
        await expect(page.locator(".conv-head")).to_have_attribute("data-conversation", str(oleg))
    finally:
        await context.close()


async def test_the_inbox_list_marks_a_client_waiting_past_the_sla(browser: Browser, servers: Servers) -> None:
    hub = servers.hub
    await make_person(hub, "boris@tea.example", "Борис Смирнов", teams=("Продажи",))
    late = await hand_in(
        hub, "s-1", "late@example.ru", "Павел Ждущий", at=datetime.now(UTC) - timedelta(hours=2)
    )
    fresh = await hand_in(hub, "s-2", "fresh@example.ru", "Вера Новая")
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await log_in(page, servers.hub_url, "boris@tea.example")
        late_row = page.locator(f'.row[data-id="{late}"]')
        await expect(late_row.locator('.sla[data-sla="breached"]')).to_have_text("Просрочен")
        title = await late_row.locator(".sla").get_attribute("title")
        assert title is not None and "назад" in title
        fresh_mark = page.locator(f'.row[data-id="{fresh}"] .sla')
        await expect(fresh_mark).to_have_attribute("data-sla", "due")
        await expect(fresh_mark).to_contain_text("до ")
        await page.screenshot(path=screenshot_path("inbox-sla-1366x768.png"))
    finally:
        await context.close()
