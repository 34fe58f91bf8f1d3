"""The lifecycle the hub's background workers share (the outbox worker, the scheduler): one task that runs
passes until stopped, woken early by :meth:`PassWorker.wake`, and stopped only between passes."""

from __future__ import annotations

import asyncio
import contextlib


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
