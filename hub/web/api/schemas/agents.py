"""Agents, teams, who-am-I and API tokens as the API answers them (never a password hash or a token's
hash)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, Self

from pydantic import Field

from hub.web.api.schemas.base import ApiModel, EmptyDictIfNone, Id, Time

if TYPE_CHECKING:
    from inbox import models


class Team(ApiModel):
    id: Id
    name: str
    strategy: Literal["round_robin", "least_busy", "manual"] = Field(description="how dialogs are handed out")
    agent_capacity: int | None = Field(description="open dialogs a member holds at most, unless their own")
    answer_timeout_seconds: int | None = Field(
        description="an assigned dialog with no human reply this long goes to the next agent; null: never"
    )


class TeamList(ApiModel):
    items: list[Team]


class Agent(ApiModel):
    """An agent with their teams, and whether a socket of theirs is open."""

    # The caller loads the teams.

    id: Id
    email: str
    name: str
    role: Literal["agent", "supervisor", "admin"]
    capacity: int | None = Field(description="open dialogs at most; null: the team's default")
    channel_capacity: Annotated[dict[str, int], EmptyDictIfNone] = Field(
        description="limits per channel kind on top of capacity"
    )
    status: Literal["online", "busy", "offline"] = Field(description="the agent's availability for routing")
    extension: str | None
    language: Literal["ru", "en"] | None
    timezone: str | None = Field(
        None, description="the IANA zone the agent reads times in; null: the hub's business hours' zone"
    )
    is_active: bool
    teams: list[Team]
    presence: Literal["online", "offline"] = "offline"  # not a column: see `of`

    @classmethod
    def of(cls, row: models.Agent, *, online: bool) -> Self:
        return cls.model_validate(row).model_copy(update={"presence": "online" if online else "offline"})


class AgentList(ApiModel):
    items: list[Agent]


class Me(ApiModel):
    agent: Agent
    auth: Literal["session", "token"]
    csrf_token: str | None = Field(
        description="send it as X-CSRF-Token with every cookie-authenticated change"
    )


class MyTimezone(ApiModel):
    agent_id: Id
    timezone: str | None = Field(description="an IANA zone name; null: the hub's business hours' zone")
    effective: str = Field(description="the zone times are shown in")


class ApiToken(ApiModel):
    id: Id
    name: str
    created_at: Time
    last_used_at: Time | None


class ApiTokenList(ApiModel):
    items: list[ApiToken]


class NewApiToken(ApiToken):
    token: str = Field(description="shown once")

    @classmethod
    def of(cls, row: models.ApiToken, token: str) -> Self:
        return cls.model_validate({**dict(ApiToken.model_validate(row)), "token": token})
