"""The agents' GET requests that only read (lists, one conversation, searches, the inbox list) do their
reading in read-only sessions (hub.db.read_sessionmaker): on SQLite these never queue for the write lock
that the ingest and the router take, and a write slipped into one of them would fail loudly. The inbox's
pages and the contact search check the credential in that read-only session too; an API token's use is
noted in a writing session only when due (once a minute). The rest of the JSON API still checks the
credential in a writing session."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, select, update

from hub import db
from hub.runtime import Hub
from inbox.models import ApiToken
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


WATCHED = ("web_sessions", "api_tokens", "agents", "conversations", "contacts", "tasks")


def _writing_statements(hub: Hub) -> tuple[list[str], Any]:
    """A list that fills with the statements over credentials and the agents' data run outside read-only
    sessions (the connectors' own state writes aside), and its listener."""
    written: list[str] = []

    def note(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        task = asyncio.current_task()
        if task is not None and task.get_name().startswith("okno-"):
            return
        if not conn.get_execution_options().get(db.READ_ONLY) and any(
            table in statement for table in WATCHED
        ):
            written.append(statement)

    event.listen(hub.engine.sync_engine, "before_cursor_execute", note)
    return written, note


async def test_inbox_pages_learn_who_asks_without_a_writing_session(
    hub: Hub, client: Client, sales: Person
) -> None:
    await hand_in(client, "ro-2", text="Где заказ A-556?")
    await login(client, sales.email)
    written, note = _writing_statements(hub)
    try:
        for path in (
            "/inbox",
            "/inbox?queue=mine&status=any",
            "/inbox/parts/list",
            "/inbox/parts/search?q=A-556",
        ):
            response = await client.get(path)
            assert response.status == 200, (path, await response.text())
    finally:
        event.remove(hub.engine.sync_engine, "before_cursor_execute", note)
    assert written == [], written


async def test_inbox_page_notes_an_api_tokens_use_once_a_minute_in_a_writing_session(
    hub: Hub, client: Client, sales: Person
) -> None:
    async with hub.sessionmaker() as session:
        await session.execute(update(ApiToken).where(ApiToken.agent_id == sales.id).values(last_used_at=None))
        await session.commit()
    written, note = _writing_statements(hub)
    try:
        first = await client.get("/inbox", headers=sales.headers)
        assert first.status == 200, await first.text()
        noted = list(written)
        written.clear()
        again = await client.get("/inbox", headers=sales.headers)
        assert again.status == 200, await again.text()
    finally:
        event.remove(hub.engine.sync_engine, "before_cursor_execute", note)
    assert any("UPDATE api_tokens" in statement for statement in noted), noted
    assert written == [], written  # used a moment ago: nothing to note
    async with hub.sessionmaker() as session:
        used = await session.scalar(select(ApiToken.last_used_at).where(ApiToken.agent_id == sales.id))
    assert used is not None
    wrong = await client.get(
        "/inbox", headers={"Authorization": "Bearer okno_not-a-token"}, allow_redirects=False
    )
    assert wrong.status == 302  # a wrong token is nobody: to the log-in form, as before


async def test_contact_search_notes_an_api_tokens_use_once_a_minute_and_refuses_a_wrong_one(
    hub: Hub, client: Client, sales: Person
) -> None:
    """The search an agent types into asks who it is in its read-only session, as the inbox's pages do."""
    await hand_in(client, "ro-3", name="Ольга Смирнова")
    async with hub.sessionmaker() as session:
        await session.execute(update(ApiToken).where(ApiToken.agent_id == sales.id).values(last_used_at=None))
        await session.commit()
    written, note = _writing_statements(hub)
    try:
        first = await client.get("/api/v1/contacts?q=смирн", headers=sales.headers)
        assert first.status == 200, await first.text()
        noted = list(written)
        written.clear()
        again = await client.get("/api/v1/contacts?q=смирн", headers=sales.headers)
        assert again.status == 200, await again.text()
    finally:
        event.remove(hub.engine.sync_engine, "before_cursor_execute", note)
    assert any("UPDATE api_tokens" in statement for statement in noted), noted
    assert written == [], written
    assert [card["name"] for card in (await again.json())["items"]] == ["Ольга Смирнова"]
    wrong = await client.get("/api/v1/contacts?q=смирн", headers={"Authorization": "Bearer okno_not-a-token"})
    assert wrong.status == 401
    assert (await client.get("/api/v1/contacts?q=смирн")).status == 401  # no credential at all
