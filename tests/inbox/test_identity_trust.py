"""Identity trust in the one matcher: a typed identity (written into a form) never chooses a card,
never joins another card, and never makes anybody's vouched identity resolve to the typist's card."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.contacts import list_duplicates, merge_contacts
from inbox.ingest import ingest
from inbox.items import IdentityRef, InboundMessage, Sender
from inbox.models import ChannelAccount, Conversation, Identity

VISITOR = "V" * 24


def sent(account: ChannelAccount, external_id: str, *refs: IdentityRef) -> InboundMessage:
    return InboundMessage(account_id=account.id, external_id=external_id, sender=Sender(refs), text="hi")


async def identities(session: AsyncSession, contact_id: int) -> set[tuple[str, str, str]]:
    rows = await session.scalars(select(Identity).where(Identity.contact_id == contact_id))
    return {(i.kind, i.value, i.trust) for i in rows}


async def webchat(session: AsyncSession) -> ChannelAccount:
    account = ChannelAccount(name="site", kind="webchat")
    session.add(account)
    await session.commit()
    return account


async def test_a_typed_email_stays_on_the_typists_card_and_lists_the_owner_as_a_duplicate(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    site = await webchat(session)
    owner = await ingest(session, sent(api_account, "a1", IdentityRef("email", "ivan@mail.ru")))
    typist = await ingest(
        session,
        sent(site, "v:1", IdentityRef("webchat", VISITOR), IdentityRef("email", "Ivan@Mail.ru", "typed")),
    )
    assert typist.contact_id != owner.contact_id
    assert await identities(session, typist.contact_id) == {
        ("webchat", VISITOR, "vouched"),
        ("email", "ivan@mail.ru", "typed"),
    }
    assert await identities(session, owner.contact_id) == {("email", "ivan@mail.ru", "vouched")}
    [pair] = await list_duplicates(session)
    assert {pair.a.id, pair.b.id} == {owner.contact_id, typist.contact_id}
    assert pair.reason.startswith("typed_email")


async def test_a_typed_email_never_makes_the_real_owners_mail_resolve_to_the_typists_card(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    site = await webchat(session)
    typist = await ingest(
        session,
        sent(site, "v:1", IdentityRef("webchat", VISITOR), IdentityRef("email", "olga@mail.ru", "typed")),
    )
    owner = await ingest(session, sent(api_account, "a1", IdentityRef("email", "olga@mail.ru")))
    again = await ingest(session, sent(api_account, "a2", IdentityRef("email", "olga@mail.ru")))
    assert owner.contact_id != typist.contact_id and again.contact_id == owner.contact_id
    assert owner.conversation_id != typist.conversation_id
    [pair] = await list_duplicates(session)
    assert {pair.a.id, pair.b.id} == {owner.contact_id, typist.contact_id}


async def test_a_known_visitor_keeps_typing_on_their_own_card_and_a_vouched_value_upgrades_it(
    session: AsyncSession,
) -> None:
    site = await webchat(session)
    visitor = IdentityRef("webchat", VISITOR)
    first = await ingest(session, sent(site, "v:1", visitor, IdentityRef("phone", "+79139097332", "typed")))
    second = await ingest(session, sent(site, "v:2", visitor, IdentityRef("phone", "+79139097332", "typed")))
    assert second.contact_id == first.contact_id and second.conversation_id == first.conversation_id
    signed = await ingest(session, sent(site, "v:3", visitor, IdentityRef("phone", "+79139097332")))
    assert signed.contact_id == first.contact_id
    assert ("phone", "+79139097332", "vouched") in await identities(session, first.contact_id)


async def test_a_visitors_messages_thread_only_into_conversations_that_visitor_started(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    site = await webchat(session)
    one = await ingest(session, sent(site, "a:1", IdentityRef("webchat", "A" * 24)))
    two = await ingest(session, sent(site, "b:1", IdentityRef("webchat", "B" * 24)))
    await merge_contacts(session, one.contact_id, two.contact_id, None)
    await session.commit()
    later = await ingest(session, sent(site, "a:2", IdentityRef("webchat", "A" * 24)))
    assert later.conversation_id == one.conversation_id
    conv = await session.get(Conversation, two.conversation_id)
    assert conv is not None and conv.visitor_id == "B" * 24 and conv.contact_id == one.contact_id
