"""Work that runs to its end once started, even when the task that asked for it is cancelled.

A socket handler is cancelled when its client vanishes or the server shuts down. Cancelled inside a
database transaction, it would leave the connection (and, on SQLite, the write lock) to the garbage
collector. Such units of work go through :meth:`Finishing.run`: the caller may still be cancelled, the work
is not, and the hub waits for whatever is still running before it closes the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class Finishing:
    def __init__(self) -> None:
        self._pending: set[asyncio.Future[Any]] = set()

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Await `work` shielded from the caller's cancellation; it is tracked until it ends."""
        task = asyncio.ensure_future(work)
        self._pending.add(task)
        task.add_done_callback(self._done)
        return await asyncio.shield(task)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._pending.discard(task)
        # Read the outcome here: when the caller was cancelled nobody else will (and asyncio would log
        # "exception was never retrieved"). A caller still waiting gets the exception through the shield.
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.debug("work finished with an error after its caller left: %r", exc)

    async def wait(self) -> None:
        """Until every unit of work started so far has ended."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    @property
    def pending(self) -> int:
        return len(self._pending)
