"""Real Bot API payloads from other projects (../shared/fixtures/telegram): every file is ingested or refused
with a one-line reason, and none crashes. Read from there, never copied into this repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.base import AccountContext, PayloadError
from channels.telegram import parse_file
from inbox.ingest import IngestError
from inbox.items import ConversationMark, InboundMessage, MessageEdit
from inbox.models import ChannelAccount, Message
from tests.channels.telegram.harness import InboxSink
from tests.conftest import shared_fixture_dir

# What the files we know of become (other files, e.g. a holdout set, only have to be ingested or refused).
KNOWN = {
    "message_text_private.json": "/start",
    "edited_message.json": "Edited text",
    "photo_with_caption.json": "asdasdasdasdasdasd",
    "voice.json": "[Voice message, 0:02]",
    "callback_query_inline_keyboard.json": "[Button pressed: thedata]",
    "my_chat_member_private.json": "refused: the bot's status in a private chat did not turn blocked",
}


def fixture_files() -> list[Path]:
    return sorted(p for p in shared_fixture_dir("telegram").iterdir() if p.suffix.lower() == ".json")


def shown(item: InboundMessage | MessageEdit | ConversationMark) -> str:
    """What agents read of an item: a message's text, an edit's new text, a mark's reason."""
    match item:
        case MessageEdit():
            return item.message.text
        case ConversationMark():
            return item.reason
        case InboundMessage():
            return item.text


async def test_every_shared_telegram_payload_is_ingested_or_refused_with_a_reason(
    tg_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    files = fixture_files()
    assert files, "no Telegram fixtures found"
    account = AccountContext(id=tg_account.id, name="tg", kind="telegram")
    sink = InboxSink(sessionmaker)
    outcomes: dict[str, list[str]] = {}
    for path in files:
        results = list(parse_file(path.read_bytes(), path.name, account=account))
        assert results, f"{path.name}: neither an item nor a reason"
        for result in results:
            if isinstance(result, PayloadError):
                reason = str(result)
                assert reason and "\n" not in reason, f"{path.name}: reason must be one line: {reason!r}"
                outcomes.setdefault(path.name, []).append(f"refused: {reason}")
                continue
            try:
                await sink(result)
            except IngestError as exc:  # the inbox's own refusal (e.g. an impossible user id) is a reason too
                assert "\n" not in str(exc)
                outcomes.setdefault(path.name, []).append(f"refused: {exc}")
                continue
            outcomes.setdefault(path.name, []).append(shown(result))
    for name, expected in KNOWN.items():
        if name in outcomes:
            assert any(o.startswith(expected) for o in outcomes[name]), (name, outcomes[name])
    async with sessionmaker() as session:
        stored = [e or "" for e in await session.scalars(select(Message.external_id))]
    assert sorted(stored) == sorted({i.external_id for i in sink.items})  # an edit and its original: one


@pytest.mark.parametrize("name", ["message_text_private.json", "photo_with_caption.json"])
def test_known_shared_payloads_map_sender_and_ids(name: str) -> None:
    path = shared_fixture_dir("telegram") / name
    if not path.exists():
        pytest.skip(f"{name} is not among the shared fixtures")
    (item,) = parse_file(path.read_bytes(), name, account=AccountContext(id=1, name="tg", kind="telegram"))
    assert isinstance(item, InboundMessage)
    chat, _, message_id = item.external_id.partition(":")
    assert item.sender.identities[0].kind == "telegram" and item.sender.identities[0].value == chat
    assert message_id.isdigit()
