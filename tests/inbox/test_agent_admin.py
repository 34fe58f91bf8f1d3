"""An admin's changes to agents and teams: the refusals name the field, every change leaves audit rows."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.agent_admin import (
    AgentNotFound,
    active_agents,
    add_agent,
    add_team,
    list_agents,
    list_teams,
    update_agent,
)
from inbox.agents import AgentError, create_agent
from inbox.models import Agent, AuditLog

HASH = "not-a-real-hash"  # these agents never log in: no argon2 in the tests
ORIGIN = {"ip": "192.0.2.1", "user_agent": "tests"}


async def an_admin(session: AsyncSession) -> Agent:
    return await create_agent(
        session, email="root@okno.ru", name="Root", password="long-password", password_hash=HASH, role="admin"
    )


async def audit(session: AsyncSession) -> list[tuple[str, int | None, dict[str, object]]]:
    rows = await session.scalars(select(AuditLog).order_by(AuditLog.id))
    return [(r.action, r.entity_id, r.detail) for r in rows]


async def test_admin_creates_a_team_and_an_agent_in_it_with_audit_rows_from_where_they_asked(
    session: AsyncSession,
) -> None:
    root = await an_admin(session)
    team = await add_team(session, "  Support ", actor_id=root.id, origin=ORIGIN)
    nina = await add_agent(
        session,
        email="Nina@Okno.ru",
        name="Нина",
        password="long-password",
        password_hash=HASH,
        role="supervisor",
        team_ids=[team.id, team.id],
        actor_id=root.id,
        origin=ORIGIN,
    )
    await session.commit()
    assert (team.name, nina.email, [t.id for t in nina.teams]) == ("Support", "nina@okno.ru", [team.id])
    assert await audit(session) == [
        ("team.create", team.id, {"name": "Support", **ORIGIN}),
        (
            "agent.create",
            nina.id,
            {"email": "nina@okno.ru", "role": "supervisor", "team_ids": [team.id], **ORIGIN},
        ),
    ]
    assert [a.email for a in await list_agents(session)] == ["root@okno.ru", "nina@okno.ru"]
    assert [t.name for t in await list_teams(session)] == ["Support"]


async def test_refusals_name_the_field(session: AsyncSession) -> None:
    root = await an_admin(session)
    await add_team(session, "Support", actor_id=root.id)
    other = await create_agent(
        session, email="b@okno.ru", name="B", password="long-password", password_hash=HASH
    )
    with pytest.raises(AgentError) as refused:
        await add_team(session, "Support", actor_id=root.id)
    assert refused.value.field == "name"
    for changes, field in (
        ({"email": "not-mail"}, "email"),
        ({"email": "root@okno.ru"}, "email"),
        ({"name": "  "}, "name"),
        ({"name": None}, "name"),
        ({"role": "king"}, "role"),
        ({"team_ids": [999]}, "team_ids"),
    ):
        with pytest.raises(AgentError) as refused:
            await update_agent(session, other.id, changes, actor_id=root.id)
        assert refused.value.field == field, changes
    with pytest.raises(AgentNotFound):
        await update_agent(session, 999, {"name": "x"}, actor_id=root.id)


async def test_admin_cannot_demote_or_deactivate_themselves(session: AsyncSession) -> None:
    root = await an_admin(session)
    for changes, field in (({"role": "agent"}, "role"), ({"is_active": False}, "is_active")):
        with pytest.raises(AgentError) as refused:
            await update_agent(session, root.id, changes, actor_id=root.id)
        assert refused.value.field == field


async def test_each_kind_of_change_is_its_own_audit_row_and_no_secret_is_kept(session: AsyncSession) -> None:
    root = await an_admin(session)
    anna = await create_agent(
        session, email="a@okno.ru", name="A", password="long-password", password_hash=HASH
    )
    await session.commit()
    changed = await update_agent(
        session,
        anna.id,
        {"is_active": False, "capacity": 3, "name": "Анна"},
        actor_id=root.id,
        password_hash="new-hash",
    )
    await session.commit()
    assert (changed.is_active, changed.capacity, changed.name, changed.password_hash) == (
        False,
        3,
        "Анна",
        "new-hash",
    )
    assert await audit(session) == [
        ("agent.password_reset", anna.id, {}),
        ("agent.deactivate", anna.id, {}),
        ("agent.update", anna.id, {"changes": {"capacity": 3, "name": "Анна"}}),
    ]
    assert [a.id for a in await active_agents(session)] == [root.id]  # Анна is deactivated
