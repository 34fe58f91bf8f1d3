"""A clock a test sets by hand: it reads `now`, which only the test moves (nothing waits for real time)."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class SteppedClock(Generic[T]):
    """Called as the code's clock (`time.monotonic`, `utcnow`), it answers `now`."""

    def __init__(self, start: T) -> None:
        self.now = start

    def __call__(self) -> T:
        return self.now
