"""GET /api/v1/reports/{name}: supervisors and admins only, scoped to a supervisor's teams, JSON checked
against the OpenAPI document, CSV on request; and its drill-down, /api/v1/reports/{name}/conversations."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from hub.runtime import Hub
from tests.hub.web.api.test_openapi import Checked
from tests.hub.web.conftest import Client, Person, error_of, hand_in, make_agent


def today(hub: Hub) -> str:
    """Today where the reports count days (the configured zone): past 21:00 UTC Moscow is already tomorrow."""
    return datetime.now(ZoneInfo(hub.settings.business_hours.timezone)).date().isoformat()


async def test_a_supervisor_reads_their_teams_figures_and_an_agent_none(
    client: Client, hub: Hub, sales: Person, wholesale: Person
) -> None:
    boss = await make_agent(hub, "boss@okno.example.com", role="supervisor", teams=("Sales",))
    admin = await make_agent(hub, "root@okno.example.com", role="admin")
    await hand_in(client, "r1")  # the "shop" account: Sales
    await hand_in(client, "r2", account="depot", email="other@example.com")  # Wholesale
    checked = Checked(client)
    day = today(hub)
    query = f"?from={day}&to={day}"

    mine = await checked("GET", f"/api/v1/reports/volume{query}", headers=boss.headers, status=200)
    assert mine["rows"] == [{"group": None, "new_conversations": 1, "inbound": 1, "outbound": 0}]
    everyone = await checked(
        "GET", f"/api/v1/reports/volume{query}&by=channel", headers=admin.headers, status=200
    )
    assert [(r["group"], r["inbound"]) for r in everyone["rows"]] == [("api", 2)]
    waits = await checked("GET", f"/api/v1/reports/first_response{query}", headers=boss.headers, status=200)
    assert waits["rows"][0]["count"] == 0  # open, not yet measured

    assert (await error_of(await client.get(f"/api/v1/reports/volume{query}", headers=sales.headers), 403))[
        "code"
    ] == "forbidden"
    other_team = await client.get(f"/api/v1/reports/volume{query}&team=999", headers=boss.headers)
    assert other_team.status == 403
    unknown = await client.get(f"/api/v1/reports/nothing{query}", headers=boss.headers)
    assert unknown.status == 404
    backwards = await client.get(f"/api/v1/reports/volume?from={day}&to=2000-01-01", headers=boss.headers)
    assert (await error_of(backwards, 422))["field"] == "to"
    assert wholesale.role == "agent"


async def test_csv_for_excel_on_request(client: Client, hub: Hub) -> None:
    admin = await make_agent(hub, "root@okno.example.com", role="admin")
    await hand_in(client, "r1")
    response = await client.get(
        f"/api/v1/reports/volume?from={today(hub)}&to={today(hub)}&delimiter=;",
        headers={**admin.headers, "Accept": "text/csv"},
    )
    assert response.status == 200 and response.content_type == "text/csv"
    text = (await response.read()).decode("utf-8")
    assert text == "\ufeffgroup;new_conversations;inbound;outbound\r\n;1;1;0\r\n"


async def test_the_conversations_behind_a_row_are_the_reports_own_waits_scoped_and_paginated(
    client: Client, hub: Hub, sales: Person, wholesale: Person
) -> None:
    boss = await make_agent(hub, "boss@okno.example.com", role="supervisor", teams=("Sales",))
    day = today(hub)
    answered = await hand_in(client, "d1", name="Ирина")
    await hand_in(client, "d2", email="second@example.com", name="Олег")
    await hand_in(client, "d3", account="depot", email="other@example.com", name="SECRETB")
    reply = await client.post(
        f"/api/v1/conversations/{answered['conversation_id']}/replies",
        json={"text": "Здравствуйте!"},
        headers=sales.headers,
    )
    assert reply.status == 201
    checked = Checked(client)
    base = f"/api/v1/reports/first_response/conversations?from={day}&to={day}"

    by_agent = await checked("GET", f"{base}&by=agent&group={sales.email}", headers=boss.headers, status=200)
    [row] = by_agent["items"]
    assert by_agent["total"] == 1 and row["conversation_id"] == answered["conversation_id"]
    assert (row["client"], row["channel"], row["agent"], row["team"]) == (
        "Ирина",
        "api",
        sales.email,
        "Sales",
    )
    assert row["url"] == f"/inbox/{answered['conversation_id']}" and row["sla"] == "met"
    assert row["seconds"] is not None and row["ended_at"] is not None

    team = await checked(
        "GET", f"{base}&by=team&group=Sales&limit=1&offset=1", headers=boss.headers, status=200
    )
    assert (team["total"], len(team["items"])) == (2, 1)
    assert team["items"][0]["client"] == "Олег" and team["items"][0]["sla"] == "pending"
    whole = await checked("GET", base, headers=boss.headers, status=200)
    assert whole["total"] == 2 and "SECRETB" not in str(whole)  # the other team's client stays out
    others = await checked("GET", f"{base}&by=team&group=Wholesale", headers=boss.headers, status=200)
    assert others["total"] == 0

    assert (await client.get(base, headers=sales.headers)).status == 403
    unknown = await client.get(base.replace("first_response", "nothing"), headers=boss.headers)
    assert unknown.status == 404
    hour = await client.get(f"{base}&by=hour&group=25", headers=boss.headers)
    assert (await error_of(hour, 422))["field"] == "group"
    nobody = await client.get(f"{base}&by=agent&group=ghost@example.com", headers=boss.headers)
    assert "ghost@example.com" in (await error_of(nobody, 422))["message"]
    assert wholesale.role == "agent"


async def test_the_volume_and_leads_drill_downs_list_the_new_conversations_and_cards_of_a_supervisors_teams(
    client: Client, hub: Hub, sales: Person
) -> None:
    boss = await make_agent(hub, "boss@okno.example.com", role="supervisor", teams=("Sales",))
    day = today(hub)
    first = await hand_in(client, "v1", name="Ирина")
    await hand_in(client, "v2", account="depot", email="other@example.com", name="SECRETB")
    checked = Checked(client)
    period = f"?from={day}&to={day}"

    report = await checked(
        "GET", f"/api/v1/reports/volume{period}&by=channel", headers=boss.headers, status=200
    )
    [row] = report["rows"]
    volume = await checked(
        "GET",
        f"/api/v1/reports/volume/conversations{period}&by=channel&group=api",
        headers=boss.headers,
        status=200,
    )
    assert volume["total"] == row["new_conversations"] == 1
    [item] = volume["items"]
    assert (item["conversation_id"], item["client"], item["team"], item["wait_id"]) == (
        first["conversation_id"],
        "Ирина",
        "Sales",
        None,
    )
    assert item["url"] == f"/inbox/{first['conversation_id']}" and item["call_id"] is None

    leads = await checked(
        "GET", f"/api/v1/reports/leads/conversations{period}", headers=boss.headers, status=200
    )
    assert leads["total"] == 1 and "SECRETB" not in str(leads)  # the other team's card stays out
    [card] = leads["items"]
    assert (card["client"], card["conversation_id"], card["became_client"]) == (
        "Ирина",
        first["conversation_id"],
        False,
    )
    calls = await checked(
        "GET", f"/api/v1/reports/calls/conversations{period}", headers=boss.headers, status=200
    )
    assert calls["total"] == 0 and calls["items"] == []
    by_source = await client.get(
        f"/api/v1/reports/volume/conversations{period}&by=source", headers=boss.headers
    )
    assert (await error_of(by_source, 422))["field"] == "by"
    assert (
        await client.get(f"/api/v1/reports/leads/conversations{period}", headers=sales.headers)
    ).status == 403
