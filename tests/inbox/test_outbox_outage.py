"""The outbox worker across a database outage (issue 16): a row claimed just before the database failed goes
out just after it (released, not left "sending" for its lease), and a send whose outcome could not be recorded
is recorded afterwards — never sent a second time.

The outage is real: another connection holds SQLite's write lock past the worker's busy timeout (SQLite only;
tests/faults/test_postgres_restart.py restarts PostgreSQL under a hub's outbox).
"""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from hub import db
from inbox.items import Delivery, OutboundMessage
from inbox.models import ChannelAccount, Outbox
from inbox.outbox import OutboxWorker
from inbox.replies import add_reply
from tests.inbox.test_replies_outbox import FAST, POLICY, setup_conversation


class LockingChannel:
    """A platform that takes every send, and while taking the first, another process locks the database."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sent: list[OutboundMessage] = []
        self.holder: sqlite3.Connection | None = None

    async def send(self, out: OutboundMessage) -> Delivery:
        self.sent.append(out)
        if self.holder is None:
            self.holder = sqlite3.connect(self.path, isolation_level=None)
            self.holder.execute("BEGIN IMMEDIATE")
        return Delivery(external_id=f"platform-{len(self.sent)}")

    def release(self) -> None:
        assert self.holder is not None
        self.holder.execute("ROLLBACK")
        self.holder.close()


async def test_rows_of_a_pass_the_database_failed_are_recorded_or_released_when_it_is_back(
    database_url: str, session: AsyncSession, api_account: ChannelAccount
) -> None:
    if not db.is_sqlite(database_url):
        pytest.skip("the outage is SQLite's write lock held by another connection")
    agent, conv = await setup_conversation(session, api_account)
    for text in ("Первый ответ", "Второй ответ"):
        await add_reply(session, conv, agent, text, policy=POLICY)
    await session.commit()
    path = str(make_url(database_url).database)
    engine = db.create_engine(database_url, busy_timeout=0.2)
    channel = LockingChannel(path)
    worker = OutboxWorker(db.sessionmaker(engine), lambda _id: channel, retry=FAST)
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            await worker.run_once()  # the first reply went out; recording it failed; the second was claimed
        channel.release()
        assert await worker.run_once() == 1  # the second one, released and claimed again
        assert await worker.run_once() == 0
    finally:
        await engine.dispose()
    assert [out.text for out in channel.sent] == ["Первый ответ", "Второй ответ"]  # each sent once
    rows = (
        await session.scalars(select(Outbox).order_by(Outbox.id).execution_options(populate_existing=True))
    ).all()
    assert [(r.status, r.attempts) for r in rows] == [("sent", 1), ("sent", 1)]
