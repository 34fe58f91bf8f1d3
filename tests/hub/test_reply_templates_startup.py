"""The shipped reply templates on start-up: hub processes starting together on a fresh database load them
once, and none of them fails (on PostgreSQL the second one's insert of a key waits, then collides)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from hub import db
from hub.runtime import REPLY_TEMPLATES, load_reply_templates
from inbox.knowledge.defaults import read_defaults
from inbox.models import Template


async def test_two_processes_starting_together_load_the_defaults_once(
    database_url: str, engine: object
) -> None:
    shipped = len(read_defaults(REPLY_TEMPLATES))
    engines = [db.create_engine(database_url) for _ in range(2)]
    try:
        created = await asyncio.gather(*(load_reply_templates(db.sessionmaker(e)) for e in engines))
        async with db.sessionmaker(engines[0])() as session:
            count = await session.scalar(select(func.count()).select_from(Template))
    finally:
        for e in engines:
            await e.dispose()
    assert sorted(created) == [0, shipped]
    assert count == shipped
