"""The key that signs a web-chat account's visitor tokens, read once per process.

From configuration when given (`secret = ...` or, better, `secret_env = "VAR"` in the account's table);
otherwise the account's own key in the database (:func:`inbox.signing_keys.signing_key`, made the first
time it is needed), so every hub process sharing the database signs and verifies alike.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.runtime import ConfiguredAccount
from inbox.signing_keys import signing_key


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
        if configured:
            key = configured
        else:
            async with self._sessionmaker() as session:
                key = await signing_key(session, context.id)
                await session.commit()
        self._keys[context.id] = key.encode()
        return self._keys[context.id]


KEYS = web.AppKey("okno_webchat_keys", VisitorKeys)
