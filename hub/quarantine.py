"""Retrying quarantined items from the hub: each item's channel parser of today, with its account's options
of today (a fix may be a new release or a changed option), handed to the hub's sink.

The domain's side (what leaves the quarantine, what stays, the audit row) is :func:`inbox.quarantine.retry`;
this module only supplies the parser and the account it runs for, which `inbox` cannot know.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from channels.base import AccountContext, InboundItem, reparse
from hub.runtime import Hub
from inbox import quarantine
from inbox.blobs import BlobStore
from inbox.models import ChannelAccount


def blob_store(hub: Hub) -> BlobStore | None:
    """Where quarantined bytes are kept (the attachments' store), if one is configured."""
    return BlobStore(hub.policy.attachments_dir) if hub.policy.attachments_dir else None


async def account_context(hub: Hub, account_id: int) -> AccountContext:
    """The configured account; an account that is no longer configured (or was made by `okno ingest`) is
    read with no options."""
    for configured in hub.accounts.values():
        if configured.context.id == account_id:
            return configured.context
    async with hub.sessionmaker() as session:
        row = await session.get_one(ChannelAccount, account_id)
        return AccountContext(id=row.id, name=row.name, kind=row.kind)


def reparser(hub: Hub) -> quarantine.Reparse:
    async def run(stored: quarantine.StoredRefusal) -> Sequence[InboundItem]:
        account = await account_context(hub, stored.account_id)
        # Parsing is CPU work (a large mail): off the event loop, and outside any transaction.
        return await asyncio.to_thread(
            reparse, stored.raw, stored.position, account=account, region=hub.settings.default_region
        )

    return run


async def retry(
    hub: Hub, ids: Sequence[int] = (), *, account_id: int | None = None, actor_agent_id: int | None = None
) -> list[quarantine.RetryOutcome]:
    """Retry `ids`, or every item of `account_id` (the hub's ingest queue must be running)."""
    chosen = await quarantine.select_ids(hub.sessionmaker, ids, account_id)
    return await quarantine.retry(
        hub.sessionmaker, chosen, reparser(hub), hub.sink, blob_store(hub), actor_agent_id=actor_agent_id
    )
