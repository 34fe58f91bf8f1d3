"""Real VK payloads from other projects (../shared/fixtures/vk): every file is ingested or refused with a
one-line reason, and none crashes. Read from there, never copied into this repository."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.vk import parse_file
from inbox.models import ChannelAccount, Conversation, Message
from tests.channels.messenger_harness import shared_payloads_ingested

# What the files we know of become (other files, e.g. a holdout set, only have to be ingested or refused).
KNOWN = {
    "confirmation_with_secret.json": "refused: a Callback API confirmation request",
    "message_allow.json": "The user allowed messages from the community",
    "message_new_client_info.json": "f",
    "message_reply.json": "[Sent by the community from VK]\ntest",
}


async def test_every_shared_vk_payload_is_ingested_or_refused_with_a_reason(
    vk_account: ChannelAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await shared_payloads_ingested("vk", vk_account.id, parse_file, sessionmaker, KNOWN)
    async with sessionmaker() as session:
        opened = set(await session.scalars(select(Conversation.id).where(Conversation.status == "open")))
        spoken = set(await session.scalars(select(Message.conversation_id).where(Message.kind == "message")))
    # Only a client's own message opens a dialog; the community's replies and permission changes do not.
    assert opened <= spoken
