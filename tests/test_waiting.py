"""The shared waiting helper: returns as soon as a check holds, fails naming what never happened."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests import waiting
from tests.waiting import event_set, eventually, next_item, port_open, resolved


def test_the_ceiling_is_never_below_a_minute() -> None:
    assert waiting.WAIT_CEILING >= 60


async def test_eventually_returns_the_first_truthy_value_of_a_sync_or_async_check() -> None:
    calls: Iterator[object] = iter([None, 0, [], "ready"])
    assert await eventually(lambda: next(calls), "the fourth answer") == "ready"

    async def found() -> int:
        return 7

    assert await eventually(found, "an async check") == 7


async def test_a_wait_that_runs_out_names_what_never_happened_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"never happened: the door opened .*last seen: \[\]"):
        await eventually(lambda: [], "the door opened", ceiling=0.05)
    with pytest.raises(AssertionError, match="never happened: the bell rang"):
        await event_set(asyncio.Event(), "the bell rang", ceiling=0.05)


async def test_queues_futures_and_ports_are_awaited_under_the_same_ceiling() -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    queue.put_nowait("first")
    assert await next_item(queue, "an item") == "first"
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    future.set_result(3)
    assert await resolved(future, "the future") == 3
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    async with server:
        await port_open(server.sockets[0].getsockname()[1], "the test server")
