"""A supervisor manages the agents of their own teams through /api/v1/agents; admins rename and staff teams
(PATCH /api/v1/teams/{id})."""

from __future__ import annotations

from typing import Any

from hub.runtime import Hub
from tests.hub.web.conftest import Client, Person, error_of, make_agent


async def team_ids(client: Client, admin: Person) -> dict[str, int]:
    teams = (await (await client.get("/api/v1/teams", headers=admin.headers)).json())["items"]
    return {t["name"]: t["id"] for t in teams}


async def test_a_supervisor_creates_and_changes_agents_of_their_own_teams_only(
    client: Client, hub: Hub, admin: Person, sales: Person, wholesale: Person
) -> None:
    lead = await make_agent(hub, "lead@okno.example.com", role="supervisor", teams=("Sales",))
    ids = await team_ids(client, admin)
    new: dict[str, Any] = {"email": "new@okno.example.com", "name": "New", "password": "long enough pw"}

    created = await client.post(
        "/api/v1/agents", json={**new, "team_ids": [ids["Sales"]], "capacity": 4}, headers=lead.headers
    )
    assert created.status == 201, await created.text()
    assert [t["name"] for t in (await created.json())["teams"]] == ["Sales"]
    for refused in (
        {"email": "b@okno.example.com", "team_ids": [ids["Wholesale"]]},  # another team
        {"email": "c@okno.example.com", "team_ids": []},  # no team: outside theirs
        {"email": "d@okno.example.com", "team_ids": [ids["Sales"]], "role": "supervisor"},  # a role
    ):
        response = await client.post("/api/v1/agents", json={**new, **refused}, headers=lead.headers)
        await error_of(response, 403)

    changed = await client.patch(
        f"/api/v1/agents/{sales.id}",
        json={"capacity": 2, "extension": "201", "channel_capacity": {"webchat": 1}, "is_active": False},
        headers=lead.headers,
    )
    assert changed.status == 200, await changed.text()
    body = await changed.json()
    assert (body["capacity"], body["extension"], body["channel_capacity"], body["is_active"]) == (
        2,
        "201",
        {"webchat": 1},
        False,
    )
    for agent_id, change in (
        (sales.id, {"role": "supervisor"}),  # not the role
        (sales.id, {"email": "other@okno.example.com"}),  # nor the e-mail
        (sales.id, {"team_ids": [ids["Sales"], ids["Wholesale"]]}),  # nor another team's membership
        (wholesale.id, {"capacity": 1}),  # nor another team's agent
        (admin.id, {"capacity": 1}),  # nor an admin
        (lead.id, {"capacity": 1}),  # nor a supervisor (themselves included)
    ):
        response = await client.patch(f"/api/v1/agents/{agent_id}", json=change, headers=lead.headers)
        await error_of(response, 403)
    await error_of(
        await client.patch(f"/api/v1/agents/{sales.id}", json={"capacity": 1}, headers=wholesale.headers), 403
    )
    # the agent the supervisor deactivated: their token stops working
    await error_of(await client.get("/api/v1/me", headers=sales.headers), 401)


async def test_a_supervisor_may_take_an_agent_out_of_their_team_keeping_the_other_teams(
    client: Client, hub: Hub, admin: Person
) -> None:
    lead = await make_agent(hub, "lead@okno.example.com", role="supervisor", teams=("Sales",))
    both = await make_agent(hub, "both@okno.example.com", teams=("Sales", "Wholesale"))
    ids = await team_ids(client, admin)
    response = await client.patch(
        f"/api/v1/agents/{both.id}", json={"team_ids": [ids["Wholesale"]]}, headers=lead.headers
    )
    assert response.status == 200, await response.text()
    assert [t["name"] for t in (await response.json())["teams"]] == ["Wholesale"]


async def test_an_admin_renames_a_team_and_replaces_its_members_with_an_audit_row(
    client: Client, admin: Person, sales: Person, wholesale: Person
) -> None:
    ids = await team_ids(client, admin)
    url = f"/api/v1/teams/{ids['Sales']}"
    response = await client.patch(
        url, json={"name": " Retail ", "member_ids": [wholesale.id, sales.id]}, headers=admin.headers
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["name"] == "Retail"
    agents = (await (await client.get("/api/v1/agents", headers=admin.headers)).json())["items"]
    teams = {a["email"]: sorted(t["name"] for t in a["teams"]) for a in agents}
    assert teams[wholesale.email] == ["Retail", "Wholesale"] and teams[sales.email] == ["Retail"]
    audit = (await (await client.get("/api/v1/audit?action=team.update", headers=admin.headers)).json())[
        "items"
    ]
    assert audit[0]["detail"]["changes"] == {"name": "Retail", "member_ids": [wholesale.id, sales.id]}

    taken = await client.patch(url, json={"name": "Wholesale"}, headers=admin.headers)
    assert (await error_of(taken, 422))["field"] == "name"
    unknown = await client.patch(url, json={"member_ids": [999]}, headers=admin.headers)
    assert (await error_of(unknown, 422))["field"] == "member_ids"
    await error_of(await client.patch("/api/v1/teams/999", json={"name": "X"}, headers=admin.headers), 404)
    await error_of(await client.patch(url, json={"name": None}, headers=admin.headers), 400)
    await error_of(await client.patch(url, json={"name": "X"}, headers=sales.headers), 403)
