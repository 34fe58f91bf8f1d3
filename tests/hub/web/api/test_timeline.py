"""GET /api/v1/contacts/{id}/timeline: a client's messages, notes and calls across channels, oldest first,
only from the conversations the caller may see; the answers conform to the OpenAPI document."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.runtime import Hub
from inbox.models import Call
from tests.hub.web.api.test_openapi import Checked
from tests.hub.web.conftest import Client, Person, hand_in, make_agent


async def test_the_timeline_merges_channels_notes_and_calls_in_order(
    client: Client, hub: Hub, admin: Person
) -> None:
    shop = await hand_in(client, "s-1", account="shop", email="irina@example.com", text="Где заказ?")
    depot = await hand_in(client, "d-1", account="depot", email="irina@example.com", text="Нужен опт")
    assert shop["contact_id"] == depot["contact_id"]
    contact = shop["contact_id"]
    conv = shop["conversation_id"]
    note = await client.post(
        f"/api/v1/conversations/{conv}/notes", json={"text": "VIP"}, headers=admin.headers
    )
    assert note.status == 201
    async with hub.sessionmaker() as session:
        session.add(
            Call(
                account_id=hub.accounts["shop"].context.id,
                call_id="call-1",
                contact_id=contact,
                direction="inbound",
                from_number="+79161234567",
                started_at=datetime(2020, 1, 1, tzinfo=UTC),
                disposition="missed",
            )
        )
        await session.commit()
    body = await Checked(client)(
        "GET", f"/api/v1/contacts/{contact}/timeline", headers=admin.headers, status=200
    )
    kinds = [(i["type"], i.get("message", {}).get("text")) for i in body["items"]]
    assert kinds == [("call", None), ("message", "Где заказ?"), ("message", "Нужен опт"), ("message", "VIP")]
    assert body["items"][1]["conversation"]["id"] == conv
    assert body["items"][3]["message"]["direction"] == "note"
    assert body["items"][0]["call"]["disposition"] == "missed" and body["items"][0]["conversation"] is None


async def test_the_timeline_leaves_out_conversations_the_caller_cannot_see(
    client: Client, hub: Hub, admin: Person
) -> None:
    sales = await make_agent(hub, "anna@okno.example.com", teams=("Sales",))
    shop = await hand_in(client, "s-1", account="shop", email="irina@example.com", text="Где заказ?")
    await hand_in(client, "d-1", account="depot", email="irina@example.com", text="секрет оптовиков")
    body = await Checked(client)(
        "GET", f"/api/v1/contacts/{shop['contact_id']}/timeline?limit=10", headers=sales.headers, status=200
    )
    assert [i["message"]["text"] for i in body["items"]] == ["Где заказ?"]
    await Checked(client)("GET", "/api/v1/contacts/999/timeline", headers=sales.headers, status=404)
    await Checked(client)(
        "GET",
        f"/api/v1/contacts/{shop['contact_id']}/timeline?limit=0",
        headers=sales.headers,
        status=400,
        request_valid=False,
    )
