"""Routing as the API answers it: an agent's availability, the supervisors' board, the queues with places,
and the ordered rules (inbox.routing)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hub.web.api.schemas.base import ApiModel, Id, Time

Availability = Literal["online", "busy", "offline"]
Presence = Literal["online", "away", "offline"]


class MyAvailability(ApiModel):
    agent_id: Id
    status: Availability
    presence: Presence = Field(description="away: every tab of mine is idle; offline: no tab open")


class AgentAvailability(ApiModel):
    agent_id: Id
    name: str
    status: Availability
    presence: Presence
    open: int = Field(description="open and pending conversations assigned to the agent")
    capacity: int = Field(description="the agent's own, else their team's default")
    channel_capacity: dict[str, int] = Field(description="limits per channel kind on top of capacity")
    team_ids: list[Id]
    last_assigned_at: Time | None


class AgentAvailabilityList(ApiModel):
    items: list[AgentAvailability]


class QueuedConversation(ApiModel):
    conversation_id: Id
    team_id: Id
    position: int = Field(description="1 = next in its team's line (higher priority first, then oldest)")
    priority: int = Field(description="higher is handed out first (a routing rule may set it)")
    waiting_seconds: float


class Queue(ApiModel):
    items: list[QueuedConversation]


class RuleConditions(ApiModel):
    """What a new dialog must match (every condition given; an empty list or null matches anything)."""

    account: list[str]
    channel: list[str]
    card: Literal["lead", "client"] | None
    tags: list[str]
    language: list[str]
    keywords: list[str]
    regex: str | None
    business_hours: bool | None
    vip: bool | None = Field(description="true: the card has a VIP tag ([routing] vip_tags) or custom field")


class Rule(ApiModel):
    name: str
    team: str | None
    priority: int | None = Field(description="higher is handed out first")
    tags: list[str]
    auto_reply: str | None = Field(description="a shared template's key: sent to the client automatically")
    when: RuleConditions


class Rules(ApiModel):
    rules: list[Rule] = Field(description="in order: the first rule that matches a new dialog applies")
