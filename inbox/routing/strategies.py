"""Who gets the next dialog, decided from :class:`~inbox.routing.capacity.AgentLoad` rows (pure functions).

* *sticky owner* first, for every strategy: the client card's owner, if routable and with room;
* *round robin*: the agent given a dialog least recently (never given one: first), ties by id;
* *least busy*: the fewest open dialogs, then least recently given, then id;
* *manual*: nobody — the dialog waits in the team's queue until an agent takes it.

Round robin keys on the time of the last assignment stored on the agent's row rather than on a counter
in memory, so it stays fair across restarts and across hub processes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final, Literal

from inbox.routing.capacity import AgentLoad

Strategy = Literal["round_robin", "least_busy", "manual"]
STRATEGIES: Final[tuple[Strategy, ...]] = ("round_robin", "least_busy", "manual")
_NEVER = datetime.min.replace(tzinfo=UTC)


def _recency(load: AgentLoad) -> tuple[datetime, int]:
    return (load.last_assigned_at or _NEVER, load.agent_id)


def choose(strategy: str, candidates: Iterable[AgentLoad], channel_kind: str) -> AgentLoad | None:
    """The candidate to hand a dialog of `channel_kind` to, or None (manual, or nobody has room)."""
    if strategy == "manual":
        return None
    room = [c for c in candidates if c.has_room(channel_kind)]
    if not room:
        return None
    if strategy == "least_busy":
        return min(room, key=lambda c: (c.open_total, *_recency(c)))
    return min(room, key=_recency)


def sticky(owner: AgentLoad | None, channel_kind: str) -> bool:
    """The card's owner takes it: they are routable (the caller checked) and have room."""
    return owner is not None and owner.has_room(channel_kind)
