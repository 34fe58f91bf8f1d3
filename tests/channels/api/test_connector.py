"""The generic API channel delivering replies to a real local HTTP callback server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from channels.api import ApiConnector
from channels.base import AccountContext
from inbox.items import DeliveryError, IdentityRef, OutboundMessage


class Callback:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], dict[str, str]]] = []
        self.replies: list[web.Response] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((await request.json(), dict(request.headers)))
        if self.replies:
            return self.replies.pop(0)
        return web.json_response({"id": f"cb-{len(self.received)}"})


@pytest.fixture
async def callback() -> AsyncIterator[tuple[Callback, str]]:
    cb = Callback()
    app = web.Application()
    app.router.add_post("/replies", cb.handle)
    server = TestServer(app)
    await server.start_server()
    yield cb, str(server.make_url("/replies"))
    await server.close()


def outbound(**changes: Any) -> OutboundMessage:
    data: dict[str, Any] = {
        "outbox_id": 1,
        "message_id": 10,
        "account_id": 2,
        "conversation_id": 5,
        "idempotency_key": "okno-10-abc",
        "text": "Ваш заказ в пути",
        "html": None,
        "recipients": (IdentityRef("external", "shop:u-9"), IdentityRef("email", "olga@mail.ru")),
        "contact_name": "Ольга",
        "agent_name": "Анна",
        "in_reply_to": "order-17",
    }
    data.update(changes)
    return OutboundMessage(**data)


def connector(url: str | None, **secrets: str) -> ApiConnector:
    options = {"callback_url": url} if url else {}
    return ApiConnector(AccountContext(id=2, name="shop", kind="api", options=options, secrets=secrets))


async def test_reply_is_posted_with_the_idempotency_key(callback: tuple[Callback, str]) -> None:
    cb, url = callback
    conn = connector(url, callback_token="cb-secret")
    try:
        delivery = await conn.send(outbound())
    finally:
        await conn.close()
    assert delivery.external_id == "cb-1"
    body, headers = cb.received[0]
    assert body["recipient"] == {"external_id": "u-9", "email": "olga@mail.ru"}
    assert body["text"] == "Ваш заказ в пути" and body["in_reply_to"] == "order-17"
    assert headers["Idempotency-Key"] == "okno-10-abc"
    assert headers["Authorization"] == "Bearer cb-secret"


@pytest.mark.parametrize(
    ("response", "permanent", "retry_after"),
    [
        (web.Response(status=503, text="down"), False, None),
        (web.Response(status=429, headers={"Retry-After": "7"}), False, 7.0),
        (web.Response(status=400, text="unknown recipient"), True, None),
    ],
)
async def test_callback_errors_map_to_retry_or_failure(
    callback: tuple[Callback, str], response: web.Response, permanent: bool, retry_after: float | None
) -> None:
    cb, url = callback
    cb.replies.append(response)
    conn = connector(url)
    try:
        with pytest.raises(DeliveryError) as err:
            await conn.send(outbound())
    finally:
        await conn.close()
    assert err.value.permanent is permanent
    assert err.value.retry_after == retry_after


async def test_unreachable_callback_is_a_temporary_failure() -> None:
    conn = connector("http://127.0.0.1:9/replies")
    try:
        with pytest.raises(DeliveryError, match="unreachable") as err:
            await conn.send(outbound())
    finally:
        await conn.close()
    assert not err.value.permanent


async def test_missing_callback_url_fails_permanently_with_a_reason() -> None:
    with pytest.raises(DeliveryError, match="no callback_url") as err:
        await connector(None).send(outbound())
    assert err.value.permanent
