"""The garbage collector of a running hub: what outlives a full collection is frozen out of the next ones.

`okno run` freezes what is alive once the hub has started (modules, mappers, the engine, the app: see
hub.cli.serve). What the traffic makes afterwards and keeps — above all the open sockets, about 120 objects
the collector tracks each (aiohttp's request, protocol, transport, reader and writer, the handler's and the
middlewares' coroutines, the socket's tasks, queue, events) — sat in the oldest generation, and every full
collection walked all of it: with 1,000 idle web-chat sockets, 128,000 objects and 90-100 ms with the event
loop stopped, once every 20-40 s at 500 messages/s (bench/live.py, its gc lines).

:class:`SurvivorFreeze` freezes (`gc.freeze`) what survived each full collection, as soon as the event loop
gets to it: the next full collection walks only what was promoted since. How often full collections come does
not change (CPython counts the objects promoted since the last one against those it kept then), only what
each one walks.

The price: a reference cycle that becomes garbage while frozen (a closed socket's objects, a session that
was alive at the freeze) is not reclaimed until the collector sees it again. So every `thaw_seconds`, the
first full collection after it is followed by `gc.unfreeze()` instead of a freeze: the next full collection
walks everything again (the start-up objects too: a longer pause, that rarely) and reclaims what died, and
the freezing goes on after it. Objects without cycles are freed by their reference counts as ever, frozen or
not.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

THAW_SECONDS = 600.0


class SurvivorFreeze:
    """Install with :meth:`start` on the event loop that serves; :meth:`stop` removes the callback."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        thaw_seconds: float = THAW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loop = loop
        self._thaw_seconds = thaw_seconds
        self._clock = clock
        self._thawed_at = clock()
        self._pending = False
        self.freezes = 0  # full collections whose survivors were frozen
        self.thaws = 0  # full collections after which everything was given back to the collector

    def start(self) -> None:
        if self._on_collection not in gc.callbacks:
            gc.callbacks.append(self._on_collection)

    def stop(self) -> None:
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        # Any thread may run a collection (a database thread allocates too): the freeze is done by the
        # event loop's thread, once per full collection however many ran before it got there.
        if phase != "stop" or info["generation"] != 2 or self._pending:
            return
        self._pending = True
        try:
            self._loop.call_soon_threadsafe(self._after_full_collection)
        except RuntimeError:  # the loop is closed: nothing to freeze for
            self._pending = False

    def _after_full_collection(self) -> None:
        self._pending = False
        now = self._clock()
        if now - self._thawed_at >= self._thaw_seconds:
            self._thawed_at = now
            self.thaws += 1
            gc.unfreeze()
        else:
            self.freezes += 1
            gc.freeze()
