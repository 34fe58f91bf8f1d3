"""An IMAP outage is visible: the account shows `retrying` (with the reason) while Dovecot is down."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from hub.runtime import Hub
from inbox.models import ChannelAccount
from tests.channels.email.conftest import USERS
from tests.channels.email.servers import Dovecot
from tests.waiting import eventually


async def test_the_account_shows_retrying_while_the_imap_server_is_unreachable(
    dovecot: Dovecot, hub_factory: Any
) -> None:
    hub: Hub = await hub_factory(
        accounts={
            "support": {
                "kind": "email",
                "host": "127.0.0.1",
                "port": dovecot.port,
                "security": "plain",
                "login": "support",
                "password": USERS["support"],
                "reconnect_max_seconds": 0.2,
                "connect_attempts": 1000,  # the receiver keeps reconnecting by itself the whole outage
            }
        }
    )
    async with hub.sessionmaker() as session:
        account_id = await session.scalar(select(ChannelAccount.id).where(ChannelAccount.name == "support"))
    assert account_id is not None
    state = hub.supervisor.states[account_id]
    connector = await eventually(lambda: hub.supervisor.connectors.get(account_id), "the connector")
    await eventually(lambda: connector.ready.is_set() and state.state == "running", "receiving")

    await asyncio.to_thread(dovecot.stop)
    await eventually(
        lambda: (
            state.state == "retrying"
            and f"cannot connect to 127.0.0.1:{dovecot.port}" in (state.detail or "")
        ),
        "retrying shown while Dovecot is down",
    )
    assert state.restarts == 0  # the receive loop never failed: it is the link that is down

    async def shown_in_the_row() -> bool:
        async with hub.sessionmaker() as session:
            row = await session.get_one(ChannelAccount, account_id, populate_existing=True)
        return row.state == "retrying"

    await eventually(shown_in_the_row, "retrying written for the API and other processes")

    await asyncio.to_thread(dovecot.start)
    await eventually(lambda: state.state == "running" and state.detail is None, "running again")
    await eventually(connector.ready.is_set, "receiving again")
