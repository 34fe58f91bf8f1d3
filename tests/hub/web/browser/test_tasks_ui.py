"""Issue 15, the tasks view, in a real browser: the tabs mine / my team's / overdue / done hold the right
tasks with their counts, overdue first; a task is done with a result; a missed call's callback offers the
client's number and records the outcome; a task is reassigned and its due time changed; a new task is
created; the client card lists the client's open tasks and closes one; the inbox header links to the page
with the count of my open tasks. Saves ``tasks-1366x768.png``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from hub.runtime import Hub
from inbox.agents import agent_with_teams, viewer_of
from inbox.models import Agent, Call, Conversation, Task, Team
from inbox.tasks import NewTask, close_task, create_task
from tests.hub.web.browser.conftest import Servers, log_in, new_context, screenshot_path
from tests.hub.web.browser.seed import Seeded, ago, seed
from tests.waiting import eventually


@dataclass(frozen=True, slots=True)
class Tasks:
    callback: int  # Boris's callback of Irina's missed call, an hour overdue
    invoice: int  # Boris's, about Irina, due in three hours
    olgas: int  # Olga's, about Irina: on Boris's team tab and on the card
    team: int  # the sales team's, about no one
    done: int  # Boris's, done with a result
    olga: int  # Olga's agent id


async def make_tasks(hub: Hub, data: Seeded) -> Tasks:
    async with hub.sessionmaker() as session:
        olga = await session.scalar(select(Agent.id).where(Agent.email == "olga@tea.example"))
        sales = await session.scalar(select(Team.id).where(Team.name == "Продажи"))
        missed = await session.scalar(select(Call.id).where(Call.call_id == "c-1"))
        assert olga is not None and sales is not None and missed is not None
        boris_agent = await agent_with_teams(session, data.boris)
        assert boris_agent is not None
        boris = viewer_of(boris_agent)
        # Irina's Telegram dialog is Boris's: he sees her card (Olga sees it through her task).
        (await session.get_one(Conversation, data.telegram)).assignee_id = data.boris
        await session.flush()
        now = datetime.now(UTC)
        callback, _ = await create_task(
            session,
            boris,
            NewTask(
                title="Перезвонить: Ирина Соколова",
                kind="callback",
                contact_id=data.irina,
                due_at=now - timedelta(hours=1),
            ),
        )
        callback.call_id = missed
        invoice, _ = await create_task(
            session,
            boris,
            NewTask(
                title="Выставить счёт на доставку до двери",
                contact_id=data.irina,
                due_at=now + timedelta(hours=3),
            ),
        )
        olgas, _ = await create_task(
            session, boris, NewTask(title="Уточнить адрес доставки", contact_id=data.irina, assignee_id=olga)
        )
        team, _ = await create_task(session, boris, NewTask(title="Обзвонить оптовиков", team_id=sales))
        done, _ = await create_task(
            session, boris, NewTask(title="Отправить трек-номер", contact_id=data.irina)
        )
        await close_task(session, boris, done.id, result="Отправил в Telegram")
        done.created_at = ago(days=1)
        await session.commit()
        return Tasks(callback.id, invoice.id, olgas.id, team.id, done.id, olga)


async def task_row(hub: Hub, task_id: int) -> Task:
    async with hub.sessionmaker() as session:
        return await session.get_one(Task, task_id)


def utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def titles(page: Page) -> list[str]:
    return await page.locator("#task-list .task .task-title").all_inner_texts()


async def test_the_tasks_page_lists_tabs_and_closes_reassigns_and_reschedules_tasks(
    browser: Browser, servers: Servers
) -> None:
    hub = servers.hub
    data = await seed(hub)
    tasks = await make_tasks(hub, data)
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await log_in(page, servers.hub_url, "boris@tea.example")
        # The inbox header links to the page with the count of my open tasks.
        link = page.locator('#pages a[href="/tasks"]')
        await expect(link.locator("#my-tasks")).to_have_text("3")
        await link.click()
        await page.wait_for_url(f"{servers.hub_url}/tasks")

        # Mine: the overdue callback first, then by due time (the seed's follow-up of Boris's lead is due
        # tomorrow); counts on every tab.
        mine = page.locator("#task-list .task")
        await expect(mine).to_have_count(3)
        assert await titles(page) == [
            "Перезвонить: Ирина Соколова",
            "Выставить счёт на доставку до двери",
            "Связаться с новым клиентом: Сергей Орлов (ООО «Вектор»)",
        ]
        for view, count in (("mine", "3"), ("team", "6"), ("overdue", "1"), ("done", "1")):
            await expect(page.locator(f'.task-tabs [data-count="{view}"]')).to_have_text(count)
        callback = page.locator(f'#task-list li[data-task="{tasks.callback}"]')
        await expect(callback).to_have_class("task overdue")
        await expect(callback.locator(".task-kind")).to_have_text("Перезвонить")
        await expect(callback.locator(".late")).to_have_text("Просрочен")
        await expect(callback.locator(".task-client a")).to_have_text("Ирина Соколова")
        await expect(callback.locator(".task-client a")).to_have_attribute("href", f"/inbox/{data.telegram}")
        await expect(callback.locator(".task-assignee")).to_have_text("Борис Смирнов")
        await expect(callback.locator("a.call-link")).to_have_attribute("href", "tel:+79161234567")
        await page.screenshot(path=screenshot_path("tasks-1366x768.png"))

        # My team's: mine, Olga's and Anna's about my client, the team's own — not Anna's follow-up of a
        # client whose dialog is hers (Boris may not see it); overdue; done with its result.
        await page.click('.task-tabs a[data-view="team"]')
        await expect(page.locator(".task-tabs a[aria-current]")).to_have_attribute("data-view", "team")
        await expect(page.locator("#task-list .task")).to_have_count(6)
        await expect(page.locator("#task-list")).not_to_contain_text("Мария Лебедева")
        await expect(page.locator(f'#task-list li[data-task="{tasks.olgas}"] .task-assignee')).to_have_text(
            "Ольга Кузнецова"
        )
        await expect(page.locator(f'#task-list li[data-task="{tasks.team}"] .task-assignee')).to_have_text(
            "Продажи"
        )
        await page.click('.task-tabs a[data-view="overdue"]')
        await expect(page.locator("#task-list .task")).to_have_count(1)
        await expect(page.locator("#task-list .task .task-title")).to_have_text("Перезвонить: Ирина Соколова")
        await page.click('.task-tabs a[data-view="done"]')
        await expect(page.locator("#task-list .task")).to_have_count(1)
        await expect(page.locator("#task-list .task .task-result")).to_have_text("Отправил в Telegram")
        assert page.url.endswith("/tasks?view=done")  # a reload shows the same tab

        # The callback: its outcome is recorded (keyboard only: Tab to the summary, Enter opens it).
        await page.click('.task-tabs a[data-view="mine"]')
        await expect(mine).to_have_count(3)
        await callback.locator("summary").focus()
        await page.keyboard.press("Enter")
        await callback.locator('input[name="outcome"][value="no_answer"]').check()
        await callback.locator('input[name="result"]').fill("перезвоню завтра в 10")
        await callback.locator('input[name="result"]').press("Enter")
        await expect(mine).to_have_count(2)
        await expect(page.locator("#tasks-status")).to_have_text("Сохранено")
        closed = await task_row(hub, tasks.callback)
        assert (closed.status, closed.result) == ("done", "no_answer: перезвоню завтра в 10")
        await expect(page.locator('.task-tabs [data-count="done"]')).to_have_text("2")
        await expect(page.locator('.task-tabs [data-count="overdue"]')).to_have_text("0")

        # The invoice: a new due time, then handed to Olga.
        invoice = page.locator(f'#task-list li[data-task="{tasks.invoice}"]')
        await invoice.locator('input[name="due"]').fill("2030-05-06T10:30")
        await invoice.locator(".task-due-form button").click()
        await expect(invoice.locator(".task-due")).to_contain_text("10:30")
        moved = await task_row(hub, tasks.invoice)
        assert moved.due_at is not None
        assert utc(moved.due_at) == datetime(2030, 5, 6, 7, 30, tzinfo=UTC)  # the browser is in Moscow
        await invoice.locator("select.task-reassign").select_option(str(tasks.olga))
        await expect(invoice).to_have_count(0)
        await expect(page.locator('.task-tabs [data-count="mine"]')).to_have_text("1")
        assert (await task_row(hub, tasks.invoice)).assignee_id == tasks.olga

        # A new task of mine.
        await page.fill("#task-new-name", "Проверить оплату заказа 1042")
        await page.fill("#task-new-due", "2030-05-07T09:00")
        await page.click('#task-new button[type="submit"]')
        await expect(page.locator("#task-list .task .task-title").last).to_have_text(
            "Проверить оплату заказа 1042"
        )
        await expect(page.locator("#tasks-status")).to_have_text("Задача создана")

        # The done tab shows the callback's outcome in words.
        await page.click('.task-tabs a[data-view="done"]')
        result = page.locator(f'#task-list li[data-task="{tasks.callback}"] .task-result')
        await expect(result).to_have_text("Не ответил: перезвоню завтра в 10")

        # English.
        await page.goto(f"{servers.hub_url}/tasks?view=done&lang=en")
        await expect(page.locator(".task-tabs a[aria-current] span").first).to_have_text("Done")
        await expect(result).to_have_text("No answer: перезвоню завтра в 10")
    finally:
        await context.close()


async def test_the_client_card_lists_the_clients_open_tasks_and_closes_and_creates_them(
    browser: Browser, servers: Servers
) -> None:
    hub = servers.hub
    data = await seed(hub)
    tasks = await make_tasks(hub, data)
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await log_in(page, servers.hub_url, "boris@tea.example")
        await page.click(f'.row[data-id="{data.telegram}"]')  # opened in place: the socket stays
        card = page.locator("#part-card .card-tasks")
        # Irina's open tasks: the callback, the invoice, Olga's, and Anna's follow-up of the new client.
        await expect(card.locator(".task")).to_have_count(4)
        olgas = card.locator(f'li[data-task="{tasks.olgas}"]')
        await expect(olgas.locator(".task-assignee")).to_have_text("Ольга Кузнецова")
        await expect(card.locator(f'li[data-task="{tasks.callback}"] a.call-link')).to_have_attribute(
            "href", "tel:+79161234567"
        )
        await olgas.locator("summary").click()
        await olgas.locator('input[name="result"]').fill("адрес подтверждён")
        await olgas.locator('button[type="submit"]').click()
        await expect(card.locator(".task")).to_have_count(3)
        closed = await task_row(hub, tasks.olgas)
        assert (closed.status, closed.result) == ("done", "адрес подтверждён")
        # Closing one of mine there: the header's count of my open tasks follows (the task event).
        await expect(page.locator("#my-tasks")).to_have_text("3")
        invoice = card.locator(f'li[data-task="{tasks.invoice}"]')
        await invoice.locator("summary").click()
        await invoice.locator('button[type="submit"]').click()
        await expect(card.locator(".task")).to_have_count(2)
        await expect(page.locator("#my-tasks")).to_have_text("2")

        # A new task from the card: a due time and an assignee.
        form = page.locator("#part-card form.card-task-form")
        await form.locator('input[name="title"]').fill("Согласовать время доставки")
        await form.locator('input[name="due"]').fill("2030-05-06T12:00")
        await form.locator('select[name="assignee"]').select_option(str(tasks.olga))
        await form.locator('button[type="submit"]').click()
        await expect(card.locator(".task")).to_have_count(3)
        created = await eventually(
            lambda: _task_titled(hub, "Согласовать время доставки"), "the card's new task is stored"
        )
        assert created.assignee_id == tasks.olga and created.contact_id == data.irina
        assert created.due_at is not None and utc(created.due_at) == datetime(2030, 5, 6, 9, 0, tzinfo=UTC)
    finally:
        await context.close()


async def _task_titled(hub: Hub, title: str) -> Task | None:
    async with hub.sessionmaker() as session:
        return await session.scalar(select(Task).where(Task.title == title))
