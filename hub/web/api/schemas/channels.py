"""Channel accounts and the generic API channel's answer, as the API gives them."""

from __future__ import annotations

from pydantic import Field

from hub.web.api.schemas.base import ApiModel, Id, NullableId, Time
from hub.web.api.schemas.capabilities import Capabilities


class ChannelAccount(ApiModel):
    id: Id
    name: str
    kind: str
    team_id: NullableId
    state: str = Field(description="running, retrying, auth_failed, misconfigured or stopped")
    detail: str | None
    restarts: int
    since: Time | None
    problem: str | None = Field(description="a configuration problem that keeps it from running")
    capabilities: Capabilities
    last_received_at: Time | None = Field(description="its newest inbound message or call")
    quarantined: int = Field(description="items it received and could not take (/api/v1/quarantine)")


class ChannelAccountList(ApiModel):
    items: list[ChannelAccount]


class ConnectionTest(ApiModel):
    """What a connection test of an account found (``POST /api/v1/channels/{account}/test``)."""

    account: str
    kind: str
    ok: bool = Field(description="the account's peer took us (or there is nothing to connect to)")
    detail: str = Field(description="what happened, in one line; never a secret")


class IngestResult(ApiModel):
    """What became of a handed-in message."""

    # Read from inbox.ingest.IngestResult (whose to_dict is the CLI's output).

    contact_id: Id
    conversation_id: Id
    message_id: Id
    duplicate: bool
