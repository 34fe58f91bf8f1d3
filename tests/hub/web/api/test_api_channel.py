"""The generic API channel's inbound route, and the list of channel accounts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.runtime import Hub
from inbox.ingest import IngestError
from inbox.models import Contact, Conversation, Message, QuarantineItem, Team
from tests.hub.web.conftest import TOKENS, Client, Person, error_of

URL = "/api/v1/channels/shop/messages"
GOOD = {"Authorization": f"Bearer {TOKENS['shop']}"}


def payload(external_id: str = "order-17-msg-1", **sender: Any) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "sender": sender or {"name": "Ирина", "email": "Irina@Example.com", "phone": "8 (913) 909-73-32"},
        "text": "Здравствуйте! Где мой заказ №17?",
        "sent_at": "2026-01-31T12:00:00Z",
    }


async def count(hub: Hub, model: type[Any]) -> int:
    async with hub.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_good_token_stores_the_message_in_the_accounts_team(client: Client, hub: Hub) -> None:
    response = await client.post(URL, json=payload(), headers=GOOD)
    assert response.status == 201
    result = await response.json()
    assert set(result) == {"contact_id", "conversation_id", "message_id", "duplicate"}
    assert result["duplicate"] is False
    async with hub.sessionmaker() as session:
        conv = await session.get_one(Conversation, result["conversation_id"])
        team = await session.get_one(Team, conv.team_id)
        message = await session.get_one(Message, result["message_id"])
    assert team.name == "Sales"
    assert conv.channel_kind == "api"
    assert message.body_text.startswith("Здравствуйте")


async def test_redelivery_is_a_duplicate_and_changes_nothing(client: Client, hub: Hub) -> None:
    first = await (await client.post(URL, json=payload(), headers=GOOD)).json()
    again = await client.post(URL, json=payload(), headers=GOOD)
    assert again.status == 200
    second = await again.json()
    assert second == {**first, "duplicate": True}
    assert await count(hub, Message) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKENS['depot']}"},  # another account's token
        {"Authorization": f"Basic {TOKENS['shop']}"},
        {"Authorization": TOKENS["shop"]},
    ],
    ids=["missing", "wrong", "other-account", "basic-scheme", "no-scheme"],
)
async def test_wrong_or_missing_token_is_401_and_nothing_is_parsed_or_stored(
    client: Client, hub: Hub, headers: dict[str, str]
) -> None:
    # the body is not even JSON: a 401 (not a 400) shows it was never read
    response = await client.post(
        URL, data=b"{not json", headers={**headers, "Content-Type": "application/json"}
    )
    assert (await error_of(response, 401))["code"] == "unauthorized"
    response = await client.post(URL, json=payload(), headers=headers)
    await error_of(response, 401)
    assert await count(hub, Message) == 0
    assert await count(hub, Contact) == 0


async def test_bad_email_is_422_naming_sender_email(client: Client, hub: Hub) -> None:
    """A string is what the schema asks for; that it is no address is the domain's refusal (422)."""
    response = await client.post(URL, json=payload(email="not-an-email"), headers=GOOD)
    error = await error_of(response, 422)
    assert error["field"] == "sender.email"
    assert error["code"] == "unprocessable"
    body = {"external_id": "x", "sender": {"phone": "12"}, "text": "hi"}
    assert (await error_of(await client.post(URL, json=body, headers=GOOD), 422))["field"] == "sender.phone"
    assert await count(hub, Message) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sender": {"email": "a@example.com"}, "text": "hi"}, "external_id"),
        ({"external_id": "x", "sender": {}, "text": "hi"}, "sender"),
        ({"external_id": "x", "sender": {"email": "a@example.com"}, "text": ""}, "text"),
        (
            {
                "external_id": "x",
                "sender": {"email": "a@example.com"},
                "text": "hi",
                "sent_at": "2026-01-01T10:00",
            },
            "sent_at",
        ),
        ({"external_id": "x", "sender": {"email": "a@example.com"}, "text": "hi", "extra": 1}, "extra"),
    ],
    ids=["no-external-id", "no-identity", "empty-text", "naive-time", "unknown-field"],
)
async def test_invalid_payloads_name_the_field(client: Client, body: dict[str, Any], field: str) -> None:
    error = await error_of(await client.post(URL, json=body, headers=GOOD), 400)
    assert error["field"] == field


async def test_unknown_account_is_404(client: Client) -> None:
    response = await client.post("/api/v1/channels/nowhere/messages", json=payload(), headers=GOOD)
    assert (await error_of(response, 404))["code"] == "not_found"


async def test_ingest_refusal_is_422_with_its_reason_and_the_body_is_kept_in_the_quarantine(
    client: Client, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(item: Any) -> Any:
        raise IngestError("cannot tell who sent it")

    monkeypatch.setattr(hub.ingest, "submit", refuse)
    error = await error_of(await client.post(URL, json=payload(), headers=GOOD), 422)
    assert error["message"] == "cannot tell who sent it"
    async with hub.sessionmaker() as session:
        (kept,) = list(await session.scalars(select(QuarantineItem)))
    assert (kept.reason, kept.position) == ("cannot tell who sent it", "message order-17-msg-1")
    assert kept.account_id == hub.accounts["shop"].context.id and kept.size == len(
        json.dumps(payload()).encode()
    )


async def test_channel_list_shows_state_and_never_a_secret(client: Client, sales: Person) -> None:
    response = await client.get("/api/v1/channels", headers=sales.headers)
    assert response.status == 200
    text = await response.text()
    assert TOKENS["shop"] not in text and TOKENS["depot"] not in text
    items = {i["name"]: i for i in (await response.json())["items"]}
    assert set(items) == {"shop", "depot"}
    assert items["shop"]["kind"] == "api"
    assert items["shop"]["state"] in ("running", "stopped", "retrying")
    assert items["shop"]["problem"] is None
