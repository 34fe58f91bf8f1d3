"""Client cards: search, identities, duplicate candidates and merge."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.agents import create_agent
from inbox.contacts import (
    ContactError,
    ContactNotFound,
    add_identity,
    dismiss_duplicate,
    get_contact,
    list_duplicates,
    merge_contacts,
    search_contacts,
    update_contact,
)
from inbox.conversations import Viewer
from inbox.ingest import ingest
from inbox.models import AuditLog, Call, ChannelAccount, Contact, Conversation, Identity, Message, Task, Team
from inbox.search import card_matches, parse_query
from inbox.visibility import visible_contacts
from tests.inbox.helpers import message


async def two_cards(session: AsyncSession, account: ChannelAccount) -> tuple[int, int]:
    a = await ingest(session, message(account.id, "1", ("email", "ivan@mail.ru"), name="Иван"))
    b = await ingest(session, message(account.id, "2", ("phone", "+79139097332"), name=None))
    return a.contact_id, b.contact_id


async def test_merge_moves_everything_and_leaves_an_audit_entry(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    agent = await create_agent(
        session, email="boss@okno.test.ru", name="Boss", password="secret-pass", role="admin"
    )
    survivor_id, merged_id = await two_cards(session, api_account)
    merged = await session.get_one(Contact, merged_id)
    merged.company = "ООО Ромашка"
    merged.tags = ["vip"]
    survivor = await session.get_one(Contact, survivor_id)
    survivor.tags = ["new"]
    call = Call(account_id=api_account.id, call_id="c1", contact_id=merged_id, direction="inbound")
    session.add(call)
    await session.flush()
    session.add(Task(title="Перезвонить", kind="callback", contact_id=merged_id, call_id=call.id))
    await session.commit()

    result = await merge_contacts(session, survivor_id, merged_id, agent.id)
    await session.commit()

    assert result.id == survivor_id
    assert {(i.kind, i.value) for i in result.identities} == {
        ("email", "ivan@mail.ru"),
        ("phone", "+79139097332"),
    }
    assert result.name == "Иван"  # the survivor's own data wins
    assert result.company == "ООО Ромашка"  # the merged card's data fills the gaps
    assert result.tags == ["new", "vip"]
    for model in (Conversation, Message, Call, Task):
        owners = set(await session.scalars(select(model.contact_id)))  # type: ignore[attr-defined]
        assert owners == {survivor_id}, model.__name__
    gone = await session.get_one(Contact, merged_id)
    assert gone.merged_into_id == survivor_id and gone.merged_at is not None
    assert (await get_contact(session, merged_id)).id == survivor_id  # old links lead to the survivor
    audit = await session.scalar(select(AuditLog).where(AuditLog.action == "contact.merge"))
    assert audit is not None
    assert audit.actor_agent_id == agent.id and audit.entity_id == survivor_id
    assert audit.detail["merged_contact_id"] == merged_id
    assert audit.detail["moved"]["conversations"] == 1 and audit.detail["moved"]["calls"] == 1
    assert "company" in audit.detail["kept_from_merged"]


async def test_new_mail_from_a_merged_identity_lands_on_the_survivor(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    survivor_id, merged_id = await two_cards(session, api_account)
    await merge_contacts(session, survivor_id, merged_id, None)
    await session.commit()
    again = await ingest(session, message(api_account.id, "3", ("phone", "8 913 909 73 32")))
    assert again.contact_id == survivor_id


async def test_shared_identity_added_by_an_agent_lists_a_duplicate(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    a_id, b_id = await two_cards(session, api_account)
    contact = await get_contact(session, a_id)
    await add_identity(session, contact, "phone", "8 (913) 909-73-32", region="RU", actor_id=None)
    await session.commit()
    pairs = await list_duplicates(session)
    assert [(p.a.id, p.b.id) for p in pairs] == [(a_id, b_id)]
    assert "+79139097332" in pairs[0].reason
    await dismiss_duplicate(session, pairs[0].id, None)
    await session.commit()
    assert await list_duplicates(session) == []


async def test_merge_refuses_nonsense(session: AsyncSession, api_account: ChannelAccount) -> None:
    a_id, b_id = await two_cards(session, api_account)
    with pytest.raises(ContactError):
        await merge_contacts(session, a_id, a_id, None)
    with pytest.raises(ContactNotFound):
        await merge_contacts(session, a_id, 999, None)
    await merge_contacts(session, a_id, b_id, None)
    with pytest.raises(ContactNotFound, match="already merged"):
        await merge_contacts(session, a_id, b_id, None)


async def test_search_finds_by_name_and_identity(session: AsyncSession, api_account: ChannelAccount) -> None:
    a_id, b_id = await two_cards(session, api_account)
    assert [c.id for c in await search_contacts(session, "иван")] == [a_id]
    assert [c.id for c in await search_contacts(session, "9097332")] == [b_id]
    assert len(await search_contacts(session)) == 2


async def test_update_refuses_unknown_fields(session: AsyncSession, api_account: ChannelAccount) -> None:
    a_id, _ = await two_cards(session, api_account)
    contact = await get_contact(session, a_id)
    with pytest.raises(ContactError) as err:
        await update_contact(session, contact, {"password": "x"}, None)
    assert err.value.field == "password"
    await update_contact(session, contact, {"kind": "client", "company": "ИП Петров"}, None)
    assert (contact.kind, contact.company) == ("client", "ИП Петров")
    assert await session.scalar(select(Identity.value).where(Identity.contact_id == a_id)) == "ivan@mail.ru"


async def test_search_treats_like_wildcards_as_text(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    await two_cards(session, api_account)
    assert await search_contacts(session, "%") == []
    assert await search_contacts(session, "_") == []


async def test_search_reads_the_full_text_index_and_identity_values_by_their_beginning(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    a_id, b_id = await two_cards(session, api_account)
    c = await ingest(
        session, message(api_account.id, "3", ("email", "olga@example.com"), name="Ольга Смирнова")
    )
    d = await ingest(session, message(api_account.id, "4", ("webchat", "VisitorAbc"), name="Anna Smith"))
    await session.commit()

    async def found(q: str) -> list[int]:
        return [card.id for card in await search_contacts(session, q)]

    assert await found("смирн") == [c.contact_id]  # a surname by its beginning, any case
    assert await found("smi") == [d.contact_id]
    assert await found("ирнова") == []  # a word's middle is not searched
    assert await found("9097") == [b_id]  # four digits of a phone
    assert await found("8 (913) 909-73-32") == [b_id]  # a whole phone in any format
    assert await found("ivan@") == [a_id]  # an e-mail address by its beginning
    assert await found("Ivan@mail.ru") == [a_id]
    assert await found("VisitorA") == [d.contact_id]  # a value as typed
    assert await found("example.com") == []  # the middle of an address is not searched either


async def test_search_of_a_name_pages_newest_first_across_the_newest_cards_and_the_older_ones(
    session: AsyncSession, api_account: ChannelAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL reads a name's hits among the newest cards one by one, then the older ones from the index
    (inbox.contacts.NEWEST_CARDS): with a window of 3 cards, every page is still the hits newest first, the
    same as the whole list read at once; a phone's digits and a word no card holds too."""
    monkeypatch.setattr("inbox.contacts.NEWEST_CARDS", 3)
    names = ["Ольга Смирнова", "Anna Smith", "Иван Смирнов", "Ольга Смирнова", "Пётр Иванов"] * 2
    ids = []
    for n, name in enumerate(names):
        phone = ("phone", f"+7913909{n:04d}")
        ids.append((await ingest(session, message(api_account.id, str(n), phone, name=name))).contact_id)
    await session.commit()
    smirnov = sorted((i for i, name in zip(ids, names, strict=True) if "Смирн" in name), reverse=True)
    assert len(smirnov) == 6

    async def found(q: str, limit: int = 50, offset: int = 0) -> list[int]:
        return [card.id for card in await search_contacts(session, q, limit=limit, offset=offset)]

    assert await found("смирн") == smirnov
    for limit in (1, 2, 4):
        for offset in range(0, 7):
            assert await found("смирн", limit, offset) == smirnov[offset : offset + limit], (limit, offset)
    assert await found("смирн ольга") == [i for i in smirnov if names[ids.index(i)].startswith("Ольга")]
    assert await found("smith", 1, 1) == [ids[1]]
    assert await found("0009") == [ids[9]]
    assert await found("ёжиков") == []


async def test_agent_search_of_a_name_pages_newest_first_across_the_window_and_the_older_cards(
    session: AsyncSession, api_account: ChannelAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent's search on PostgreSQL asks about the newest ids first, then the older ones
    (inbox.contacts.VISIBLE_WINDOW): with a window of 3 ids, every page is still the visible hits newest
    first, the same as the whole list read at once; the cards of another agent's conversations stay out."""
    monkeypatch.setattr("inbox.contacts.VISIBLE_WINDOW", 3)
    me = await create_agent(session, email="me@okno.test.ru", name="Me", password="secret-pass", role="agent")
    other = await create_agent(
        session, email="other@okno.test.ru", name="Other", password="secret-pass", role="agent"
    )
    names = ["Ольга Смирнова", "Anna Smith", "Иван Смирнов", "Ольга Смирнова", "Пётр Иванов"] * 3
    ids = []
    for n, name in enumerate(names):
        phone = ("phone", f"+7913908{n:04d}")
        item = await ingest(session, message(api_account.id, str(n), phone, name=name))
        ids.append(item.contact_id)
        conversation = await session.get_one(Conversation, item.conversation_id)
        conversation.assignee_id = other.id if n % 3 == 1 else me.id
    await session.commit()
    viewer = Viewer(me.id, "agent", frozenset())
    mine = [i for n, i in enumerate(ids) if n % 3 != 1]
    smirnov = sorted(
        (i for i, name in zip(ids, names, strict=True) if "Смирн" in name and i in mine), reverse=True
    )
    assert len(smirnov) == 6

    async def found(q: str, limit: int = 50, offset: int = 0) -> list[int]:
        cards = await search_contacts(session, q, limit=limit, offset=offset, viewer=viewer)
        return [card.id for card in cards]

    assert await found("смирн") == smirnov
    for limit in (1, 2, 4):
        for offset in range(0, 7):
            assert await found("смирн", limit, offset) == smirnov[offset : offset + limit], (limit, offset)
    assert await found("smith") == sorted((ids[n] for n in (1, 6, 11) if ids[n] in mine), reverse=True)
    assert await found("0009") == [ids[9]]
    assert await found("0010") == []  # another agent's card
    assert await found("ёжиков") == []


async def test_search_pages_are_the_plain_definitions_for_random_queries_viewers_and_pages(
    session: AsyncSession, api_account: ChannelAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever path a backend takes (PostgreSQL's windows of the newest cards and ids, then the older
    hits), a page of the search is the page of the plain definition — the live cards the viewer may see
    whose text or an identity matches, newest first, in one statement — for an admin, a supervisor and an
    agent, random queries, limits and offsets; each card with its own identities, oldest first."""
    monkeypatch.setattr("inbox.contacts.NEWEST_CARDS", 5)
    monkeypatch.setattr("inbox.contacts.VISIBLE_WINDOW", 7)
    rnd = random.Random(17)
    team = Team(name="Sales")
    session.add(team)
    await session.flush()
    me = await create_agent(session, email="me@okno.test.ru", name="Me", password="secret-pass", role="agent")
    boss = await create_agent(
        session, email="boss@okno.test.ru", name="Boss", password="secret-pass", role="supervisor"
    )
    other = await create_agent(
        session, email="other@okno.test.ru", name="Other", password="secret-pass", role="agent"
    )
    names = ["Ольга Смирнова", "Иван Смирнов", "Anna Smith", "John Smithers", "Пётр Иванов", None]
    ids = []
    for n in range(40):
        sender = (("phone", f"+7913907{n:04d}"), ("email", f"client{n}@example.com"))
        item = await ingest(session, message(api_account.id, str(n), *sender, name=rnd.choice(names)))
        ids.append(item.contact_id)
        conversation = await session.get_one(Conversation, item.conversation_id)
        conversation.team_id = rnd.choice((team.id, None))
        conversation.assignee_id = rnd.choice((me.id, other.id, None, None))
        if rnd.random() < 0.1:
            card = await session.get_one(Contact, item.contact_id)
            card.owner_id = me.id
        if rnd.random() < 0.1:
            session.add(Task(title="Перезвонить", contact_id=item.contact_id, assignee_id=me.id))
    await session.commit()
    for survivor, merged in ((ids[3], ids[30]), (ids[12], ids[38])):
        await merge_contacts(session, survivor, merged, None)
    await session.commit()
    viewers = [
        None,
        Viewer(me.id, "admin", frozenset()),
        Viewer(boss.id, "supervisor", frozenset({team.id})),
        Viewer(me.id, "agent", frozenset({team.id})),
        Viewer(other.id, "agent", frozenset()),
    ]
    queries = ["смирн", "смирнова ольга", "smi", "smith", "иван", "ёжиков", "0003", "9070012", "client1"]
    queries += ["client38@example.com", "+7 913 907-00-30", "8 913 907 00 07", "anna smith"]

    async def plain(q: str, viewer: Viewer | None, limit: int, offset: int) -> list[int]:
        stmt = select(Contact.id).where(
            Contact.merged_into_id.is_(None), card_matches(session, parse_query(q), phone_digits=True)
        )
        if viewer is not None:
            stmt = stmt.where(visible_contacts(viewer))
        return list(await session.scalars(stmt.order_by(Contact.id.desc()).limit(limit).offset(offset)))

    checked = 0
    for _ in range(150):
        q, viewer = rnd.choice(queries), rnd.choice(viewers)
        limit, offset = rnd.choice((1, 2, 3, 5, 50)), rnd.choice((0, 0, 1, 2, 4, 9))
        cards = await search_contacts(session, q, limit=limit, offset=offset, viewer=viewer)
        assert [c.id for c in cards] == await plain(q, viewer, limit, offset), (q, viewer, limit, offset)
        checked += bool(cards)
        for card in cards:
            held = await session.execute(
                select(Identity.kind, Identity.value)
                .where(Identity.contact_id == card.id)
                .order_by(Identity.id)
            )
            assert [(i.kind, i.value) for i in card.identities] == [tuple(row) for row in held]
    assert checked > 50  # most pages hold cards: the comparison is not of empty lists


async def test_search_leaves_out_a_merged_card_found_by_its_name_or_an_identity(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    """A merged card keeps its name in the full-text index; the search lists only the survivor, by its own
    name or an identity moved to it, on every path (a word, an e-mail address, a phone's digits)."""
    a = await ingest(
        session, message(api_account.id, "1", ("email", "olga@example.com"), name="Ольга Смирнова")
    )
    b = await ingest(session, message(api_account.id, "2", ("phone", "+79139097332"), name="Ольга Смирнова"))
    await session.commit()
    await merge_contacts(session, a.contact_id, b.contact_id, None)
    await session.commit()

    async def found(q: str) -> list[int]:
        return [card.id for card in await search_contacts(session, q)]

    assert await found("смирнова") == [a.contact_id]
    assert await found("olga@example.com") == [a.contact_id]
    assert await found("9097332") == [a.contact_id]
