"""Agents and teams (admins write, everyone reads) and tasks."""

from __future__ import annotations

from hub.runtime import Hub
from tests.hub.web.conftest import PASSWORD, Client, Person, error_of, hand_in, make_agent


async def test_admin_creates_a_team_and_an_agent_who_can_log_in(client: Client, admin: Person) -> None:
    team = await (await client.post("/api/v1/teams", json={"name": "Support"}, headers=admin.headers)).json()
    response = await client.post(
        "/api/v1/agents",
        json={
            "email": "Nina@Okno.Example.com",
            "name": "Нина",
            "password": "long enough",
            "role": "supervisor",
            "team_ids": [team["id"]],
            "language": "ru",
        },
        headers=admin.headers,
    )
    assert response.status == 201, await response.text()
    agent = await response.json()
    assert agent["email"] == "nina@okno.example.com"
    assert agent["teams"] == [team]
    assert "password" not in str(agent) and "hash" not in str(agent)
    login = await client.post(
        "/api/v1/auth/login", json={"email": "nina@okno.example.com", "password": "long enough"}
    )
    assert login.status == 200


async def test_agent_creation_refusals_name_the_field(client: Client, admin: Person) -> None:
    base = {"email": "x@okno.example.com", "name": "X", "password": "long enough"}
    for change, field, status in (
        ({"email": "not-mail"}, "email", 422),
        ({"email": admin.email}, "email", 422),
        ({"password": "short"}, "password", 400),
        ({"role": "king"}, "role", 400),
        ({"team_ids": [999]}, "team_ids", 422),
    ):
        response = await client.post("/api/v1/agents", json={**base, **change}, headers=admin.headers)
        assert (await error_of(response, status))["field"] == field, change


async def test_everyone_reads_agents_and_teams_but_only_admins_write(client: Client, sales: Person) -> None:
    agents = await (await client.get("/api/v1/agents", headers=sales.headers)).json()
    assert [a["email"] for a in agents["items"]] == [sales.email]
    assert agents["items"][0]["presence"] == "offline"
    teams = await (await client.get("/api/v1/teams", headers=sales.headers)).json()
    assert {t["name"] for t in teams["items"]} == {"Sales", "Wholesale"}
    await error_of(await client.post("/api/v1/teams", json={"name": "X"}, headers=sales.headers), 403)
    body = {"email": "y@okno.example.com", "name": "Y", "password": PASSWORD}
    await error_of(await client.post("/api/v1/agents", json=body, headers=sales.headers), 403)
    await error_of(
        await client.patch(f"/api/v1/agents/{sales.id}", json={"role": "admin"}, headers=sales.headers), 403
    )


async def test_admin_changes_an_agent_but_not_their_own_admin_role(
    client: Client, admin: Person, sales: Person
) -> None:
    teams = {
        t["name"]: t["id"]
        for t in (await (await client.get("/api/v1/teams", headers=admin.headers)).json())["items"]
    }
    response = await client.patch(
        f"/api/v1/agents/{sales.id}",
        json={"role": "supervisor", "team_ids": [teams["Wholesale"]], "capacity": 3, "name": "Анна"},
        headers=admin.headers,
    )
    changed = await response.json()
    assert (changed["role"], changed["capacity"], changed["name"]) == ("supervisor", 3, "Анна")
    assert [t["name"] for t in changed["teams"]] == ["Wholesale"]
    own = await client.patch(f"/api/v1/agents/{admin.id}", json={"role": "agent"}, headers=admin.headers)
    assert (await error_of(own, 422))["field"] == "role"
    own = await client.patch(f"/api/v1/agents/{admin.id}", json={"is_active": False}, headers=admin.headers)
    assert (await error_of(own, 422))["field"] == "is_active"
    await error_of(await client.patch("/api/v1/agents/999", json={"name": "x"}, headers=admin.headers), 404)


async def test_duplicate_team_name_is_422(client: Client, admin: Person) -> None:
    response = await client.post("/api/v1/teams", json={"name": "Sales"}, headers=admin.headers)
    assert (await error_of(response, 422))["field"] == "name"


async def test_tasks_are_mine_by_default_and_closing_sets_closed_at(client: Client, sales: Person) -> None:
    result = await hand_in(client, "1")
    response = await client.post(
        "/api/v1/tasks",
        json={"title": "Перезвонить", "kind": "callback", "conversation_id": result["conversation_id"]},
        headers=sales.headers,
    )
    assert response.status == 201, await response.text()
    task = await response.json()
    assert task["assignee_id"] == sales.id
    assert task["contact_id"] == result["contact_id"]  # taken from the conversation
    assert task["status"] == "open" and task["closed_at"] is None

    done = await (
        await client.patch(
            f"/api/v1/tasks/{task['id']}", json={"status": "done", "result": "ok"}, headers=sales.headers
        )
    ).json()
    assert done["status"] == "done" and done["closed_at"] is not None
    reopened = await (
        await client.patch(f"/api/v1/tasks/{task['id']}", json={"status": "open"}, headers=sales.headers)
    ).json()
    assert reopened["closed_at"] is None


async def test_task_list_is_mine_and_my_teams(
    client: Client, hub: Hub, admin: Person, sales: Person, wholesale: Person
) -> None:
    teams = {
        t["name"]: t["id"]
        for t in (await (await client.get("/api/v1/teams", headers=admin.headers)).json())["items"]
    }
    for title, extra in (
        ("mine", {"assignee_id": sales.id}),
        ("sales team", {"team_id": teams["Sales"]}),
        ("wholesale team", {"team_id": teams["Wholesale"]}),
        ("boris", {"assignee_id": wholesale.id}),
    ):
        response = await client.post("/api/v1/tasks", json={"title": title, **extra}, headers=admin.headers)
        assert response.status == 201

    async def titles(who: Person, query: str = "") -> set[str]:
        body = await (await client.get(f"/api/v1/tasks?{query}", headers=who.headers)).json()
        return {t["title"] for t in body["items"]}

    assert await titles(sales) == {"mine", "sales team"}
    assert await titles(sales, "assignee=me") == {"mine"}
    assert await titles(wholesale) == {"wholesale team", "boris"}
    assert await titles(admin) == {"mine", "sales team", "wholesale team", "boris"}
    assert await titles(sales, "status=done") == set()
    assert await titles(sales, "view=mine") == {"mine"}
    assert await titles(sales, "view=team") == {"mine", "sales team"}  # held by Sales or its agents
    assert await titles(admin, "view=team") == set()  # the admin is in no team
    assert await titles(sales, "view=done") == set()

    boris_task = next(
        t
        for t in (await (await client.get("/api/v1/tasks", headers=admin.headers)).json())["items"]
        if t["title"] == "boris"
    )
    await error_of(
        await client.patch(
            f"/api/v1/tasks/{boris_task['id']}", json={"status": "done"}, headers=sales.headers
        ),
        404,  # a task the caller may not see is answered as if it did not exist
    )


async def test_task_refusals_name_the_field(client: Client, hub: Hub, sales: Person) -> None:
    for body, field, status in (
        ({"title": ""}, "title", 400),
        ({"title": "x", "assignee_id": 999}, "assignee_id", 422),
        ({"title": "x", "team_id": 999}, "team_id", 422),
        ({"title": "x", "contact_id": 999}, "contact_id", 422),
        ({"title": "x", "due_at": "tomorrow"}, "due_at", 400),
    ):
        error = await error_of(await client.post("/api/v1/tasks", json=body, headers=sales.headers), status)
        assert error["field"] == field, body
    depot = await hand_in(client, "d", account="depot")
    body = {"title": "x", "conversation_id": depot["conversation_id"]}
    await error_of(await client.post("/api/v1/tasks", json=body, headers=sales.headers), 403)
    other = await make_agent(hub, "other@okno.example.com")
    assert (await client.get("/api/v1/tasks", headers=other.headers)).status == 200


async def test_the_overdue_view_lists_open_past_due_tasks_first_due_first(
    client: Client, sales: Person
) -> None:
    for title, due in (
        ("later", "2999-01-01T09:00:00Z"),
        ("long ago", "2020-01-01T09:00:00Z"),
        ("yesterday-ish", "2021-06-01T09:00:00Z"),
        ("no due", None),
    ):
        body = {"title": title, **({"due_at": due} if due else {})}
        assert (await client.post("/api/v1/tasks", json=body, headers=sales.headers)).status == 201

    async def titles(query: str) -> list[str]:
        body = await (await client.get(f"/api/v1/tasks?{query}", headers=sales.headers)).json()
        return [t["title"] for t in body["items"]]

    assert await titles("view=overdue") == ["long ago", "yesterday-ish"]
    assert await titles("") == ["long ago", "yesterday-ish", "later", "no due"]
    await error_of(await client.get("/api/v1/tasks?view=someday", headers=sales.headers), 400)


async def test_holding_a_task_about_a_card_does_not_show_other_cards_tasks(
    client: Client, admin: Person, sales: Person
) -> None:
    """A fixed bug: the card rule "a task about it is assigned to me" compared the task with itself, so an
    agent with any task about any card saw every task about a card."""
    shop = await hand_in(client, "s-1", account="shop")
    depot = await hand_in(client, "d-1", account="depot", email="opt@example.com")
    for body in (
        {"title": "mine", "assignee_id": sales.id, "contact_id": shop["contact_id"]},
        {"title": "wholesale", "contact_id": depot["contact_id"]},
    ):
        assert (await client.post("/api/v1/tasks", json=body, headers=admin.headers)).status == 201
    body = await (await client.get("/api/v1/tasks", headers=sales.headers)).json()
    assert [t["title"] for t in body["items"]] == ["mine"]
