"""Migration 0017_inbox_indexes (and 0019_conversation_counts): the queue counters read the roll-up and the
waiting dialogs' places in line the lines' partial index (SQLite as a covering index), the lists and the
scheduler keep their own indexes, the search of a phone's digits reads no identity's row (SQLite; since
0020_phone_trigrams the phones' trigram table where there is one) or has the phones' trigram index
(PostgreSQL), and the migration goes down."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from alembic import command
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hub import db
from inbox.contacts import search_contacts
from inbox.conversations import Viewer
from inbox.models import utcnow
from inbox.queues import queue_counts, queue_places
from inbox.search_index import phone_trigrams

ADMIN = Viewer(agent_id=1, role="admin", team_ids=frozenset())
AGENT = Viewer(agent_id=2, role="agent", team_ids=frozenset({1}))
INDEX = "ix_conversations_open"


async def _statements(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[Any]],
    marker: str,
) -> list[tuple[str, Any]]:
    """The statements holding `marker` that `work` sends, with their parameters."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool) -> None:
        if marker in statement:
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
        await conn.exec_driver_sql("SET enable_seqscan = off")  # an empty table is read whole otherwise
        rows = await conn.exec_driver_sql(f"EXPLAIN {statement}", params)
        return " | ".join(str(row[0]).strip() for row in rows)


async def _names(engine: AsyncEngine) -> set[str]:
    sql = (
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        if engine.dialect.name == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'index'"
    )
    async with engine.connect() as conn:
        return {row[0] for row in await conn.execute(text(sql))}


async def test_open_queue_counts_read_their_partial_index_and_the_migration_goes_down(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sqlite = engine.dialect.name == "sqlite"
    for viewer in (ADMIN, AGENT):

        async def counts(session: AsyncSession, viewer: Viewer = viewer) -> Any:
            return await queue_counts(session, viewer, status="open", channel=None)

        # Since 0019 the counters add up the roll-up, every queue in one statement, no conversation read.
        sent = await _statements(engine, sessionmaker, counts, "conversation")
        assert len(sent) == 1, sent
        plan = await _plan(engine, *sent[0])
        assert "conversation_counts" in plan and "conversations " not in plan + " ", plan
    if sqlite:  # no statistics: the due snoozes and answer timeouts keep their own indexes
        plan = await _plan(
            engine,
            "SELECT id FROM conversations WHERE status = ? AND snoozed_until <= ? ORDER BY snoozed_until",
            ("snoozed", "2026-01-01 00:00:00"),
        )
        assert "ix_conversations_snoozed_until" in plan, plan
        plan = await _plan(
            engine,
            "SELECT id FROM conversations WHERE reroute_due IS NOT NULL AND assignee_id IS NOT NULL"
            " AND status = ? AND reroute_due <= ?",
            ("open", "2026-01-01 00:00:00"),
        )
        assert "ix_conversations_reroute_due" in plan, plan

    async def places(session: AsyncSession) -> Any:
        return await queue_places(session, {1, 2}, [1, 2, 3], utcnow())

    # Since 0019 each listed row's followers are counted over the lines' own index (ix_conversations_line).
    (line,) = await _statements(engine, sessionmaker, places, "listed")
    plan = await _plan(engine, *line)
    assert "ix_conversations_line" in plan, plan
    if sqlite:  # the listed rows by id, the followers from the index alone, the unruled from theirs
        assert "COVERING INDEX ix_conversations_line" in plan and "ix_conversations_unruled" in plan, plan
        assert "INTEGER PRIMARY KEY" in plan, plan

    async def digits(session: AsyncSession) -> Any:
        return await search_contacts(session, "909-73")

    if sqlite:
        (found,) = await _statements(engine, sessionmaker, digits, "FROM identities")
        plan = await _plan(engine, *found)
        if phone_trigrams(engine.sync_engine):  # since 0020: the candidates of the phones' trigrams, by id
            assert "phone_trigrams VIRTUAL TABLE" in plan and "identities USING INTEGER PRIMARY KEY" in plan
            assert "ix_identities_kind_value" not in plan, plan
        else:  # no trigram tokenizer: the phones' range of the index, no identity's row
            assert "COVERING INDEX ix_identities_kind_value (kind=?)" in plan, plan
    else:  # the planner's choice on empty tables says nothing: the index is there where pg_trgm is
        async with engine.connect() as conn:
            sql = "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'"
            trigrams = (await conn.execute(text(sql))).first() is not None
        assert ("ix_identities_phone_trgm" in await _names(engine)) == trigrams
    assert INDEX in await _names(engine)
    try:
        async with engine.begin() as conn:
            previous = "0016_report_rollups"
            await conn.run_sync(lambda sync: command.downgrade(db._alembic_config(sync), previous))
        assert not {INDEX, "ix_identities_phone_trgm"} & await _names(engine)
        assert await db.current_revision(engine) == "0016_report_rollups"
    finally:
        await db.migrate(engine)
    assert INDEX in await _names(engine)
