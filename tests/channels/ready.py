"""A hub's connector for one account, once it says it receives (``Connector.ready``)."""

from __future__ import annotations

from channels.base import Connector
from hub.runtime import Hub
from tests.waiting import event_set, eventually


async def ready_connector(hub: Hub, name: str) -> Connector:
    """The running connector of account `name`, after its ``ready`` event is set."""
    account_id = hub.accounts[name].context.id

    def started() -> Connector | None:
        return hub.supervisor.connectors.get(account_id)

    connector = await eventually(started, f"the connector of {name} to start")
    assert connector is not None
    await event_set(connector.ready, f"the connector of {name} to receive")
    return connector
