"""Real Bot API payloads from other projects (../shared/fixtures/telegram): every file is ingested or refused
with a one-line reason, and none crashes. Read from there, never copied into this repository."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.base import AccountContext
from channels.telegram import parse_file
from inbox.items import InboundMessage
from inbox.models import ChannelAccount
from tests.channels.messenger_harness import shared_payloads_ingested
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


async def test_every_shared_telegram_payload_is_ingested_or_refused_with_a_reason(
    tg_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await shared_payloads_ingested("telegram", tg_account.id, parse_file, sessionmaker, KNOWN)


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
