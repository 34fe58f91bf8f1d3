"""Credentials of the web layer: browser sessions and API tokens.

Only SHA-256 digests of the random tokens are stored, so a copy of the database opens no session and
no API. A browser session also carries a CSRF token: requests that change something and are
authenticated by the session cookie must echo it (see :mod:`hub.web.auth`). These are plain async
functions over an `AsyncSession`; the caller commits.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from inbox.models import Agent, ApiToken, WebSession, utcnow

SESSION_TTL = timedelta(days=14)
TOKEN_PREFIX = "okno_"  # makes a leaked API token recognizable to secret scanners and people
LAST_USED_GRANULARITY = timedelta(minutes=1)  # record token use at most this often (one write, not many)


def new_secret() -> str:
    """A random URL-safe token with 256 bits of entropy."""
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What is stored of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def start_session(
    session: AsyncSession, agent_id: int, ttl: timedelta = SESSION_TTL
) -> tuple[str, WebSession]:
    """A new browser session for `agent_id`: the cookie value (shown once) and its row (flushed)."""
    now = utcnow()
    await session.execute(
        delete(WebSession).where(WebSession.agent_id == agent_id, WebSession.expires_at < now)
    )
    token = new_secret()
    row = WebSession(
        token_hash=digest(token),
        agent_id=agent_id,
        csrf_token=new_secret(),
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    await session.flush()
    return token, row


Credential = TypeVar("Credential", WebSession, ApiToken)


async def _credential(
    session: AsyncSession, model: type[Credential], token: str
) -> tuple[Credential, Agent] | None:
    """The session or token row a secret names and its agent with the agent's teams, in one statement (a
    request authenticates on every call: three round trips were a sixth of a list request's time)."""
    found = (
        (await session.execute(_credential_statement(model), {"token_hash": digest(token)})).unique().first()
    )
    return None if found is None else (found[0], found[1])


@functools.cache
def _credential_statement(model: type[WebSession] | type[ApiToken]) -> Any:
    """:func:`_credential`'s statement for `model`, the secret's digest bound as `token_hash` at execution:
    built once, not on every request (its join and eager load were a third of signing in)."""
    return (
        select(model, Agent)
        .join(Agent, Agent.id == model.agent_id)
        .where(model.token_hash == bindparam("token_hash"))
        .options(joinedload(Agent.teams))
    )


async def session_agent(session: AsyncSession, token: str) -> tuple[Agent, WebSession] | None:
    """The active agent (teams loaded) and the live session a cookie value opens, or None."""
    found = await _credential(session, WebSession, token)
    if found is None:
        return None
    row, agent = found
    if row.expires_at <= utcnow() or not agent.is_active:
        return None
    return agent, row


async def end_session(session: AsyncSession, token: str) -> int | None:
    """End the session of a cookie value; the id it had (None: there was none)."""
    session_id = await session.scalar(select(WebSession.id).where(WebSession.token_hash == digest(token)))
    if session_id is not None:
        await session.execute(delete(WebSession).where(WebSession.id == session_id))
    return session_id


async def end_sessions(session: AsyncSession, agent_id: int, *, keep: int | None = None) -> None:
    """End every browser session of `agent_id` but the one with id `keep` (if given)."""
    stmt = delete(WebSession).where(WebSession.agent_id == agent_id)
    if keep is not None:
        stmt = stmt.where(WebSession.id != keep)
    await session.execute(stmt)


async def revoke_api_tokens(session: AsyncSession, agent_id: int) -> None:
    """Delete every API token of `agent_id`."""
    await session.execute(delete(ApiToken).where(ApiToken.agent_id == agent_id))


async def end_credentials(session: AsyncSession, agent_id: int, *, keep_session: int | None = None) -> None:
    """After a password change: every session of `agent_id` but `keep_session`, and every API token, end."""
    await end_sessions(session, agent_id, keep=keep_session)
    await revoke_api_tokens(session, agent_id)


async def create_api_token(session: AsyncSession, agent_id: int, name: str = "") -> tuple[str, ApiToken]:
    """A new API token for `agent_id`: the plain text (shown once) and its row (flushed)."""
    token = TOKEN_PREFIX + new_secret()
    row = ApiToken(agent_id=agent_id, token_hash=digest(token), name=name, created_at=utcnow())
    session.add(row)
    await session.flush()
    return token, row


async def token_agent(session: AsyncSession, token: str) -> Agent | None:
    """The active agent (teams loaded) an API token belongs to, or None. Notes when it was last used."""
    found = await token_owner(session, token)
    return found[0] if found is not None else None


async def token_owner(
    session: AsyncSession, token: str, *, note_use: bool = True
) -> tuple[Agent, ApiToken] | None:
    """The active agent (teams loaded) and the row of an API token, or None. Notes when it was last used
    (when :func:`use_due`), unless `note_use` is false: then it only reads."""
    found = await _credential(session, ApiToken, token)
    if found is None:
        return None
    row, agent = found
    if not agent.is_active:
        return None
    if note_use and use_due(row):
        row.last_used_at = utcnow()
    return agent, row


def use_due(row: ApiToken) -> bool:
    """Whether a use of the token now is to be noted: its last noted use is a minute old, or none."""
    return row.last_used_at is None or utcnow() - row.last_used_at > LAST_USED_GRANULARITY


async def list_api_tokens(session: AsyncSession, agent_id: int) -> list[ApiToken]:
    return list(
        await session.scalars(select(ApiToken).where(ApiToken.agent_id == agent_id).order_by(ApiToken.id))
    )


async def revoke_api_token(session: AsyncSession, agent_id: int, token_id: int) -> bool:
    """Delete one of the agent's tokens; False if the agent has no token with this id."""
    result = await session.execute(
        delete(ApiToken).where(ApiToken.id == token_id, ApiToken.agent_id == agent_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def credential_alive(
    session: AsyncSession, agent_id: int, *, session_id: int | None, token_id: int | None
) -> bool:
    """Is the agent active, and its session (by id) or API token (by id) still there?"""
    if not await session.scalar(select(Agent.is_active).where(Agent.id == agent_id)):
        return False
    if session_id is not None:
        alive = await session.scalar(
            select(WebSession.id).where(WebSession.id == session_id, WebSession.expires_at > utcnow())
        )
        return alive is not None
    if token_id is not None:
        return await session.scalar(select(ApiToken.id).where(ApiToken.id == token_id)) is not None
    return False
