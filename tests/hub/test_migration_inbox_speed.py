"""Migration 0014_inbox_speed: the agent's lists read their pages from indexes in their own order (no sort of
the table), a search by an identity value's prefix reads the value index, the scheduler keeps its own
indexes — on the statements the services really send, on either backend — and the migration goes down."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from alembic import command
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hub import db
from inbox.contacts import search_contacts
from inbox.conversations import ConversationFilter, ListCursor, Viewer, list_conversations
from inbox.models import utcnow
from inbox.queues import list_queue

ADMIN = Viewer(agent_id=1, role="admin", team_ids=frozenset())
AGENT = Viewer(agent_id=2, role="agent", team_ids=frozenset({1}))
INDEXES = {
    "ix_conversations_activity",
    "ix_conversations_assignee_activity",
    "ix_conversations_team_activity",
    "ix_identities_value",
}


async def _statements(
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    work: Callable[[AsyncSession], Awaitable[Any]],
) -> list[tuple[str, Any]]:
    """The SELECTs `work` sends, with their parameters."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, params))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with sessionmaker() as session:
            await work(session)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    return sent


async def _plan(engine: AsyncEngine, statement: str, params: Any) -> str:
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
            return " | ".join(str(row[-1]) for row in rows)
        # An empty table is read whole by PostgreSQL's choice: forbid that, and sorting, to see what the
        # indexes allow.
        await conn.exec_driver_sql("SET enable_seqscan = off")
        await conn.exec_driver_sql("SET enable_sort = off")
        rows = await conn.exec_driver_sql(f"EXPLAIN {statement}", params)
        return " | ".join(str(row[0]).strip() for row in rows)


async def _plan_of(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[Any]],
    table: str,
) -> str:
    sent = await _statements(sessionmaker, engine, work)
    found = [(s, p) for s, p in sent if f"FROM {table}" in s]
    assert found, sent
    return await _plan(engine, *found[0])


def _sorted_in_order(plan: str, index: str, postgresql: bool) -> bool:
    if postgresql:
        return index in plan and "Sort  (" not in plan and "Sort Key" not in plan
    return index in plan and "TEMP B-TREE" not in plan


async def test_lists_read_pages_in_index_order_and_the_migration_goes_down(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    postgresql = engine.dialect.name == "postgresql"
    open_list = ConversationFilter(status="open")
    cursor = ListCursor(utcnow(), 10)

    async def all_open(session: AsyncSession) -> Any:
        return await list_conversations(session, ADMIN, open_list, cursor=cursor)

    async def team_open(session: AsyncSession) -> Any:
        return await list_conversations(session, ADMIN, ConversationFilter(status="open", team_id=1))

    async def mine(session: AsyncSession) -> Any:
        return await list_queue(session, AGENT, "mine", status="open", channel=None)

    async def by_address(session: AsyncSession) -> Any:
        return await search_contacts(session, "anna@example.com")

    plan = await _plan_of(engine, sessionmaker, all_open, "conversations")
    assert _sorted_in_order(plan, "ix_conversations_activity", postgresql), plan
    plan = await _plan_of(engine, sessionmaker, team_open, "conversations")
    assert _sorted_in_order(plan, "ix_conversations_team_activity", postgresql), plan
    plan = await _plan_of(engine, sessionmaker, mine, "conversations")
    assert _sorted_in_order(plan, "ix_conversations_assignee_activity", postgresql), plan
    plan = await _plan_of(engine, sessionmaker, by_address, "contacts")
    assert "ix_identities_value" in plan, plan
    if not postgresql:  # no statistics: the due snoozes keep their own index (none leads with status)
        plan = await _plan(
            engine,
            "SELECT id FROM conversations WHERE status = ? AND snoozed_until <= ? ORDER BY snoozed_until",
            ("snoozed", "2026-01-01 00:00:00"),
        )
        assert "ix_conversations_snoozed_until" in plan, plan

    async def names() -> set[str]:
        sql = (
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            if postgresql
            else "SELECT name FROM sqlite_master WHERE type = 'index'"
        )
        async with engine.connect() as conn:
            return {row[0] for row in await conn.execute(text(sql))}

    assert await names() >= INDEXES
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(db._alembic_config(sync), "0013_reads_tz"))
        assert not INDEXES & await names()
        assert await db.current_revision(engine) == "0013_reads_tz"
    finally:
        await db.migrate(engine)
    assert await names() >= INDEXES
