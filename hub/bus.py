"""The event bus: publish/subscribe of domain events within one process.

`EventBus` is the interface (it satisfies `inbox.bus.Publisher`); `LocalBus` keeps subscribers in memory.
A Redis backend implements the same two methods (publish to a channel, subscribe by reading it), so a
WebSocket on process A sees a message ingested on process B. Each subscriber has a bounded queue: a
subscriber that stops reading loses its oldest events and is told so (`overflowed`), instead of growing
the hub's memory without end. When the shared bus itself lost events (Redis was down), `LocalBus.lost` tells
every subscriber the same way and hands it a `RESYNC` event, so that one waiting for its next event wakes up
and reloads from the database (an agent socket sends ``resync``; a visitor socket syncs everything).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Protocol

from inbox.bus import Event

RESYNC = "bus.resync"  # events may have been lost: reload from the database


class Subscription:
    def __init__(self, bus: LocalBus, maxsize: int) -> None:
        self._bus = bus
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.overflowed = False

    def offer(self, event: Event) -> None:
        if self.queue.full():
            self.overflowed = True
            self.queue.get_nowait()
        self.queue.put_nowait(event)

    async def get(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        self._bus._subscribers.discard(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self.get()


class EventBus(Protocol):
    async def publish(self, event: Event) -> None: ...

    def subscribe(self, maxsize: int = 1000) -> Subscription: ...


class LocalBus:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    async def publish(self, event: Event) -> None:
        for subscription in list(self._subscribers):
            subscription.offer(event)

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        subscription = Subscription(self, maxsize)
        self._subscribers.add(subscription)
        return subscription

    def lost(self, reason: str) -> None:
        """Events may have been lost on their way here: every subscriber is told (module docstring)."""
        for subscription in list(self._subscribers):
            subscription.offer(Event(RESYNC, data={"reason": reason}))
            subscription.overflowed = True

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
