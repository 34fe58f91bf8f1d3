"""The web-chat relay: one bus subscription per web app, fanned out to the visitor sockets it concerns.

A visitor socket (a "link") watches the conversations of its visitor. Events about them — a message
stored or released by the outbox (``message.created``, ``message.delivery``), an agent typing, a new
assignee — wake the links, which then read what changed from the database (the source of truth) and push
it. The bus is Redis when several hub processes run, so a reply sent by process B reaches a socket held
by process A. ``webchat.conversation`` (a visitor's new conversation) makes every socket of that visitor,
in any process, watch it too. The relay also keeps the visitors' message rates
(which agents are online is shared through the database: :mod:`hub.presence`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from aiohttp import web

from hub.bus import RESYNC, LocalBus, Subscription
from hub.bus_redis import RedisBus
from inbox.bus import Event

log = logging.getLogger(__name__)

WAKING = frozenset({"message.created", "message.delivery", "conversation.assigned", "conversation.typing"})


class Link(Protocol):
    """A visitor socket as the relay sees it."""

    account_id: int
    visitor_id: str
    conversations: set[int]

    def poke(self, event: Event) -> None: ...


class VisitorRelay:
    def __init__(self, bus: LocalBus | RedisBus) -> None:
        self._bus = bus
        self._by_conversation: dict[int, set[Link]] = {}
        self._by_visitor: dict[tuple[int, str], set[Link]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            subscription = self._bus.subscribe(maxsize=10_000)
            self._task = asyncio.create_task(self._run(subscription), name="okno-webchat-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, subscription: Subscription) -> None:
        async with subscription:
            while True:
                event = await subscription.get()
                try:
                    self.dispatch(event)
                except Exception:  # one bad event must not stop every visitor's updates
                    log.exception("web-chat relay could not dispatch %s", event.type)

    def dispatch(self, event: Event) -> None:
        if event.type == RESYNC:  # the bus lost events: every socket reads what it has not shown yet
            for link in self.links():
                link.poke(event)
            return
        if event.type == "webchat.conversation":
            key = (event.data.get("account_id"), event.data.get("visitor_id"))
            conversation_id = event.conversation_id
            if isinstance(key[0], int) and isinstance(key[1], str) and conversation_id is not None:
                for link in list(self._by_visitor.get((key[0], key[1]), ())):
                    self.watch(link, conversation_id)
                    link.poke(event)
            return
        if event.type in WAKING and event.conversation_id is not None:
            for link in list(self._by_conversation.get(event.conversation_id, ())):
                link.poke(event)

    def add(self, link: Link) -> int:
        """Register a socket; returns how many sockets its visitor now has here."""
        links = self._by_visitor.setdefault((link.account_id, link.visitor_id), set())
        links.add(link)
        for conversation_id in link.conversations:
            self._by_conversation.setdefault(conversation_id, set()).add(link)
        return len(links)

    def watch(self, link: Link, conversation_id: int) -> None:
        link.conversations.add(conversation_id)
        self._by_conversation.setdefault(conversation_id, set()).add(link)

    def remove(self, link: Link) -> None:
        key = (link.account_id, link.visitor_id)
        links = self._by_visitor.get(key)
        if links is not None:
            links.discard(link)
            if not links:
                del self._by_visitor[key]
        for conversation_id in link.conversations:
            watching = self._by_conversation.get(conversation_id)
            if watching is not None:
                watching.discard(link)
                if not watching:
                    del self._by_conversation[conversation_id]

    def links(self) -> list[Link]:
        return [link for links in self._by_visitor.values() for link in links]


RELAY = web.AppKey("okno_webchat_relay", VisitorRelay)
