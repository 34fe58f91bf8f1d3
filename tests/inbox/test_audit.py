"""The audit service: rows recorded with the change, listed newest first, filtered by action, agent
(who acted or whom it is about) and time."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from inbox import audit
from inbox.agents import create_agent
from inbox.models import utcnow


async def test_entries_are_listed_newest_first_and_filtered(session: AsyncSession) -> None:
    anna = await create_agent(session, email="anna@example.com", name="Anna", password="long enough")
    boris = await create_agent(session, email="boris@example.com", name="Boris", password="long enough")
    audit.record(session, "team.create", entity="team", entity_id=1, actor_agent_id=anna.id)
    audit.record(
        session,
        audit.LOGIN,
        entity="agent",
        entity_id=boris.id,
        detail=audit.login_detail("boris@example.com", "10.0.0.1", "ua", "wrong_password", "form"),
    )
    audit.record(session, "agent.update", entity="agent", entity_id=anna.id, actor_agent_id=boris.id)
    await session.commit()

    every = await audit.list_entries(session)
    assert [e.action for e in every] == ["agent.update", "login", "team.create"]
    assert [e.action for e in await audit.list_entries(session, audit.AuditFilter(action="login"))] == [
        "login"
    ]
    about_anna = await audit.list_entries(session, audit.AuditFilter(agent_id=anna.id))
    assert [e.action for e in about_anna] == ["agent.update", "team.create"]
    about_boris = await audit.list_entries(session, audit.AuditFilter(agent_id=boris.id))
    assert [e.action for e in about_boris] == ["agent.update", "login"]
    assert [e.action for e in await audit.list_entries(session, limit=1, offset=2)] == ["team.create"]
    later = audit.AuditFilter(since=utcnow() + timedelta(minutes=1))
    assert await audit.list_entries(session, later) == []
