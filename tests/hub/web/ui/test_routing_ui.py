"""Routing in the agent inbox: the availability switch in the header shows my status, a waiting dialog
shows its place in the queue and how long it has waited, and a team member gets a "take" button."""

from __future__ import annotations

from hub.runtime import Hub
from inbox.models import Conversation
from tests.hub.web.conftest import Client, Person, hand_in
from tests.hub.web.ui.test_pages import log_in
from tests.waiting import eventually


async def test_the_header_switch_shows_my_status_and_a_waiting_dialog_its_place_and_a_take_button(
    client: Client, hub: Hub, sales: Person
) -> None:
    await client.put("/api/v1/me/availability", json={"status": "busy"}, headers=sales.headers)
    first = await hand_in(client, "s-1", account="shop")
    await hand_in(client, "s-2", account="shop", email="oleg@example.com", name="Олег")

    async def queued() -> bool:
        async with hub.sessionmaker() as session:
            conv = await session.get_one(Conversation, first["conversation_id"])
            return conv.queued_at is not None

    await eventually(queued, "the router queued the dialog (nobody is online)")
    await log_in(client, sales.email)
    page = await (await client.get("/inbox?queue=all&lang=en")).text()
    assert '<option value="busy" selected>Busy</option>' in page
    listing = await (await client.get("/inbox/parts/list?queue=all&lang=en")).text()
    assert "In the queue: #1, waiting 0 min" in listing and "In the queue: #2" in listing
    head = await (await client.get(f"/inbox/parts/conversation/{first['conversation_id']}?lang=en")).text()
    assert 'data-action="take"' in head and "Take it" in head
