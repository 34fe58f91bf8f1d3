"""An account's signing key: made once, kept on its own column, the same for every process that asks."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.models import ChannelAccount
from inbox.signing_keys import SigningKeyError, signing_key


async def test_key_is_made_once_and_kept_apart_from_the_cursor(session: AsyncSession) -> None:
    account = ChannelAccount(name="site", kind="webchat")
    session.add(account)
    await session.commit()
    first = await signing_key(session, account.id)
    await session.commit()
    assert len(first) >= 43
    assert await signing_key(session, account.id) == first
    await session.refresh(account)
    assert (account.signing_key, account.cursor) == (first, None)


async def test_processes_racing_for_a_new_key_all_get_the_same_one(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        account = ChannelAccount(name="site", kind="webchat")
        session.add(account)
        await session.commit()

    async def ask() -> str:
        async with sessionmaker() as session:
            key = await signing_key(session, account.id)
            await session.commit()
            return key

    keys = await asyncio.gather(*(ask() for _ in range(4)))
    assert len(set(keys)) == 1


async def test_a_missing_account_is_named(session: AsyncSession) -> None:
    with pytest.raises(SigningKeyError, match="channel account 999"):
        await signing_key(session, 999)
