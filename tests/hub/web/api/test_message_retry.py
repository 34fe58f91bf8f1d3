"""POST /api/v1/messages/{id}/retry: a failed reply goes back to the outbox; anything else is a 409."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub.runtime import Hub
from inbox.models import AuditLog, Outbox
from tests.hub.web.conftest import Client, Person, error_of, hand_in
from tests.waiting import eventually

# The test "shop" account has no callback_url: the running worker fails its replies for good.
NO_CALLBACK = "account 'shop' has no callback_url: replies cannot be delivered"


async def failed_reply(client: Client, admin: Person) -> tuple[dict[str, Any], dict[str, Any]]:
    result = await hand_in(client, "m-1")
    response = await client.post(
        f"/api/v1/conversations/{result['conversation_id']}/replies",
        json={"text": "Заказ уже в пути"},
        headers=admin.headers,
    )
    assert response.status == 201, await response.text()
    reply: dict[str, Any] = await response.json()

    async def failed() -> dict[str, Any] | None:
        conv = await (
            await client.get(f"/api/v1/conversations/{result['conversation_id']}", headers=admin.headers)
        ).json()
        [message] = [m for m in conv["messages"] if m["id"] == reply["id"]]
        return message if message["delivery_status"] == "failed" else None

    return result, await eventually(failed, "the reply to fail")


async def test_a_failed_reply_is_queued_again_with_its_key_and_audited(
    client: Client, hub: Hub, admin: Person
) -> None:
    _, message = await failed_reply(client, admin)
    assert message["delivery_error"] == NO_CALLBACK
    async with hub.sessionmaker() as session:
        key = await session.scalar(select(Outbox.idempotency_key).where(Outbox.message_id == message["id"]))
    response = await client.post(f"/api/v1/messages/{message['id']}/retry", headers=admin.headers)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["id"], body["delivery_status"], body["delivery_error"]) == (message["id"], "queued", None)
    async with hub.sessionmaker() as session:
        [row] = (await session.scalars(select(Outbox).where(Outbox.message_id == message["id"]))).all()
        assert row.idempotency_key == key
        entry = await session.scalar(select(AuditLog).where(AuditLog.action == "message.retry"))
        assert entry is not None and (entry.entity_id, entry.actor_agent_id) == (message["id"], admin.id)


async def test_retrying_what_did_not_fail_is_a_409_and_an_unknown_message_a_404(
    client: Client, admin: Person
) -> None:
    result, _ = await failed_reply(client, admin)
    error = await error_of(
        await client.post(f"/api/v1/messages/{result['message_id']}/retry", headers=admin.headers), 409
    )
    assert error["code"] == "conflict" and "not a reply" in error["message"]
    error = await error_of(await client.post("/api/v1/messages/999999/retry", headers=admin.headers), 404)
    assert error["message"] == "message 999999 not found"
    error = await error_of(
        await client.post(
            f"/api/v1/messages/{result['message_id']}/retry", json={"all": True}, headers=admin.headers
        ),
        400,
    )
    assert error["field"] == "all"
