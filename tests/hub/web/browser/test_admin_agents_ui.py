"""The agents page in a real browser: an admin reaches it from the shared header by keyboard, creates an
agent (a generated password shown once) who then logs in, changes their role, teams, capacity and
extension, deactivates them (their open session ends and their log-in is refused), reactivates them and
resets their password (the new one works, the old one not); a supervisor sees only their teams' agents."""

from __future__ import annotations

import re

from playwright.async_api import Browser, Page, expect

from tests.hub.web.browser.conftest import Servers, log_in, make_person, new_context, screenshot_path


async def sign_in(page: Page, hub_url: str, email: str, password: str) -> None:
    """Post the log-in form (the caller checks where it led)."""
    await page.goto(f"{hub_url}/login")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("button[type=submit]")


async def test_an_admin_creates_changes_deactivates_and_resets_an_agent_who_logs_in_each_time(
    browser: Browser, servers: Servers
) -> None:
    url = servers.hub_url
    await make_person(servers.hub, "root@tea.example", "Ольга Админова", role="admin")
    await make_person(servers.hub, "anna@tea.example", "Анна Белова", teams=("Продажи",))
    await make_person(servers.hub, "oleg@tea.example", "Олег Оптов", teams=("Опт",))
    admin_context = await new_context(browser)
    vera_context = await new_context(browser)
    page = await admin_context.new_page()
    vera = await vera_context.new_page()
    try:
        await log_in(page, url, "root@tea.example")
        link = page.locator("#pages").get_by_role("link", name="Сотрудники и команды")
        await link.focus()
        await page.keyboard.press("Enter")
        await expect(page.locator("h1")).to_have_text("Сотрудники и команды")
        await expect(page.locator("#pages [aria-current=page]")).to_have_text("Сотрудники и команды")

        new = page.locator(".agent-new")
        await new.get_by_label("Имя").fill("Вера Новикова")
        await new.get_by_label("Эл. почта").fill("vera@tea.example")
        await new.get_by_label("Продажи").check()
        await new.get_by_role("button", name="Создать сотрудника").click()
        await expect(page.locator(".one-time")).to_contain_text("vera@tea.example")
        first = (await page.locator(".new-password").text_content() or "").strip()
        assert len(first) >= 16
        row = page.locator('tr[data-agent="vera@tea.example"]')
        await expect(row.locator(".teams")).to_have_text("Продажи")

        await sign_in(vera, url, "vera@tea.example", first)
        await expect(vera).to_have_url(re.compile(r"/inbox"))

        await page.get_by_role("link", name="Изменить: Вера Новикова").click()
        edit = page.locator(".agent-edit")
        await edit.get_by_label("Роль").select_option("supervisor")
        await edit.get_by_label("Опт").check()
        await edit.get_by_label("Нагрузка").fill("4")
        await edit.get_by_label("Внутренний номер").fill("105")
        await edit.get_by_role("button", name="Сохранить").click()
        await expect(page.get_by_role("status")).to_have_text("Сотрудник сохранён.")
        await expect(row.locator(".role")).to_have_text("супервайзер")
        await expect(row.locator(".teams")).to_have_text(re.compile("Опт.*Продажи|Продажи.*Опт"))
        await expect(row.locator(".capacity")).to_have_text("4")
        await expect(row.locator(".extension")).to_have_text("105")
        await page.screenshot(path=screenshot_path("admin-agents-1366x768.png"))

        await page.get_by_role("link", name="Изменить: Вера Новикова").click()
        await page.get_by_role("button", name="Отключить").click()
        await expect(page.get_by_role("status")).to_contain_text("Сотрудник отключён")
        await expect(row.locator(".active")).to_have_text("нет")
        await vera.goto(f"{url}/inbox")
        await expect(vera).to_have_url(re.compile(r"/login"))  # the open session ended
        await sign_in(vera, url, "vera@tea.example", first)
        await expect(vera.get_by_role("alert")).to_be_visible()  # and a new log-in is refused

        await page.get_by_role("link", name="Изменить: Вера Новикова").click()
        await page.get_by_role("button", name="Включить снова").click()
        await expect(row.locator(".active")).to_have_text("да")
        await page.get_by_role("link", name="Изменить: Вера Новикова").click()
        await page.get_by_role("button", name="Сбросить пароль").click()
        await expect(page.locator(".one-time")).to_contain_text("vera@tea.example")
        second = (await page.locator(".new-password").text_content() or "").strip()
        assert second and second != first

        await sign_in(vera, url, "vera@tea.example", first)
        await expect(vera.get_by_role("alert")).to_be_visible()  # the old password no longer works
        await sign_in(vera, url, "vera@tea.example", second)
        await expect(vera).to_have_url(re.compile(r"/inbox"))
    finally:
        await vera_context.close()
        await admin_context.close()


async def test_a_supervisor_sees_and_creates_only_their_own_teams_agents(
    browser: Browser, servers: Servers
) -> None:
    url = servers.hub_url
    await make_person(servers.hub, "chief@tea.example", "Пётр Главный", role="supervisor", teams=("Продажи",))
    await make_person(servers.hub, "anna@tea.example", "Анна Белова", teams=("Продажи",))
    await make_person(servers.hub, "oleg@tea.example", "Олег Оптов", teams=("Опт",))
    context = await new_context(browser)
    page = await context.new_page()
    try:
        await log_in(page, url, "chief@tea.example")
        await page.locator("#pages").get_by_role("link", name="Сотрудники и команды").click()
        rows = page.locator(".agents-table tbody tr .name")
        await expect(rows).to_have_text(["Анна Белова", "Пётр Главный"])
        await expect(page.locator(".agent-new select[name=role]")).to_have_count(0)  # no roles to give
        await expect(page.locator("#teams")).to_have_count(0)  # teams are the admins'
        await expect(page.get_by_role("link", name="Изменить: Пётр Главный")).to_have_count(0)

        new = page.locator(".agent-new")
        await new.get_by_label("Имя").fill("Игорь Новый")
        await new.get_by_label("Эл. почта").fill("igor@tea.example")
        await new.get_by_label("Пароль").fill("igor-long-password")
        await new.get_by_label("Продажи").check()
        await new.get_by_role("button", name="Создать сотрудника").click()
        await expect(page.get_by_role("status")).to_have_text("Сотрудник создан.")
        await expect(rows).to_have_text(["Анна Белова", "Игорь Новый", "Пётр Главный"])

        await page.get_by_role("link", name="Изменить: Анна Белова").click()
        edit = page.locator(".agent-edit")
        await expect(edit.locator("select[name=role]")).to_have_count(0)
        await edit.get_by_label("Нагрузка").fill("2")
        await edit.get_by_role("button", name="Сохранить").click()
        await expect(page.locator('tr[data-agent="anna@tea.example"] .capacity')).to_have_text("2")
    finally:
        await context.close()
