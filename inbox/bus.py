"""Domain events and the publishing interface the hub's event bus implements.

An event names the conversation, its team and assignee, so a subscriber (the agent WebSocket) can decide
who may see it without another query. An event about client cards (:class:`ContactEvent`) names instead,
per card, the (team, assignee) scopes that may see it (see :mod:`inbox.visibility`). An event about
something one agent owns alone (a personal reply template) is a :class:`PrivateEvent`: only that agent
sees it, not even an admin.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

# (team_id, assignee_id) scopes any one of which lets a viewer see a card.
Audience = tuple[tuple[int | None, int | None], ...]


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # "message.created", "conversation.updated", "message.delivery", ...
    conversation_id: int | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Event:
        if "owner_id" in raw:
            return PrivateEvent(
                type=str(raw["type"]), data=dict(raw.get("data") or {}), owner_id=int(raw["owner_id"])
            )
        if "audiences" in raw:
            return ContactEvent(
                type=str(raw["type"]),
                data=dict(raw.get("data") or {}),
                audiences=tuple(tuple((s[0], s[1]) for s in audience) for audience in raw["audiences"]),
            )
        return cls(
            type=str(raw["type"]),
            conversation_id=raw.get("conversation_id"),
            team_id=raw.get("team_id"),
            assignee_id=raw.get("assignee_id"),
            data=dict(raw.get("data") or {}),
        )


@dataclass(frozen=True, slots=True)
class ContactEvent(Event):
    """An event about one or more client cards: a viewer must pass one scope of every audience."""

    audiences: tuple[Audience, ...] = ()


@dataclass(frozen=True, slots=True)
class PrivateEvent(Event):
    """An event for one agent only (`owner_id`): about what is theirs alone, such as a personal template."""

    owner_id: int = 0


class Publisher(Protocol):
    async def publish(self, event: Event) -> None: ...


class NullPublisher:
    """Publishes nowhere: for the CLI and scripts that run without a hub."""

    async def publish(self, event: Event) -> None:
        return None
