"""The template service: checked saves with the offending field named, who may change what, import by
key, counted uses, audit rows; and the search index every process rebuilds after any change."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.agents import create_agent
from inbox.knowledge.defaults import load_defaults, read_defaults
from inbox.knowledge.index_cache import IndexCache
from inbox.knowledge.search import keys_of
from inbox.knowledge.templates import (
    KnowledgeError,
    NotAllowed,
    TemplateInput,
    create_template,
    delete_template,
    import_one,
    record_use,
    update_template,
)
from inbox.models import Agent, AuditLog, Template

REPLIES = Path(__file__).resolve().parents[3] / "templates" / "replies"


async def _agent(session: AsyncSession, role: str = "admin", email: str = "admin@example.com") -> Agent:
    agent = await create_agent(session, email=email, name="Anna Admin", password="long enough", role=role)
    await session.commit()
    return agent


def _delivery(**changes: str) -> TemplateInput:
    fields = {"key": "delivery", "title": "Доставка", "body": "Привезём за 2 дня, {{ contact.first_name }}."}
    return TemplateInput(**(fields | changes))


async def test_a_sandbox_escape_is_refused_at_save_naming_the_body(session: AsyncSession) -> None:
    admin = await _agent(session)
    with pytest.raises(KnowledgeError, match="'__globals__' is not allowed") as refused:
        await create_template(session, _delivery(body="{{ cycler.__init__.__globals__ }}"), actor=admin)
    assert refused.value.field == "body"


async def test_bad_fields_are_refused_by_name(session: AsyncSession) -> None:
    admin = await _agent(session)
    cases = [
        (_delivery(key="Not A Key"), "key"),
        (_delivery(title="  "), "title"),
        (TemplateInput(key="x", title="X", body="Hi", language="russian"), "language"),
        (TemplateInput(key="x", title="X", body="Hi", channels=["e-mail!"]), "channels"),
    ]
    for data, field in cases:
        with pytest.raises(KnowledgeError) as refused:
            await create_template(session, data, actor=admin)
        assert refused.value.field == field
    await create_template(session, _delivery(), actor=admin)
    with pytest.raises(KnowledgeError, match="already used") as taken:
        await create_template(session, _delivery(), actor=admin)
    assert taken.value.field == "key"


async def test_agents_keep_personal_templates_and_only_managers_change_shared_ones(
    session: AsyncSession,
) -> None:
    admin = await _agent(session)
    agent = await _agent(session, role="agent", email="agent@example.com")
    with pytest.raises(NotAllowed):
        await create_template(session, _delivery(), actor=agent)
    mine = await create_template(session, _delivery(key="mine"), actor=agent, personal=True)
    shared = await create_template(session, _delivery(), actor=admin)
    assert mine.owner_id == agent.id and shared.owner_id is None
    with pytest.raises(NotAllowed):
        await update_template(session, shared, _delivery(title="Changed"), actor=agent)
    with pytest.raises(NotAllowed):
        await delete_template(session, mine, actor=admin)
    await delete_template(session, mine, actor=agent)
    await session.commit()
    actions = list(await session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert actions == ["template.create", "template.create", "template.delete"]


async def test_import_creates_then_updates_by_key(session: AsyncSession) -> None:
    first, outcome = await import_one(session, _delivery(), actor=None)
    assert outcome == "created"
    again, outcome = await import_one(session, _delivery(), actor=None)
    assert (again.id, outcome) == (first.id, "unchanged")
    changed, outcome = await import_one(session, _delivery(title="Сроки доставки"), actor=None)
    assert (changed.id, changed.title, outcome) == (first.id, "Сроки доставки", "updated")


async def test_a_use_is_counted_with_its_time(session: AsyncSession) -> None:
    template = await create_template(session, _delivery(), actor=None)
    await record_use(session, template)
    await record_use(session, template)
    await session.commit()
    assert template.usage_count == 2
    assert template.last_used_at is not None


async def test_every_process_sees_a_change_made_by_another(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    process_a, process_b = IndexCache(sessionmaker), IndexCache(sessionmaker)
    template = await create_template(session, _delivery(), actor=None)
    await session.commit()
    assert keys_of((await process_b.index()).search("доставкой")) == ["delivery"]
    await process_b.index()
    assert process_b.builds == 1  # unchanged: not rebuilt

    await update_template(session, template, _delivery(title="Возврат", body="Вернём деньги."), actor=None)
    await session.commit()  # "process A" changed it
    assert keys_of((await process_b.index()).search("вазврат")) == ["delivery"]
    assert (await process_b.index()).search("доставкой") == []
    assert process_b.builds == 2
    assert keys_of((await process_a.index()).search("возвратом")) == ["delivery"]


async def test_the_shipped_defaults_load_once_and_a_deleted_one_stays_deleted(session: AsyncSession) -> None:
    admin = await _agent(session)
    entries = read_defaults(REPLIES)
    assert len(entries) >= 30
    assert {e.language for e in entries} == {"ru", "en"}
    assert await load_defaults(session, entries) == len(entries)
    await session.commit()
    greeting = await session.scalar(select(Template).where(Template.key == "ru.greeting"))
    assert greeting is not None
    await delete_template(session, greeting, actor=admin)
    await session.commit()
    assert await load_defaults(session, entries) == 0
    assert await session.scalar(select(Template).where(Template.key == "ru.greeting")) is None
