"""The key that signs a web-chat account's visitor tokens.

From configuration when given (`secret = ...` or, better, `secret_env = "VAR"` in the account's table).
Otherwise the hub makes a random one the first time it needs it and keeps it on the account's row in
the database (the `cursor` column, which a web-chat account has no other use for), so every hub process
sharing the database signs and verifies with the same key and tokens survive restarts. The row is
written with a conditional UPDATE: of two processes racing, one key wins and both use it.
"""

from __future__ import annotations

import json
import secrets

from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.runtime import ConfiguredAccount
from inbox.models import ChannelAccount

FIELD = "visitor_key"


def _stored(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        value = json.loads(cursor)
    except ValueError:
        return None
    key = value.get(FIELD) if isinstance(value, dict) else None
    return key if isinstance(key, str) and len(key) >= 32 else None


class VisitorKeys:
    """Keys by account id, read once per process."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._keys: dict[int, bytes] = {}

    async def key(self, account: ConfiguredAccount) -> bytes:
        context = account.context
        found = self._keys.get(context.id)
        if found is not None:
            return found
        configured = context.secrets.get("secret")
        key = (configured or await self._from_database(context.id)).encode()
        self._keys[context.id] = key
        return key

    async def _from_database(self, account_id: int) -> str:
        async with self._sessionmaker() as session:
            cursor = await session.scalar(
                select(ChannelAccount.cursor).where(ChannelAccount.id == account_id)
            )
            key = _stored(cursor)
            if key is not None:
                return key
            fresh = json.dumps({FIELD: secrets.token_urlsafe(32)})
            await session.execute(
                update(ChannelAccount)
                .where(ChannelAccount.id == account_id, ChannelAccount.cursor.is_(None))
                .values(cursor=fresh)
            )
            await session.commit()
            cursor = await session.scalar(
                select(ChannelAccount.cursor).where(ChannelAccount.id == account_id)
            )
            key = _stored(cursor)
            if key is None:
                raise RuntimeError(f"channel account {account_id} has a cursor that is not a web-chat key")
            return key


KEYS = web.AppKey("okno_webchat_keys", VisitorKeys)
