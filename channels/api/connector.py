"""The generic API channel's connector: inbound arrives through the hub's HTTP route, so `run` only
waits; `send` POSTs each reply to the account's callback URL."""

from __future__ import annotations

import asyncio
import base64
from typing import ClassVar
from urllib.parse import urlsplit

import aiohttp

from channels.base import AccountContext, Capabilities, ConnectionCheck, Sink, register
from inbox.items import Delivery, DeliveryError, OutboundMessage

TIMEOUT = aiohttp.ClientTimeout(total=30)


@register("api")
class ApiConnector:
    kind: ClassVar[str] = "api"
    capabilities: ClassVar[Capabilities] = Capabilities(attachments=True)  # files go inline, base64
    single_holder: ClassVar[bool] = False  # nothing pulled: runs in every process (see channels.base)

    def __init__(self, account: AccountContext) -> None:
        self.account = account
        self._session: aiohttp.ClientSession | None = None
        self.ready = asyncio.Event()

    async def run(self, sink: Sink) -> None:
        self.ready.set()  # nothing to connect to: inbound is pushed to the hub's HTTP route
        try:
            await asyncio.Event().wait()
        finally:
            self.ready.clear()

    async def check_connection(self) -> ConnectionCheck:
        """Nothing to connect to (the callback URL is not called: a POST there may do something)."""
        inbound = f"nothing to connect to: systems post to /api/v1/channels/{self.account.name}/messages"
        callback = self.account.options.get("callback_url")
        host = urlsplit(callback).hostname if isinstance(callback, str) else None
        # Only the host: a callback URL may carry a key in its path or query.
        replies = f"replies are posted to {host}" if host else "no callback_url: replies have nowhere to go"
        return ConnectionCheck(True, f"{inbound}; {replies} (not called by this test)")

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        return self._session

    async def send(self, out: OutboundMessage) -> Delivery:
        url = self.account.options.get("callback_url")
        if not url:
            raise DeliveryError(
                f"account {self.account.name!r} has no callback_url: replies cannot be delivered",
                permanent=True,
            )
        prefix = f"{self.account.name}:"
        recipient: dict[str, str] = {}
        for ref in out.recipients:
            if ref.kind == "external" and ref.value.startswith(prefix):
                recipient.setdefault("external_id", ref.value[len(prefix) :])
            elif ref.kind in ("email", "phone"):
                recipient.setdefault(ref.kind, ref.value)
        body = {
            "idempotency_key": out.idempotency_key,
            "message_id": out.message_id,
            "conversation_id": out.conversation_id,
            "in_reply_to": out.in_reply_to,
            "recipient": recipient,
            "text": out.text,
            "html": out.html,
            "agent_name": out.agent_name,
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "content_base64": base64.b64encode(a.content).decode("ascii"),
                }
                for a in out.attachments
            ],
        }
        headers = {"Idempotency-Key": out.idempotency_key}
        token = self.account.secrets.get("callback_token")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            async with self._client().post(str(url), json=body, headers=headers) as response:
                text = await response.text()
                if response.status == 429 or response.status >= 500:
                    retry = response.headers.get("Retry-After", "")
                    raise DeliveryError(
                        f"callback answered {response.status}: {text[:300]}",
                        retry_after=float(retry) if retry.isdigit() else None,
                    )
                if response.status >= 400:
                    raise DeliveryError(f"callback refused ({response.status}): {text[:300]}", permanent=True)
                external = None
                if response.content_type == "application/json":
                    data = await response.json()
                    if isinstance(data, dict) and data.get("id") is not None:
                        external = str(data["id"])
                return Delivery(external_id=external or f"out:{out.idempotency_key}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"callback unreachable: {exc.__class__.__name__}: {exc}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
