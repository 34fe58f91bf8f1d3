"""The web-chat connector. Visitors' sockets are served by the hub's web app (hub/web/webchat_*.py),
which hands their messages to the sink, so `run` only waits.

`send` is where a reply leaves the outbox: the widget has no platform to hand it to, so "sent" means
"released to the visitor". The outbox commits that status and publishes ``message.delivery`` on the
event bus; whichever hub process holds the visitor's socket(s) sees it (Redis carries it between
processes) and pushes the reply, and a visitor who is away gets it from the history on their return.
When the widget confirms it showed the reply, the hub marks it "delivered".
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from channels.base import AccountContext, Capabilities, ConnectionCheck, Sink, register
from inbox.items import Delivery, DeliveryError, OutboundMessage


@register("webchat")
class WebchatConnector:
    kind: ClassVar[str] = "webchat"
    # Replies' files are shown in the widget, fetched with the visitor's token (hub/web/webchat/files.py).
    capabilities: ClassVar[Capabilities] = Capabilities(attachments=True, typing=True)
    single_holder: ClassVar[bool] = False  # visitors come to any process: runs in every one

    def __init__(self, account: AccountContext) -> None:
        self.account = account
        self.ready = asyncio.Event()

    async def run(self, sink: Sink) -> None:
        self.ready.set()  # nothing to connect to: visitors' messages arrive through the hub's web app
        try:
            await asyncio.Event().wait()
        finally:
            self.ready.clear()

    async def send(self, out: OutboundMessage) -> Delivery:
        if not any(ref.kind == "webchat" for ref in out.recipients):
            raise DeliveryError(
                "the client has no web-chat visitor id, so the widget cannot show this reply",
                permanent=True,
            )
        return Delivery(external_id=f"agent:{out.idempotency_key}", status="sent")

    async def check_connection(self) -> ConnectionCheck:
        """Nothing to connect to: visitors come to the hub."""
        where = f"/webchat/{self.account.name}/ws"
        return ConnectionCheck(
            True, f"nothing to connect to: visitors reach the hub through the widget ({where})"
        )

    async def close(self) -> None:
        return None
