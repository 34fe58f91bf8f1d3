"""An edited message shows when it was edited and its earlier text over the REST API and in the timeline."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.runtime import Hub
from inbox.edits import EditResult
from inbox.items import IdentityRef, InboundMessage, MessageEdit, Sender
from tests.hub.web.conftest import Client, Person, hand_in
from tests.hub.web.ui.test_pages import log_in

EDITED_AT = datetime(2025, 3, 5, 9, 30, tzinfo=UTC)


async def edit(hub: Hub, external_id: str, text: str) -> None:
    account = hub.accounts["shop"].context
    new = InboundMessage(
        account_id=account.id,
        external_id=external_id,
        sender=Sender((IdentityRef("email", "client@example.com"),), name="Ирина"),
        text=text,
    )
    result = await hub.sink(MessageEdit(new, EDITED_AT))
    assert isinstance(result, EditResult) and result.outcome == "updated"


async def test_the_conversation_shows_edited_at_and_the_earlier_text(
    client: Client, hub: Hub, sales: Person
) -> None:
    conv = (await hand_in(client, "s-1", text="Где мой закз?"))["conversation_id"]
    await edit(hub, "s-1", "Где мой заказ?")
    body = await (await client.get(f"/api/v1/conversations/{conv}", headers=sales.headers)).json()
    [message] = body["messages"]
    assert message["text"] == "Где мой заказ?"
    assert message["edited_at"] == EDITED_AT.isoformat()
    assert [v["text"] for v in message["previous_versions"]] == ["Где мой закз?"]
    assert message["previous_versions"][0]["replaced_at"] == EDITED_AT.isoformat()


async def test_a_message_never_edited_says_so(client: Client, sales: Person) -> None:
    conv = (await hand_in(client, "s-1"))["conversation_id"]
    body = await (await client.get(f"/api/v1/conversations/{conv}", headers=sales.headers)).json()
    assert body["messages"][0]["edited_at"] is None
    assert body["messages"][0]["previous_versions"] == []


async def test_the_timeline_marks_an_edit_and_keeps_the_earlier_text_escaped(
    client: Client, hub: Hub, sales: Person
) -> None:
    conv = (await hand_in(client, "s-1", text="<b>первый</b> вариант"))["conversation_id"]
    await edit(hub, "s-1", "второй вариант")
    await log_in(client, sales.email)
    html = await (await client.get(f"/inbox/parts/conversation/{conv}")).text()
    assert '<details class="edited">' in html and "изменено" in html
    assert "<li>&lt;b&gt;первый&lt;/b&gt; вариант</li>" in html
