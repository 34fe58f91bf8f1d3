"""Agent sockets end with their credential: logout, token revocation, deactivation, password change.

Each live agent socket is registered with the credential that opened it (:class:`Credential`: the agent,
and the browser session's id or the API token's id). Ending a credential is a :class:`Revocation`; the
process that ends it closes its own matching sockets at once (code 4401) and publishes the revocation as
an internal ``auth.revoked`` event, which every hub process's listener (:func:`listen`, on the app's
lifecycle) applies to its own sockets. The agent socket never forwards ``auth.*`` events to agents.

No periodic re-check of live sockets: the process that ends a credential closes its own sockets without
the bus, and other processes get the event over the same bus that carries every notification. A
revocation lost with the Redis connection leaves a socket that only receives notifications; every
request it leads to is refused, as the credential is gone from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from hub.web.context import HUB, publish
from inbox.bus import Event

log = logging.getLogger(__name__)

REVOKED = "auth.revoked"
INTERNAL_PREFIX = "auth."  # events for the hub processes, never for agents' sockets
CLOSE_CODE = 4401


@dataclass(frozen=True, slots=True)
class Credential:
    agent_id: int
    session_id: int | None = None
    token_id: int | None = None


@dataclass(frozen=True, slots=True)
class Revocation:
    """Which credentials of one agent ended: some sessions, some tokens, or all but `keep_session`."""

    agent_id: int
    sessions: frozenset[int] = frozenset()
    tokens: frozenset[int] = frozenset()
    everything: bool = False
    keep_session: int | None = None

    def ends(self, credential: Credential) -> bool:
        if credential.agent_id != self.agent_id:
            return False
        if self.everything:
            return credential.session_id is None or credential.session_id != self.keep_session
        if credential.session_id is not None and credential.session_id in self.sessions:
            return True
        return credential.token_id is not None and credential.token_id in self.tokens

    def event(self) -> Event:
        data = {
            "agent_id": self.agent_id,
            "sessions": sorted(self.sessions),
            "tokens": sorted(self.tokens),
            "everything": self.everything,
            "keep_session": self.keep_session,
        }
        return Event(REVOKED, data=data)

    @classmethod
    def from_event(cls, event: Event) -> Revocation | None:
        data = event.data
        try:
            keep = data.get("keep_session")
            return cls(
                agent_id=int(data["agent_id"]),
                sessions=frozenset(int(i) for i in data.get("sessions", ())),
                tokens=frozenset(int(i) for i in data.get("tokens", ())),
                everything=bool(data.get("everything", False)),
                keep_session=int(keep) if keep is not None else None,
            )
        except (KeyError, TypeError, ValueError):
            log.warning("ignoring a malformed %s event", REVOKED)
            return None


class LiveSockets:
    """The live agent sockets of this process, by agent, with the credential each was opened with."""

    def __init__(self) -> None:
        self._by_agent: dict[int, dict[web.WebSocketResponse, Credential]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        # How many revocations this process applied: a socket that authenticated while one came in
        # (before it was registered) checks its credential again (see hub.web.api.ws).
        self.revocations = 0

    def add(self, ws: web.WebSocketResponse, credential: Credential) -> None:
        self._by_agent.setdefault(credential.agent_id, {})[ws] = credential

    def discard(self, ws: web.WebSocketResponse, credential: Credential) -> None:
        sockets = self._by_agent.get(credential.agent_id)
        if sockets is not None:
            sockets.pop(ws, None)
            if not sockets:
                del self._by_agent[credential.agent_id]

    def ending(self, revocation: Revocation) -> list[web.WebSocketResponse]:
        sockets = self._by_agent.get(revocation.agent_id, {})
        return [ws for ws, credential in sockets.items() if revocation.ends(credential)]

    def close(self, revocation: Revocation) -> int:
        """Start closing (4401) the sockets whose credential `revocation` ends; how many there are.

        Each close runs in its own task: a slow peer delays neither the request that ended the
        credential nor the other sockets."""
        self.revocations += 1
        ending = [ws for ws in self.ending(revocation) if not ws.closed]
        for ws in ending:
            task = asyncio.create_task(_close(ws), name="okno-ws-revoked")
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return len(ending)


async def _close(ws: web.WebSocketResponse) -> None:
    try:
        await ws.close(code=CLOSE_CODE, message=b"credential ended: log in again")
    except (ConnectionError, RuntimeError) as exc:
        log.debug("closing a revoked agent socket: %s", exc)


LIVE = web.AppKey("okno_live_sockets", LiveSockets)


async def revoke(request: web.Request, revocation: Revocation) -> None:
    """After the commit that ended a credential: close its sockets here, and tell the other processes."""
    request.app[LIVE].close(revocation)
    await publish(request, [revocation.event()])


async def listen(app: web.Application) -> AsyncIterator[None]:
    """The app's listener of ``auth.revoked`` events (a cleanup context: runs while the app does)."""
    live = app[LIVE]
    subscription = app[HUB].bus.subscribe()

    async def apply() -> None:
        while True:
            event = await subscription.get()
            if event.type != REVOKED:
                continue
            revocation = Revocation.from_event(event)
            if revocation is not None:
                live.close(revocation)

    task = asyncio.create_task(apply(), name="okno-auth-revoked")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        subscription.close()
