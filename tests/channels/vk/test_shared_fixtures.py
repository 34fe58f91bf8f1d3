"""Real VK payloads from other projects (../shared/fixtures/vk): every file is ingested or refused with a
one-line reason, and none crashes. Read from there, never copied into this repository."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.base import AccountContext, PayloadError
from channels.vk import parse_file
from inbox.ingest import IngestError
from inbox.items import ConversationMark, InboundMessage, MessageEdit
from inbox.models import ChannelAccount, Conversation, Message
from tests.channels.telegram.harness import InboxSink
from tests.conftest import shared_fixture_dir

# What the files we know of become (other files, e.g. a holdout set, only have to be ingested or refused).
KNOWN = {
    "confirmation_with_secret.json": "refused: a Callback API confirmation request",
    "message_allow.json": "The user allowed messages from the community",
    "message_new_client_info.json": "f",
    "message_reply.json": "[Sent by the community from VK]\ntest",
}


def fixture_files() -> list[Path]:
    return sorted(p for p in shared_fixture_dir("vk").iterdir() if p.suffix.lower() == ".json")


def shown(item: InboundMessage | MessageEdit | ConversationMark) -> str:
    """What agents read of an item: a message's text, an edit's new text, a mark's reason."""
    match item:
        case MessageEdit():
            return item.message.text
        case ConversationMark():
            return item.reason
        case InboundMessage():
            return item.text


async def test_every_shared_vk_payload_is_ingested_or_refused_with_a_reason(
    vk_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    files = fixture_files()
    assert files, "no VK fixtures found"
    account = AccountContext(id=vk_account.id, name="vk", kind="vk")
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
        opened = set(await session.scalars(select(Conversation.id).where(Conversation.status == "open")))
        spoken = set(await session.scalars(select(Message.conversation_id).where(Message.kind == "message")))
    assert sorted(stored) == sorted({i.external_id for i in sink.items})
    # Only a client's own message opens a dialog; the community's replies and permission changes do not.
    assert opened <= spoken
