"""The agents' GET requests that only read (lists, one conversation, searches, the inbox list) do their
reading in read-only sessions (hub.db.read_sessionmaker): on SQLite these never queue for the write lock
that the ingest and the router take, and a write slipped into one of them would fail loudly. Only the
credential check runs in a writing session (it may note a token's last use)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event

from hub import db
from hub.runtime import Hub
from tests.hub.web.conftest import Client, Person, hand_in, login


async def test_listing_searching_and_reading_a_conversation_read_in_read_only_sessions(
    hub: Hub, client: Client, sales: Person
) -> None:
    handed = await hand_in(client, "ro-1", text="Где заказ A-555?")
    conversation_id, contact_id = handed["conversation_id"], handed["contact_id"]
    # The statements over the agents' data, split by the kind of session that ran them.
    seen: dict[bool, list[str]] = {True: [], False: []}

    def note(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        task = asyncio.current_task()  # the hub's own workers (okno-…) read beside the requests
        if task is not None and task.get_name().startswith("okno-"):
            return
        if "conversations" in statement or "contacts" in statement:
            seen[bool(conn.get_execution_options().get(db.READ_ONLY))].append(statement)

    await login(client, sales.email)  # the client keeps the session's cookie for the pages
    event.listen(hub.engine.sync_engine, "before_cursor_execute", note)
    try:
        for path in (
            "/api/v1/conversations",
            f"/api/v1/conversations/{conversation_id}",
            "/api/v1/contacts?q=A-555",
            f"/api/v1/contacts/{contact_id}",
            "/api/v1/search?q=A-555",
        ):
            response = await client.get(path, headers=sales.headers)
            assert response.status == 200, (path, await response.text())
        for path in ("/inbox", "/inbox/parts/list", "/inbox/parts/search?q=A-555"):
            response = await client.get(path)
            assert response.status == 200, (path, await response.text())
            assert "A-555" in await response.text() or "search" not in path
    finally:
        event.remove(hub.engine.sync_engine, "before_cursor_execute", note)
    assert seen[True], "no read-only session read the agents' data"
    assert seen[False] == [], seen[False]
