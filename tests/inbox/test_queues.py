"""The queues' channel filter offers the kinds of the accounts there are, each once."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import ChannelAccount
from inbox.queues import channel_kinds


async def test_channel_filter_offers_each_configured_kind_once(session: AsyncSession) -> None:
    assert await channel_kinds(session) == []
    session.add_all(
        [
            ChannelAccount(name="mail", kind="email"),
            ChannelAccount(name="site", kind="webchat"),
            ChannelAccount(name="support", kind="email"),
        ]
    )
    await session.commit()
    assert await channel_kinds(session) == ["email", "webchat"]
