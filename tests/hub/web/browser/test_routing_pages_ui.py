"""The routing pages in a real browser: an admin reaches the rules from the header by keyboard, gets an
error naming the rule and key, saves rules and reorders them; a supervisor watches a new dialog appear in
their team's queue on the board without reloading, and changes the team's routing."""

from __future__ import annotations

import json

from aiohttp import ClientSession
from playwright.async_api import Browser, expect
from sqlalchemy import select

from inbox.models import Team
from inbox.routing.rules import load_rules
from tests.hub.web.browser.conftest import Servers, log_in, make_person, new_context, screenshot_path

GOOD = [
    {"name": "Возвраты", "team": "Продажи", "priority": 3, "when": {"keywords": ["возврат"]}},
    {"name": "VIP ночью", "team": "Продажи", "auto_reply": "ru.out-of-hours", "when": {"vip": True}},
]


async def test_an_admin_edits_and_reorders_the_rules_and_sees_an_error_naming_the_rule_and_key(
    browser: Browser, servers: Servers
) -> None:
    await make_person(servers.hub, "root@tea.example", "Ольга Админова", role="admin")
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await log_in(page, servers.hub_url, "root@tea.example")
        link = page.get_by_role("link", name="Правила распределения")
        await link.focus()
        await page.keyboard.press("Enter")
        await expect(page.locator("h1")).to_have_text("Правила распределения")

        editor = page.locator("#rules-text")
        typo = [GOOD[0], {**GOOD[1], "auto_reply": "ru.out-of-hour"}]
        await editor.fill(json.dumps(typo, ensure_ascii=False, indent=2))
        await page.get_by_role("button", name="Сохранить правила").click()
        await expect(page.get_by_role("alert")).to_contain_text("rules[1].auto_reply")
        await expect(editor).to_have_value(json.dumps(typo, ensure_ascii=False, indent=2))  # kept

        await editor.fill(json.dumps(GOOD, ensure_ascii=False, indent=2))
        await page.get_by_role("button", name="Сохранить правила").click()
        await expect(page.get_by_role("status")).to_have_text("Правила сохранены.")
        rows = page.locator(".rules-table tbody tr .name")
        await expect(rows).to_have_text(["Возвраты", "VIP ночью"])
        await page.screenshot(path=screenshot_path("routing-rules-1366x768.png"))

        await page.get_by_role("button", name="Опустить правило «Возвраты»").click()
        await expect(rows).to_have_text(["VIP ночью", "Возвраты"])
        async with servers.hub.sessionmaker() as session:
            stored = [spec for spec, _ in await load_rules(session)]
        assert [(s.name, s.auto_reply) for s in stored] == [
            ("VIP ночью", "ru.out-of-hours"),
            ("Возвраты", None),
        ]
    finally:
        await context.close()


async def test_a_supervisor_sees_a_new_dialog_join_the_queue_live_and_changes_the_teams_routing(
    browser: Browser, servers: Servers
) -> None:
    await make_person(servers.hub, "anna@tea.example", "Анна Белова", teams=("Продажи",))
    await make_person(servers.hub, "chief@tea.example", "Пётр Главный", role="supervisor", teams=("Продажи",))
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await log_in(page, servers.hub_url, "chief@tea.example")
        await page.get_by_role("link", name="Распределение", exact=True).click()
        await expect(page.locator("h1")).to_have_text("Распределение")
        anna = page.locator(".board-agents tr", has_text="Анна Белова")
        await expect(anna.locator(".status")).to_have_text("Не на линии")
        await expect(anna.locator(".load")).to_have_text("0 / 10")

        async with ClientSession() as http:
            response = await http.post(
                servers.hub_url + "/api/v1/channels/shop/messages",
                json={
                    "external_id": "q-1",
                    "sender": {"name": "Ирина", "email": "q1@example.com"},
                    "text": "Привет",
                },
                headers={"Authorization": "Bearer t0ken"},
            )
            assert response.status == 201, await response.text()
            conversation = int((await response.json())["conversation_id"])
        queued = page.locator(f'.board-queue tr[data-conversation="{conversation}"]')
        await expect(queued).to_be_visible()  # the live part re-read itself: no reload
        await expect(queued.locator("td").first).to_have_text("1")
        await page.screenshot(path=screenshot_path("routing-board-1366x768.png"))

        async with servers.hub.sessionmaker() as session:
            team_id = await session.scalar(select(Team.id).where(Team.name == "Продажи"))
        form = page.locator(f"#team-{team_id}")
        await form.locator("select[name=strategy]").select_option("least_busy")
        await form.locator("input[name=agent_capacity]").fill("4")
        await form.locator("input[name=answer_timeout_minutes]").fill("15")
        await form.locator("input[name=answer_timeout_minutes]").press("Enter")  # submits, by keyboard
        await expect(page.get_by_role("status")).to_have_text("Распределение команды сохранено.")
        await expect(page.locator(f"#team-{team_id} input[name=agent_capacity]")).to_have_value("4")
        async with servers.hub.sessionmaker() as session:
            team = await session.get_one(Team, team_id)
            assert (team.strategy, team.agent_capacity, team.answer_timeout_seconds) == ("least_busy", 4, 900)
    finally:
        await context.close()
