"""The one way tests wait for something another task, process or server does.

Every wait has the same ceiling, ``WAIT_CEILING`` (90 s, or ``OKNO_TEST_WAIT_CEILING`` seconds): far longer
than anything takes on a loaded machine, so a slow run is never a failure, while a test still waits only as
long as it needs (a check is polled with a short backoff and returns the moment it holds). On the ceiling a
wait fails with ``never happened: <what>`` and the last value seen.

* ``eventually(check, what)``: poll a sync or async callable until it returns something truthy; return it.
* ``resolved(awaitable, what)``: await one thing (a future, ``event.wait()``, ``ws.receive_json()``,
  ``proc.wait()``) under the ceiling; ``event_set`` and ``next_item`` are the common cases.
* ``next_frame(ws)``: the next JSON frame of a WebSocket.
* ``within(what)``: a block (e.g. a loop reading frames) under the ceiling.
* ``port_open`` / ``port_open_sync``: a TCP port accepts connections (a server we started is up).
* ``eventually_sync``: ``eventually`` for sync code (fixtures, server helpers without a loop).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar, overload

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

WAIT_CEILING = float(os.environ.get("OKNO_TEST_WAIT_CEILING") or 90.0)
FIRST_PAUSE = 0.005
LONGEST_PAUSE = 0.1


def _never(what: str, ceiling: float, last: object = None, *, seen: bool = False) -> AssertionError:
    detail = f"; last seen: {last!r}"[:2000] if seen else ""
    return AssertionError(f"never happened: {what} (waited {ceiling:g} s{detail})")


@overload
async def eventually(
    check: Callable[[], Awaitable[T | None]], what: str, *, ceiling: float | None = None
) -> T: ...


@overload
async def eventually(check: Callable[[], T | None], what: str, *, ceiling: float | None = None) -> T: ...


async def eventually(check: Callable[[], Any], what: str, *, ceiling: float | None = None) -> Any:
    """Poll `check` (sync, or async) until it returns a truthy value, and return that value."""
    limit = WAIT_CEILING if ceiling is None else ceiling
    loop = asyncio.get_running_loop()
    give_up = loop.time() + limit
    pause = FIRST_PAUSE
    last: object = None
    seen = False
    while True:
        outcome = check()
        value = await outcome if inspect.isawaitable(outcome) else outcome
        if value:
            return value
        last, seen = value, True
        if loop.time() >= give_up:
            raise _never(what, limit, last, seen=seen)
        await asyncio.sleep(min(pause, max(0.0, give_up - loop.time())))
        pause = min(pause * 2, LONGEST_PAUSE)


async def resolved(awaitable: Awaitable[T], what: str, *, ceiling: float | None = None) -> T:
    """Await one thing under the ceiling and return its result."""
    limit = WAIT_CEILING if ceiling is None else ceiling
    try:
        async with asyncio.timeout(limit):
            return await awaitable
    except TimeoutError:
        raise _never(what, limit) from None


async def event_set(event: asyncio.Event, what: str, *, ceiling: float | None = None) -> None:
    await resolved(event.wait(), what, ceiling=ceiling)


class Source(Protocol[T_co]):
    """Anything with an awaitable ``get()``: an asyncio.Queue, an event-bus subscription."""

    def get(self) -> Awaitable[T_co]: ...


async def next_item(source: Source[T], what: str, *, ceiling: float | None = None) -> T:
    """The next item of a queue (or subscription), under the ceiling."""
    return await resolved(source.get(), what, ceiling=ceiling)


class FrameSource(Protocol):
    """A WebSocket client (aiohttp's ClientWebSocketResponse)."""

    def receive_json(self) -> Awaitable[Any]: ...


async def next_frame(ws: FrameSource, what: str = "the next WebSocket frame") -> Any:
    """The next JSON frame of a WebSocket, under the ceiling."""
    return await resolved(ws.receive_json(), what)


@asynccontextmanager
async def within(what: str, *, ceiling: float | None = None) -> AsyncIterator[None]:
    """Run a block under the ceiling; a block still running then fails as ``never happened: <what>``."""
    limit = WAIT_CEILING if ceiling is None else ceiling
    try:
        async with asyncio.timeout(limit):
            yield
    except TimeoutError:
        raise _never(what, limit) from None


def _connects(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


async def port_open(port: int, what: str, *, host: str = "127.0.0.1", ceiling: float | None = None) -> None:
    """Wait until something accepts TCP connections on host:port."""

    async def accepts() -> bool:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    await eventually(accepts, what, ceiling=ceiling)


def eventually_sync(check: Callable[[], T | None], what: str, *, ceiling: float | None = None) -> T:
    """`eventually` for sync code (a fixture or a server helper without an event loop)."""
    limit = WAIT_CEILING if ceiling is None else ceiling
    give_up = time.monotonic() + limit
    pause = FIRST_PAUSE
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= give_up:
            raise _never(what, limit, value, seen=True)
        time.sleep(pause)
        pause = min(pause * 2, LONGEST_PAUSE)


def port_open_sync(
    port: int,
    what: str,
    *,
    host: str = "127.0.0.1",
    ceiling: float | None = None,
    alive: Callable[[], object] | None = None,
) -> None:
    """`port_open` for sync code. `alive` (e.g. ``lambda: proc.poll() is None``) ends the wait early with a
    clear failure when the server process has died."""

    def accepts() -> bool:
        if alive is not None and not alive():
            raise AssertionError(f"never happened: {what} (the server exited)")
        return _connects(host, port)

    eventually_sync(accepts, what, ceiling=ceiling)
