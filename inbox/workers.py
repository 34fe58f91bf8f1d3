"""The lifecycle the hub's background workers share (the outbox worker, the scheduler): one task that runs
passes until stopped, woken early by :meth:`PassWorker.wake`, and stopped only between passes; and the
write turn the group commit and the router take on SQLite (:func:`write_turn`)."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AbstractAsyncContextManager
from typing import Any


def write_turn(lock: asyncio.Lock | None) -> AbstractAsyncContextManager[Any]:
    """The turn a writing transaction of the group commit or the router waits for in this process (a hub
    on SQLite shares one lock between them; None: no turn, as on PostgreSQL, where rows lock, not the
    database). On SQLite one writer at a time holds the database's write lock, and a writer that finds it
    taken sleeps in SQLite's busy handler (1, 2, 5, 10 … ms) without being woken when it is let go: a batch
    of web-chat messages behind a router pass slept up to twice that pass. An asyncio lock wakes the next
    at once. It is held only around the `async with` of one transaction, so no path — an error, a
    cancellation — can leave it taken (a lock tied to the connection's commit instead, tried before,
    could)."""
    return lock if lock is not None else contextlib.nullcontext()


class PassWorker:
    """Subclasses implement :meth:`_run` (loop until ``self._stopping``, waiting on ``self._wake``)."""

    task_name = "okno-worker"

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        """Look for work now (something due was committed in this process)."""
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop(self, grace: float = 10.0) -> None:
        """Finish the pass under way, then stop. Cancelling a pass inside its transaction would leave a
        SQLite connection holding the write lock until garbage collection; only a pass stuck longer than
        `grace` seconds is cancelled."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        finally:
            self._task, self._stopping = None, False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        raise NotImplementedError
