"""Names by id for lists: agents and cards, unknown ids skipped, every agent for a filter by name."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.agents import create_agent
from inbox.models import Contact
from inbox.names import agent_names, contact_names, every_agent_name

HASH = "not-a-real-hash"  # these agents never log in: no argon2 in the tests


async def test_names_by_id_skip_unknown_and_missing_ids(session: AsyncSession) -> None:
    boris = await create_agent(
        session, email="b@okno.ru", name="Борис", password="long-password", password_hash=HASH
    )
    anna = await create_agent(
        session, email="a@okno.ru", name="Анна", password="long-password", password_hash=HASH
    )
    anna.is_active = False
    card, nameless = Contact(name="Ирина"), Contact()
    session.add_all([card, nameless])
    await session.commit()
    assert await agent_names(session, [boris.id, None, 999]) == {boris.id: "Борис"}
    assert await contact_names(session, [card.id, nameless.id]) == {card.id: "Ирина", nameless.id: ""}
    assert await agent_names(session, []) == {}
    assert [(a.id, a.name) for a in await every_agent_name(session)] == [
        (anna.id, "Анна"),
        (boris.id, "Борис"),
    ]
