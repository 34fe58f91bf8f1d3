"""The history import (`okno import history`) as the inbox shows it afterwards: an imported conversation is
as recent as its last imported message, and an unanswered one waits in its team's line since its client
wrote — not since the moment of the import."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.history import HistoryImport, parse_line
from inbox.models import Conversation
from inbox.policy import InboxPolicy
from tests.hub.test_cli_reports import seed


async def test_an_imported_conversation_is_as_recent_as_its_last_message_not_the_import(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await seed(sessionmaker)  # team Support, the API account "shop", anna@example.com
    now = datetime.now(UTC).replace(microsecond=0)
    days = [now - timedelta(days=n) for n in range(5)]
    contact = {"name": "Ольга", "email": "olga@example.com"}
    lines: list[dict[str, Any]] = [
        {"type": "message", "conversation": "A", "direction": "in", "account": "shop", "contact": contact},
        {"type": "message", "conversation": "A", "direction": "out", "agent": "anna@example.com"},
        {"type": "message", "conversation": "A", "direction": "in"},
        {"type": "note", "conversation": "A", "agent": "anna@example.com"},
        {
            "type": "message",
            "conversation": "B",
            "direction": "in",
            "account": "shop",
            "contact": {"name": "Пётр", "email": "petr@example.com"},
        },
    ]
    times = [days[4], days[4] + timedelta(hours=1), days[3], days[3] + timedelta(hours=2), days[2]]
    importer = HistoryImport(InboxPolicy())
    for n, (line, at) in enumerate(zip(lines, times, strict=True)):
        event, digest = parse_line(json.dumps({**line, "at": at.isoformat(), "text": f"line {n}"}))
        async with sessionmaker() as session:
            await importer.apply(session, event, digest)

    async with sessionmaker() as session:
        rows = (await session.execute(select(Conversation.id, Conversation.last_message_at))).all()
    last = {conv_id: at for conv_id, at in rows}
    a, b = importer.conversations["A"], importer.conversations["B"]
    assert last[a] == days[3]  # the client's second message; a note is no message of the conversation's
    assert last[b] == days[2]


async def test_an_imported_unanswered_conversation_waits_in_line_since_its_client_wrote(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await seed(sessionmaker)
    now = datetime.now(UTC).replace(microsecond=0)
    first, second = now - timedelta(hours=5), now - timedelta(hours=4)
    answered, reopened = now - timedelta(hours=3), now - timedelta(hours=2)
    contact = {"name": "Ольга", "email": "olga@example.com"}
    lines: list[tuple[dict[str, Any], datetime]] = [
        ({"type": "message", "direction": "in", "account": "shop", "contact": contact}, first),
        ({"type": "message", "direction": "in"}, second),  # still the same wait
        ({"type": "message", "direction": "out", "agent": "anna@example.com"}, answered),
    ]
    importer = HistoryImport(InboxPolicy())

    async def imported(more: list[tuple[dict[str, Any], datetime]]) -> Conversation:
        for line, at in more:
            text = json.dumps({**line, "conversation": "A", "at": at.isoformat(), "text": at.isoformat()})
            event, digest = parse_line(text)
            async with sessionmaker() as session:
                await importer.apply(session, event, digest)
        async with sessionmaker() as session:
            conv = await session.get(Conversation, importer.conversations["A"])
            assert conv is not None
            return conv

    waiting = await imported(lines[:2])
    assert waiting.queued_at == first  # in line since the first unanswered message, not the import
    assert (await imported(lines[2:])).queued_at is None  # answered: out of the line
    # The agent who answered keeps it: the client's next message is theirs to answer, not the line's.
    again = await imported([({"type": "message", "direction": "in"}, reopened)])
    assert again.assignee_id is not None and again.queued_at is None
