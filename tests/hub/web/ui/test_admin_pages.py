"""The agents page's forms: a refusal is a clear 4xx that changes nothing — a taken e-mail (422, named on
the page), a forged form (no CSRF token), an agent (403), a supervisor reaching past their teams (403)."""

from __future__ import annotations

from sqlalchemy import select

from hub.runtime import Hub
from inbox.models import Agent
from tests.hub.web.conftest import Client, Person, login, make_agent


async def names(hub: Hub) -> list[str]:
    async with hub.sessionmaker() as session:
        return list(await session.scalars(select(Agent.email).order_by(Agent.email)))


async def test_a_taken_email_is_a_422_naming_it_and_a_forged_form_changes_nothing(
    client: Client, hub: Hub, admin: Person, sales: Person
) -> None:
    csrf = await login(client, admin.email)
    before = await names(hub)
    form = {"csrf_token": csrf, "name": "Copy", "email": sales.email, "role": "agent"}
    taken = await client.post("/admin/agents?lang=en", data=form)
    assert taken.status == 422 and 'role="alert"' in await taken.text()
    assert sales.email in await taken.text()
    forged = await client.post(
        "/admin/agents",
        data={**form, "csrf_token": "", "email": "x@okno.example.com"},
        allow_redirects=False,
    )
    assert forged.status in (302, 303, 403) and await names(hub) == before
    bad = await client.post(f"/admin/agents/{sales.id}", data={"csrf_token": csrf, "action": "explode"})
    assert bad.status == 400
    limits = {"csrf_token": csrf, "action": "save", "name": "Anna", "channel_capacity": "webchat three"}
    wrong = await client.post(f"/admin/agents/{sales.id}?lang=en", data=limits)
    assert wrong.status == 422 and "webchat=3, email=2" in await wrong.text()


async def test_agents_are_refused_the_page_and_supervisors_other_teams(
    client: Client, hub: Hub, sales: Person, wholesale: Person
) -> None:
    await login(client, sales.email)
    assert (await client.get("/admin/agents")).status == 403
    lead = await make_agent(hub, "lead@okno.example.com", role="supervisor", teams=("Sales",))
    csrf = await login(client, lead.email)
    page = await (await client.get("/admin/agents?lang=en")).text()
    assert sales.email in page and wholesale.email not in page
    outside = await client.post(
        f"/admin/agents/{wholesale.id}", data={"csrf_token": csrf, "action": "deactivate"}
    )
    assert outside.status == 403
    team = await client.post("/admin/teams", data={"csrf_token": csrf, "name": "Mine"})
    assert team.status == 403
    async with hub.sessionmaker() as session:
        assert await session.scalar(select(Agent.is_active).where(Agent.id == wholesale.id)) is True
