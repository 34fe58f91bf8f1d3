"""The key that signs a channel account's tokens (the web chat's visitor tokens), kept on its row.

Made at random the first time an account needs one and stored in ``ChannelAccount.signing_key``, so every
hub process sharing the database signs and verifies with the same key and tokens survive restarts. The key
is written with a conditional UPDATE (only where none is set yet): of two processes racing, one key wins
and both read it back.
"""

from __future__ import annotations

import secrets
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import ChannelAccount

KEY_BYTES: Final = 32  # 256 bits of randomness, 43 URL-safe characters


class SigningKeyError(LookupError):
    """The account the key is asked for does not exist."""


async def signing_key(session: AsyncSession, account_id: int) -> str:
    """The account's key, made now if it has none; the caller commits (a key it made is used only then).

    Race-safe in one transaction: a process whose conditional UPDATE finds a key already committed by
    another changes nothing, and its second read (a new statement: PostgreSQL's read-committed snapshot;
    SQLite's writers queue behind BEGIN IMMEDIATE) returns the winner's key.
    """
    key = await session.scalar(select(ChannelAccount.signing_key).where(ChannelAccount.id == account_id))
    if key:
        return key
    await session.execute(
        update(ChannelAccount)
        .where(ChannelAccount.id == account_id, ChannelAccount.signing_key.is_(None))
        .values(signing_key=secrets.token_urlsafe(KEY_BYTES))
    )
    key = await session.scalar(select(ChannelAccount.signing_key).where(ChannelAccount.id == account_id))
    if not key:
        raise SigningKeyError(f"channel account {account_id} not found")
    return key
