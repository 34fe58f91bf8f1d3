"""An agent's changes to client cards: only cards within reach, and an event for those who may see them."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.agents import agent_with_teams, create_agent, viewer_of
from inbox.card_changes import (
    IdentityTaken,
    add_card_identity,
    card_summary,
    edit_card,
    merge_cards,
    remove_card_identity,
)
from inbox.contacts import ContactError, ContactNotFound, get_contact, history_through
from inbox.conversations import Viewer
from inbox.ingest import ingest
from inbox.models import AuditLog, ChannelAccount, Identity, Team
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


async def test_an_identity_another_card_holds_is_refused_naming_the_card_only_within_reach(
    session: AsyncSession,
) -> None:
    anna, cards = await world(session)
    with pytest.raises(IdentityTaken) as taken:
        await add_card_identity(session, anna, cards["irina"], "email", " OLGA@mail.ru ", region="RU")
    assert (taken.value.other_id, taken.value.field) == (cards["olga"], "value")
    with pytest.raises(IdentityTaken) as hidden:
        await add_card_identity(session, anna, cards["irina"], "email", "max@mail.ru", region="RU")
    assert hidden.value.other_id is None and f"#{cards['max']}" not in str(hidden.value)
    card = await get_contact(session, cards["irina"])
    assert [i.value for i in card.identities] == ["irina@mail.ru"]


async def test_removal_keeps_the_last_identity_and_one_history_came_through(session: AsyncSession) -> None:
    anna, cards = await world(session)
    card, _ = await add_card_identity(session, anna, cards["irina"], "phone", "8 916 123-45-67", region="RU")
    await session.commit()
    by_value = {i.value: i.id for i in card.identities}
    with pytest.raises(ContactError, match="1 message") as refused:
        await remove_card_identity(session, anna, cards["irina"], by_value["irina@mail.ru"])
    assert refused.value.field == "identity_id"
    with pytest.raises(ContactNotFound):  # Wholesale's client
        await remove_card_identity(session, anna, cards["max"], by_value["+79161234567"])

    card, [event] = await remove_card_identity(session, anna, cards["irina"], by_value["+79161234567"])
    await session.commit()
    assert [i.value for i in card.identities] == ["irina@mail.ru"]
    assert event.data == {"contact_id": card.id, "changed": ["identities"]}
    audit = await session.scalar(select(AuditLog).where(AuditLog.action == "identity.remove"))
    assert audit is not None and audit.detail["value"] == "+79161234567"
    with pytest.raises(ContactError, match="last identity"):
        await remove_card_identity(session, anna, cards["irina"], by_value["irina@mail.ru"])


async def test_an_identity_added_by_an_agent_counts_only_the_messages_after_it(session: AsyncSession) -> None:
    anna, cards = await world(session)
    card, _ = await add_card_identity(
        session, anna, cards["irina"], "email", "irina.typo@mail.ru", region="RU"
    )
    await session.commit()
    [typo] = [i for i in card.identities if i.value == "irina.typo@mail.ru"]
    assert await history_through(session, card, typo) == 0  # the card's e-mail history predates it
    account = await session.scalar(select(ChannelAccount).where(ChannelAccount.name == "shop"))
    assert account is not None
    await ingest(session, message(account.id, "later", ("email", "irina.typo@mail.ru")))
    await session.commit()
    card = await get_contact(session, cards["irina"])
    [typo] = [i for i in card.identities if i.value == "irina.typo@mail.ru"]
    assert await history_through(session, card, typo) == 1


async def test_a_typed_identity_has_no_history_of_its_own(session: AsyncSession) -> None:
    anna, cards = await world(session)
    card = await get_contact(session, cards["irina"])
    session.add(Identity(contact_id=card.id, kind="phone", value="+79161234567", trust="typed"))
    await session.commit()
    await session.refresh(card, ["identities"])
    [typed] = [i for i in card.identities if i.trust == "typed"]
    card, _ = await remove_card_identity(session, anna, card.id, typed.id)
    assert [i.value for i in card.identities] == ["irina@mail.ru"]


async def test_a_deactivated_agent_cannot_become_the_owner(session: AsyncSession) -> None:
    anna, cards = await world(session)
    gone = await create_agent(
        session, email="gone@okno.ru", name="Ушёл", password="long-password", password_hash=HASH
    )
    gone.is_active = False
    await session.commit()
    with pytest.raises(ContactError, match="deactivated") as refused:
        await edit_card(session, anna, cards["irina"], {"owner_id": gone.id})
    assert refused.value.field == "owner_id"


async def test_the_merge_box_sums_up_a_card_with_the_conversations_the_viewer_may_see(
    session: AsyncSession,
) -> None:
    anna, cards = await world(session)
    summary = await card_summary(session, anna, cards["olga"])
    assert (summary.id, summary.identities, summary.conversations) == (
        cards["olga"],
        (("email", "olga@mail.ru"),),
        1,
    )
    with pytest.raises(ContactNotFound):
        await card_summary(session, anna, cards["max"])
