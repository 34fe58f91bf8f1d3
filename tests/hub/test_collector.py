"""hub.collector.SurvivorFreeze: what outlives a full collection leaves the collector's sight, and comes back
to it after the thaw interval, so a reference cycle that died frozen is still reclaimed."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from hub.collector import SurvivorFreeze
from tests.clock import SteppedClock
from tests.waiting import eventually


class Node:
    """Something the collector tracks; two of them pointing at each other make a reference cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def clock() -> SteppedClock[float]:
    return SteppedClock(1000.0)


def is_tracked(obj: object) -> bool:
    """Whether the collector walks `obj` (frozen objects are in none of its generations)."""
    return any(o is obj for o in gc.get_objects())


async def started(clock: SteppedClock[float]) -> SurvivorFreeze:
    freeze = SurvivorFreeze(asyncio.get_running_loop(), thaw_seconds=60.0, clock=clock)
    freeze.start()
    return freeze


async def test_what_survives_a_full_collection_is_frozen_once_the_loop_runs(
    clock: SteppedClock[float],
) -> None:
    freeze = await started(clock)
    try:
        kept = Node()
        gc.collect()  # a full collection: the freeze is queued for the event loop
        await eventually(lambda: freeze.freezes == 1, "the survivors frozen")
        assert not is_tracked(kept)
        assert freeze.thaws == 0
    finally:
        freeze.stop()


async def test_after_the_thaw_interval_a_full_collection_gives_everything_back(
    clock: SteppedClock[float],
) -> None:
    freeze = await started(clock)
    try:
        kept = Node()
        gc.collect()
        await eventually(lambda: freeze.freezes == 1, "the survivors frozen")
        clock.now += 61.0
        gc.collect()
        await eventually(lambda: freeze.thaws == 1, "the frozen objects given back")
        assert gc.get_freeze_count() == 0
        assert is_tracked(kept)
        clock.now += 1.0  # within the new interval: the next full collection freezes again
        gc.collect()
        await eventually(lambda: freeze.freezes == 2, "the survivors frozen again")
        assert not is_tracked(kept)
    finally:
        freeze.stop()


async def test_a_cycle_that_died_frozen_is_reclaimed_after_the_thaw(clock: SteppedClock[float]) -> None:
    freeze = await started(clock)
    try:
        first, second = Node(), Node()
        first.other, second.other = second, first
        gone = weakref.ref(first)
        gc.collect()
        await eventually(lambda: freeze.freezes == 1, "the cycle frozen")
        del first, second  # now garbage, but frozen: no collection sees it
        gc.collect()
        await eventually(lambda: freeze.freezes == 2, "the next full collection done")
        assert gone() is not None
        clock.now += 61.0
        gc.collect()
        await eventually(lambda: freeze.thaws == 1, "the frozen objects given back")
        gc.collect()  # the first full collection after the thaw walks the cycle again
        assert gone() is None
    finally:
        freeze.stop()


async def test_stopped_it_freezes_nothing(clock: SteppedClock[float]) -> None:
    freeze = await started(clock)
    freeze.stop()
    gc.collect()
    assert not freeze._pending  # no freeze was queued for the loop
    assert freeze._on_collection not in gc.callbacks
