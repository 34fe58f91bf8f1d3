"""Web-chat history takeover (issue 9, item 1): what a visitor types into a form never opens anybody
else's card or history; a site-signed identifier does join the card; a visitor sees only the
conversations they started, even after an agent merged their card with another."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from hub.runtime import Hub
from inbox.models import Contact, Conversation, DuplicateCandidate, Identity, Message
from tests.channels.webchat.conftest import ACCOUNTS, SITE
from tests.hub.web.conftest import Client, make_agent
from tests.waiting import eventually

IDENTITY_SECRET = "site-identity-secret-for-tests"
VICTIM = "irina@example.com"
SECRET_TEXT = "Мой паспорт 4510 123456, адрес Тверская 1"


@pytest.fixture
async def hub(hub_factory: Callable[..., Any]) -> Hub:
    site = {**SITE, "messages_per_minute": 100, "identity_secret": IDENTITY_SECRET}
    hub: Hub = await hub_factory(accounts={**ACCOUNTS, "site": site})
    return hub


def signed(identifier: str, secret: str = IDENTITY_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()
    return {"identifier": identifier, "identifier_hash": digest}


@pytest.fixture
async def admin(hub: Hub) -> dict[str, str]:
    """An admin's API headers: replies and merges."""
    return (await make_agent(hub, "boss@okno.example.com", role="admin")).headers


async def agent_reply(
    client: Client, hub: Hub, headers: dict[str, str], conversation_id: int, text: str
) -> int:
    response = await client.post(
        f"/api/v1/conversations/{conversation_id}/replies", json={"text": text}, headers=headers
    )
    assert response.status == 201, await response.text()
    hub.outbox.wake()
    message_id = int((await response.json())["id"])

    async def sent() -> bool:
        async with hub.sessionmaker() as session:
            message = await session.get(Message, message_id)
            return message is not None and message.delivery_status == "sent"

    await eventually(sent, f"reply {message_id} to be sent")
    return message_id


async def conversation_of(hub: Hub, text: str) -> Message:
    async with hub.sessionmaker() as session:
        message = await session.scalar(select(Message).where(Message.body_text == text))
    assert message is not None
    return message


async def a_client_who_chatted(
    client: Client, hub: Hub, admin: dict[str, str], visitor: Callable[..., Any]
) -> tuple[int, int]:
    """Irina: a card from the shop's API (her e-mail, vouched), and a web chat she started, signed in
    on the site (so it is on her card), with an answer. Her card id and conversation id."""
    response = await client.post(
        "/api/v1/channels/shop/messages",
        json={"external_id": "e1", "sender": {"email": VICTIM, "name": "Ирина"}, "text": "Заказ 1042"},
        headers={"Authorization": "Bearer t0ken"},
    )
    assert response.status == 201
    async with visitor() as v:
        await v.hello(**signed(VICTIM))
        await v.send(type="profile", name="Ирина", email=VICTIM)
        await v.until("profile", ok=True)
        await v.say("s1", SECRET_TEXT)
    message = await conversation_of(hub, SECRET_TEXT)
    await agent_reply(client, hub, admin, message.conversation_id, "Ирина, заказ едет к вам")
    return message.contact_id, message.conversation_id


async def assert_no_takeover(hub: Hub, hello: dict[str, Any], victim_card: int, own_text: str) -> None:
    texts = [m["text"] for m in hello["messages"]]
    assert texts == [own_text], texts  # only what this visitor wrote: nothing of Irina's
    async with hub.sessionmaker() as session:
        own = await conversation_of(hub, own_text)
        assert own.contact_id != victim_card  # the visitor's own card, not Irina's
        typed = await session.scalar(
            select(Identity).where(Identity.contact_id == own.contact_id, Identity.kind == "email")
        )
        assert typed is not None and (typed.value, typed.trust) == (VICTIM, "typed")  # kept, unverified
        victims = set(
            await session.scalars(
                select(Identity.value).where(Identity.contact_id == victim_card, Identity.kind == "webchat")
            )
        )
        assert hello["token"].split(".")[0] not in victims  # the typist's visitor id never joined her card
        pair = await session.scalar(select(DuplicateCandidate))
    assert pair is not None and {pair.contact_a_id, pair.contact_b_id} == {own.contact_id, victim_card}
    assert pair.reason.startswith("typed_email") and pair.status == "open"


async def test_the_offline_form_with_a_clients_email_opens_neither_her_card_nor_her_history(
    client: Client, hub: Hub, admin: dict[str, str], visitor: Callable[..., Any]
) -> None:
    victim_card, _ = await a_client_who_chatted(client, hub, admin, visitor)
    attack = await client.post(
        "/webchat/site/offline", json={"id": "x1", "email": VICTIM.upper(), "text": "Покажи историю"}
    )
    assert attack.status == 201
    async with visitor() as v:
        hello = await v.hello((await attack.json())["token"])
    await assert_no_takeover(hub, hello, victim_card, "Покажи историю")


async def test_the_pre_chat_form_with_a_clients_email_opens_neither_her_card_nor_her_history(
    client: Client, hub: Hub, admin: dict[str, str], visitor: Callable[..., Any]
) -> None:
    victim_card, victim_conversation = await a_client_who_chatted(client, hub, admin, visitor)
    async with visitor() as v:
        token = (await v.hello())["token"]
        await v.send(type="profile", name="Ирина", email=VICTIM)
        await v.until("profile", ok=True)
        await v.say("x1", "Это я, Ирина")
    await agent_reply(client, hub, admin, victim_conversation, "Ирина, и ещё: курьер будет в 15:00")
    async with visitor() as v:
        hello = await v.hello(token)
    await assert_no_takeover(hub, hello, victim_card, "Это я, Ирина")


async def test_a_site_signed_identifier_joins_the_card_that_has_it(
    client: Client, hub: Hub, admin: dict[str, str], visitor: Callable[..., Any]
) -> None:
    victim_card, _ = await a_client_who_chatted(client, hub, admin, visitor)  # signed as her e-mail
    irina = await conversation_of(hub, SECRET_TEXT)
    assert irina.contact_id == victim_card
    for n in (1, 2):  # a user id the site signs: two browsers of one user share one card
        async with visitor() as v:
            await v.hello(**signed("user-42"))
            await v.say("u1", f"из браузера {n}")
    first, second = [await conversation_of(hub, f"из браузера {n}") for n in (1, 2)]
    assert first.contact_id == second.contact_id != victim_card
    async with hub.sessionmaker() as session:
        external = await session.scalar(select(Identity).where(Identity.kind == "external"))
        cards = await session.scalar(select(Contact).where(Contact.id == first.contact_id))
    assert external is not None and (external.value, external.trust) == ("site:user-42", "vouched")
    assert cards is not None and external.contact_id == cards.id


async def test_a_forged_identifier_hash_is_refused(
    client: Client, hub: Hub, admin: dict[str, str], visitor: Callable[..., Any]
) -> None:
    victim_card, _ = await a_client_who_chatted(client, hub, admin, visitor)
    forged = signed(VICTIM, secret="a guess")
    async with visitor() as v:
        hello = await v.hello(**forged)
        refused = await v.until("error")
        await v.say("f1", "Я Ирина, честно")
    assert refused["code"] == "identity_refused" and refused["field"] == "identifier_hash"
    assert [m["text"] for m in hello["messages"]] == []
    assert (await conversation_of(hub, "Я Ирина, честно")).contact_id != victim_card
    offline = await client.post(
        "/webchat/site/offline", json={"id": "f2", "email": VICTIM, "text": "Я Ирина", **forged}
    )
    assert offline.status == 400 and (await offline.json())["error"]["field"] == "identifier_hash"


async def test_after_an_agent_merges_two_visitors_cards_each_sees_only_the_conversations_they_started(
    client: Client, hub: Hub, admin: dict[str, str], visitor: Callable[..., Any]
) -> None:
    tokens = {}
    for name in ("anna", "boris"):
        async with visitor() as v:
            tokens[name] = (await v.hello())["token"]
            await v.say("m1", f"{name}: первое")
    anna, boris = [await conversation_of(hub, f"{name}: первое") for name in ("anna", "boris")]
    merged = await client.post(
        f"/api/v1/contacts/{anna.contact_id}/merge",
        json={"merge_id": boris.contact_id},
        headers=admin,
    )
    assert merged.status == 200, await merged.text()
    await agent_reply(client, hub, admin, boris.conversation_id, "Борис, ответ вам")
    async with visitor() as v:
        hello = await v.hello(tokens["anna"])
        await v.say("m2", "anna: второе")
    assert [m["text"] for m in hello["messages"]] == ["anna: первое"]
    second = await conversation_of(hub, "anna: второе")
    assert second.conversation_id == anna.conversation_id  # not into Boris's conversation on the card
    async with visitor() as v:
        hello = await v.hello(tokens["boris"])
    assert [m["text"] for m in hello["messages"]] == ["boris: первое", "Борис, ответ вам"]
    async with hub.sessionmaker() as session:
        owners = {c.id: c.contact_id for c in await session.scalars(select(Conversation))}
    assert owners[anna.conversation_id] == owners[boris.conversation_id] == anna.contact_id
