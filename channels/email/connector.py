"""The e-mail connector: IMAP in (:mod:`channels.email.imap`), SMTP out (:mod:`channels.email.smtp`).

The account's configuration is read when the connector runs or sends, never in the constructor, so a bad
option is reported by the supervisor as the account's state instead of breaking its task.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from channels.base import (
    AccountContext,
    Capabilities,
    ChannelAuthError,
    ConnectionCheck,
    LinkHealth,
    Sink,
    register,
)
from channels.email.config import EmailConfigError, EmailSettings
from channels.email.imap import ImapError, ImapReceiver, ReceiverStats, check_imap
from channels.email.smtp import OutgoingFile, check_smtp, send_reply
from inbox.items import Delivery, DeliveryError, OutboundMessage


@register("email")
class EmailConnector:
    kind: ClassVar[str] = "email"
    capabilities: ClassVar[Capabilities] = Capabilities(attachments=True)  # bounded by the hub's 25 MB total

    def __init__(self, account: AccountContext) -> None:
        self.account = account
        self._settings: EmailSettings | None = None
        self._receiver: ImapReceiver | None = None
        self.ready = asyncio.Event()  # set while the receiver waits in IDLE or polls (see ImapReceiver)
        self.health = LinkHealth()  # the server unreachable or the connection lost, while it reconnects

    @property
    def settings(self) -> EmailSettings:
        """The account's settings; :class:`EmailConfigError` names a bad option."""
        if self._settings is None:
            self._settings = EmailSettings(self.account)
        return self._settings

    @property
    def stats(self) -> ReceiverStats | None:
        return self._receiver.stats if self._receiver else None

    @property
    def state(self) -> str:
        """The receive loop's state: starting, connecting, fetching, idle, polling, reconnecting, stopped."""
        return self._receiver.state if self._receiver else "starting"

    async def run(self, sink: Sink) -> None:
        receiver = ImapReceiver(self.settings, self.account.cursor, sink, self.ready, self.health)
        self._receiver = receiver
        try:
            await receiver.run()
        finally:
            await receiver.close()

    async def send(self, out: OutboundMessage) -> Delivery:
        try:
            settings = self.settings
        except EmailConfigError as exc:
            raise DeliveryError(str(exc)) from None
        files = [OutgoingFile(a.filename, a.content_type, a.content) for a in out.attachments]
        return await send_reply(settings, out, files)

    async def check_connection(self) -> ConnectionCheck:
        """IMAP login + SELECT of the folder, then SMTP EHLO (and AUTH when configured): both sides, each
        worded by what happened; ok only when both work."""
        try:
            settings = self.settings
        except EmailConfigError as exc:
            return ConnectionCheck(False, str(exc))
        found: list[str] = []
        ok = True
        try:
            found.append(await check_imap(settings))
        except (ChannelAuthError, EmailConfigError, ImapError) as exc:
            ok = False
            found.append(str(exc))
        try:
            found.append(await check_smtp(settings))
        except DeliveryError as exc:
            ok = False
            found.append(str(exc))
        return ConnectionCheck(ok, "; ".join(found))

    async def close(self) -> None:
        if self._receiver is not None:
            await self._receiver.close()
