"""/reports: the managers' pages — overview, filters, a chart and the table, the drill-down, RU/EN; linked
for supervisors and admins only, refused to agents."""

from __future__ import annotations

import re

from hub.runtime import Hub
from hub.web.ui.reports import percent
from tests.hub.web.conftest import Client, Person, hand_in, login, make_agent


async def test_a_supervisor_sees_the_overview_a_chart_and_the_table_in_their_language(
    client: Client, hub: Hub
) -> None:
    boss = await make_agent(hub, "boss@okno.example.com", role="supervisor", teams=("Sales",))
    await hand_in(client, "p1")
    await hand_in(client, "p2", email="second@example.com")
    await login(client, boss.email)
    assert 'href="/reports"' in await (await client.get("/inbox")).text()

    page = await client.get("/reports?lang=en&report=volume&by=channel")
    assert page.status == 200
    html = await page.text()
    assert "<h2>Today</h2>" in html and "<h2>30 days</h2>" in html
    assert '<th scope="col">New conversations</th>' in html and ">API</a></td>" in html
    assert html.count("<rect x=") == 1 and "<title>API: 2</title>" in html  # one bar: two inbound on the API
    assert "/api/v1/reports/volume?" in html and "format=csv" in html

    russian = await (await client.get("/reports?lang=ru&report=first_response&by=hour")).text()
    assert "Время первого ответа" in russian and ">09:00</a></td>" in russian
    assert russian.count("<rect x=") == 24  # every hour of the day, zeros included (each a link: a hit area)

    whole = await (await client.get("/reports?lang=en&report=calls&by=whole&team=&channel=")).text()
    assert ">Total</a></td>" in whole


async def test_reports_are_refused_to_agents_and_absent_from_their_header(
    client: Client, sales: Person
) -> None:
    assert (await client.get("/reports", allow_redirects=False)).status == 302
    await login(client, sales.email)
    assert 'href="/reports"' not in await (await client.get("/inbox")).text()
    assert (await client.get("/reports")).status == 403


async def test_a_bad_filter_is_a_clear_error_not_a_crash(client: Client, hub: Hub) -> None:
    boss = await make_agent(hub, "boss@okno.example.com", role="supervisor", teams=("Sales",))
    await login(client, boss.email)
    response = await client.get("/reports?report=nothing")
    assert response.status == 400 and "report" in await response.text()
    backwards = await client.get("/reports?from=2026-03-08&to=2026-03-01")
    assert backwards.status == 422 and "ends before it starts" in await backwards.text()


async def test_each_bar_and_row_of_a_wait_report_opens_the_conversations_behind_it(
    client: Client, hub: Hub, sales: Person
) -> None:
    boss = await make_agent(hub, "boss@okno.example.com", role="supervisor", teams=("Sales",))
    first = await hand_in(client, "w1", name="<i>Ирина</i>")
    await hand_in(client, "w2", email="second@example.com", name="Олег")
    await client.post(
        f"/api/v1/conversations/{first['conversation_id']}/replies",
        json={"text": "Да"},
        headers=sales.headers,
    )
    await login(client, boss.email)
    html = await (await client.get("/reports?lang=en&report=first_response&by=agent")).text()
    # An agent's group reads as the name (the API and the CSV keep the e-mail; the link carries it).
    link = re.search(r'<a class="drill" href="([^"]+)"[^>]*>Anna</a>', html)
    assert link is not None and 'class="bar" href="' in html
    href = link.group(1).replace("&amp;", "&")
    assert "drill=1" in href and "group=anna%40okno.example.com" in href
    drilled = await (await client.get(href)).text()
    assert "Conversations behind: Anna" in drilled and "1 wait" in drilled and "<td>Anna</td>" in drilled
    assert f'<a href="/inbox/{first["conversation_id"]}">' in drilled
    assert "&lt;i&gt;Ирина&lt;/i&gt;" in drilled and '<td class="sla-met">met</td>' in drilled
    unanswered = await (await client.get(href.split("&group=")[0] + "&lang=ru")).text()  # the "none" row
    assert "Олег" in unanswered and "ещё ждёт" in unanswered and "Ирина" not in unanswered


async def test_the_volume_leads_and_calls_pages_open_the_conversations_cards_and_calls_behind_a_row(
    client: Client, hub: Hub
) -> None:
    boss = await make_agent(hub, "boss@okno.example.com", role="supervisor", teams=("Sales",))
    first = await hand_in(client, "v1", name="<b>Ирина</b>")
    await hand_in(client, "v2", account="depot", email="other@example.com", name="SECRETB")
    await login(client, boss.email)

    volume = await (await client.get("/reports?lang=en&report=volume&by=channel")).text()
    link = re.search(r'<a class="drill" href="([^"]+)"[^>]*>API</a>', volume)
    assert link is not None and 'class="bar" href="' in volume
    drilled = await (await client.get(link.group(1).replace("&amp;", "&"))).text()
    assert "Conversations behind: API" in drilled and "1 new conversation" in drilled
    assert (
        f'<a href="/inbox/{first["conversation_id"]}">' in drilled and "&lt;b&gt;Ирина&lt;/b&gt;" in drilled
    )
    assert "SECRETB" not in drilled  # another team's

    leads = await (await client.get("/reports?lang=ru&report=leads&by=whole&drill=1")).text()
    assert "1 лид" in leads and "Стал клиентом" in leads and "<td>нет</td>" in leads
    assert f'<a href="/inbox/{first["conversation_id"]}">' in leads and "SECRETB" not in leads
    by_source = await (await client.get("/reports?lang=en&report=leads&by=source")).text()
    assert ">API</a></td>" in by_source  # a lead with no ad source is under its channel, by its label

    calls = await (await client.get("/reports?lang=en&report=calls&by=hour&drill=1&group=9")).text()
    assert 'id="drill"' in calls and "0 calls" in calls  # no calls today: an empty list, not an error
    assert (await client.get("/reports?report=calls&by=hour&drill=1&group=25")).status == 422


def test_the_pages_show_a_percentage_with_one_decimal() -> None:
    # SLA 31.03 beside 10.0 in the overview read as two precisions; the API keeps its own rounding.
    assert percent(900 / 29) == "31.0" and percent(10.0) == "10.0" and percent(None) is None
