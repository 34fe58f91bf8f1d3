"""An agent's changes to client cards: only cards within reach, and an event for those who may see them."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.agents import agent_with_teams, create_agent, viewer_of
from inbox.card_changes import add_card_identity, edit_card, merge_cards
from inbox.contacts import ContactError, ContactNotFound
from inbox.conversations import Viewer
from inbox.ingest import ingest
from inbox.models import ChannelAccount, Team
from tests.inbox.helpers import message

HASH = "not-a-real-hash"  # these agents never log in: no argon2 in the tests


async def world(session: AsyncSession) -> tuple[Viewer, dict[str, int]]:
    """A Sales agent; two clients of Sales (shop) and one of Wholesale (depot). Returns the viewer, cards."""
    cards: dict[str, int] = {}
    for team_name, account_name, clients in (
        ("Sales", "shop", ("irina", "olga")),
        ("Wholesale", "depot", ("max",)),
    ):
        team = Team(name=team_name)
        session.add(team)
        await session.flush()
        account = ChannelAccount(name=account_name, kind="api", team_id=team.id)
        session.add(account)
        await session.flush()
        for who in clients:
            result = await ingest(session, message(account.id, who, ("email", f"{who}@mail.ru")))
            cards[who] = result.contact_id
    agent = await create_agent(
        session,
        email="anna@okno.ru",
        name="Анна",
        password="long-password",
        password_hash=HASH,
        team_names=["Sales"],
    )
    await session.commit()
    loaded = await agent_with_teams(session, agent.id)
    assert loaded is not None
    return viewer_of(loaded), cards


async def test_edit_trims_tags_and_tells_those_who_see_the_card(session: AsyncSession) -> None:
    anna, cards = await world(session)
    card, [event] = await edit_card(
        session, anna, cards["irina"], {"tags": [" vip", "vip ", "опт"], "company": "ООО"}
    )
    assert (card.tags, card.company) == (["vip", "опт"], "ООО")
    assert (event.type, event.data) == (
        "contact.updated",
        {"contact_id": card.id, "changed": ["company", "tags"]},
    )
    assert event.audiences  # the card's queue, so the socket filter lets Sales through


async def test_edit_refuses_an_unknown_owner_and_a_card_out_of_reach(session: AsyncSession) -> None:
    anna, cards = await world(session)
    with pytest.raises(ContactError) as refused:
        await edit_card(session, anna, cards["irina"], {"owner_id": 999})
    assert refused.value.field == "owner_id"
    with pytest.raises(ContactNotFound):
        await edit_card(session, anna, cards["max"], {"company": "x"})
    with pytest.raises(ContactNotFound):
        await add_card_identity(session, anna, cards["max"], "phone", "+79161234567", region="RU")


async def test_identity_added_to_a_card_is_announced(session: AsyncSession) -> None:
    anna, cards = await world(session)
    card, [event] = await add_card_identity(
        session, anna, cards["irina"], "phone", "8 916 123-45-67", region="RU"
    )
    assert ("phone", "+79161234567") in {(i.kind, i.value) for i in card.identities}
    assert event.data == {"contact_id": card.id, "changed": ["identities"]}


async def test_merge_takes_only_a_live_card_within_reach_named_by_merge_id(session: AsyncSession) -> None:
    anna, cards = await world(session)
    with pytest.raises(ContactError) as refused:
        await merge_cards(session, anna, cards["irina"], cards["max"])  # Wholesale's client
    assert refused.value.field == "merge_id"
    card, [event] = await merge_cards(session, anna, cards["irina"], cards["olga"])
    await session.commit()
    assert event.type == "contact.merged" and event.data == {
        "contact_id": card.id,
        "merged_id": cards["olga"],
    }
    with pytest.raises(ContactError) as refused:
        await merge_cards(session, anna, cards["irina"], cards["olga"])  # already merged
    assert refused.value.field == "merge_id"
