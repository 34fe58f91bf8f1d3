"""Issue 15 in a real browser: a failed reply shows its whole error and a Retry button that sends it again
through the outbox (same idempotency key, audited); the list says "Вы:" only before the viewer's own reply
and a colleague's name before theirs; a phone conversation offers "Call back" and "Create task" and notes
instead of a reply box that cannot send. Saves screenshots of both."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from hub.runtime import Hub
from inbox.items import IdentityRef
from inbox.models import Agent, AuditLog, Conversation, Message, Outbox, Task
from inbox.replies import add_reply
from tests.hub.web.api.test_capabilities import conversation_on
from tests.hub.web.browser.conftest import (
    ACCOUNTS,
    Servers,
    log_in,
    make_person,
    new_context,
    screenshot_path,
)
from tests.hub.web.browser.test_search_ui import client_writes
from tests.waiting import eventually

# "shop" has no callback_url: the worker fails its replies for good, with the reason, as in a real setup.
CALLBACK_TITLE = "Перезвонить: Иван Петров"  # the card name of tests.inbox.helpers.message
NO_CALLBACK = "account 'shop' has no callback_url: replies cannot be delivered"


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Hub]]) -> Hub:
    return await hub_factory(accounts={**ACCOUNTS, "pbx": {"kind": "sip", "enabled": False}})


async def test_a_failed_reply_shows_its_error_and_is_sent_again_and_previews_name_the_author(
    browser: Browser, servers: Servers
) -> None:
    hub = servers.hub
    await make_person(hub, "anna@tea.example", "Анна Петрова", role="supervisor", teams=("Продажи",))
    petr = await make_person(hub, "petr@tea.example", "Пётр Ильин", teams=("Продажи",))
    mine, _ = await client_writes(
        hub, "m-1", "Где мой заказ A-10234?", IdentityRef("email", "irina@example.com"), "Ирина Орлова"
    )
    theirs, _ = await client_writes(
        hub, "m-2", "Есть ли улун?", IdentityRef("email", "oleg@example.com"), "Олег Седов"
    )
    async with hub.sessionmaker() as session:
        conv = await session.get_one(Conversation, theirs)
        await add_reply(
            session, conv, await session.get_one(Agent, petr), "Есть, три сорта", policy=hub.policy
        )
        await session.commit()
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await log_in(page, servers.hub_url, "anna@tea.example")
        await page.goto(f"{servers.hub_url}/inbox/{mine}")
        await page.wait_for_selector("#live[data-state=open]")
        await page.fill("#reply", "Заказ уже в пути")
        await page.click("#send")
        retry = page.locator('#part-timeline button[data-action="retry"]')
        await expect(retry).to_have_count(1)  # the worker failed it for good; the event re-rendered it
        await expect(retry).to_have_attribute("title", NO_CALLBACK)  # the whole error on hover
        described = await retry.get_attribute("aria-describedby")
        assert described is not None
        await expect(page.locator(f"#{described}")).to_have_text(NO_CALLBACK)
        await expect(page.locator(f'.row[data-id="{mine}"] .preview')).to_have_text("Вы: Заказ уже в пути")
        await expect(page.locator(f'.row[data-id="{theirs}"] .preview')).to_have_text(
            "Пётр Ильин: Есть, три сорта"
        )
        await page.screenshot(path=screenshot_path("failed-reply-retry-1366x768.png"))
        async with hub.sessionmaker() as session:
            [(message_id, key)] = (
                await session.execute(
                    select(Outbox.message_id, Outbox.idempotency_key)
                    .join(Message, Message.id == Outbox.message_id)
                    .where(Message.conversation_id == mine)
                )
            ).all()

        await retry.focus()
        await page.keyboard.press("Enter")  # keyboard-reachable

        async def retried() -> AuditLog | None:
            async with hub.sessionmaker() as session:
                found: AuditLog | None = await session.scalar(
                    select(AuditLog).where(AuditLog.action == "message.retry")
                )
                return found

        entry = await eventually(retried, "the retry's audit row")
        assert (entry.entity_id, entry.detail["error"]) == (message_id, NO_CALLBACK)
        async with hub.sessionmaker() as session:
            [row] = (await session.scalars(select(Outbox).where(Outbox.message_id == message_id))).all()
            assert row.idempotency_key == key  # the same row and key, not a second send
    finally:
        await context.close()


async def test_a_phone_conversation_offers_call_back_and_a_task_and_notes_instead_of_a_reply(
    browser: Browser, servers: Servers
) -> None:
    hub = servers.hub
    anna = await make_person(hub, "anna@tea.example", "Анна Петрова", role="admin")
    call = await conversation_on(hub, "pbx", ("phone", "+74951234567"))
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await log_in(page, servers.hub_url, "anna@tea.example")
        await page.goto(f"{servers.hub_url}/inbox/{call}")
        await page.wait_for_selector("#live[data-state=open]")
        await expect(page.locator(".phone-actions")).to_be_visible()
        await expect(page.locator('#composer .tabs button[data-mode="reply"]')).to_be_hidden()
        await expect(page.locator("#composer")).to_have_attribute("data-mode", "note")
        await page.screenshot(path=screenshot_path("phone-conversation-1366x768.png"))

        await page.click('button[data-action="callback"]')
        await expect(page.locator("#task-status")).to_have_text("Задача «перезвонить» создана для вас")
        await page.fill(".phone-actions .task-form input[name=title]", "Отправить счёт")
        await page.press(".phone-actions .task-form input[name=title]", "Enter")
        await expect(page.locator("#task-status")).to_have_text("Задача создана")
        await page.fill("#reply", "Клиент просил перезвонить после 15:00")
        await page.click("#send")

        async def noted() -> bool:
            async with hub.sessionmaker() as session:
                return bool(
                    await session.scalar(
                        select(Message.id).where(Message.conversation_id == call, Message.direction == "note")
                    )
                )

        await eventually(noted, "the note")
        async with hub.sessionmaker() as session:
            tasks = (
                await session.execute(select(Task.kind, Task.title, Task.conversation_id, Task.assignee_id))
            ).all()
            assert sorted(tasks) == [
                ("callback", CALLBACK_TITLE, call, anna),
                ("todo", "Отправить счёт", call, anna),
            ]
            assert await session.scalar(select(Outbox.id)) is None  # nothing was queued to a phone line
    finally:
        await context.close()
