"""Full-text search (inbox/search.py) on the real index of the test database (SQLite FTS5 or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.conversations import Viewer
from inbox.ingest import ingest
from inbox.models import Agent, ChannelAccount, Contact, Conversation, Message, Team
from inbox.search import (
    CardHit,
    ConversationHit,
    Hit,
    MessageHit,
    SearchError,
    parse_query,
    search,
    snippet,
)
from tests.inbox.helpers import message


async def agent(session: AsyncSession, name: str) -> int:
    row = Agent(email=f"{name}@okno.example.com", name=name, password_hash="-")
    session.add(row)
    await session.flush()
    return row.id


async def dialog(
    session: AsyncSession,
    account: ChannelAccount,
    key: str,
    text: str,
    *,
    team: int | None = None,
    name: str = "Иван Петров",
    identity: tuple[str, str] | None = None,
    subject: str | None = None,
) -> tuple[int, int]:
    """A client's message in a conversation of `team`; (conversation id, card id)."""
    sender = identity or ("email", f"{key}@example.com")
    result = await ingest(
        session,
        message(account.id, key, sender, text=text, name=name, subject=subject),  # type: ignore[arg-type]
    )
    conv = await session.get_one(Conversation, result.conversation_id)
    conv.team_id = team
    await session.commit()
    return result.conversation_id, result.contact_id


ADMIN = Viewer(0, "admin", frozenset())
T = TypeVar("T")


def of_kind(hits: Sequence[Hit], kind: type[T]) -> list[T]:
    return [h for h in hits if isinstance(h, kind)]


async def test_an_order_number_in_a_message_is_found_whole_or_by_its_digits(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    conv, _ = await dialog(session, api_account, "m1", "Где мой заказ A-10234? <b>срочно</b>")
    await dialog(session, api_account, "m2", "Заказ B-555 пришёл, спасибо")
    for q in ("A-10234", "a-10234", "10234", "1023"):
        page = await search(session, ADMIN, q)
        messages = of_kind(page.hits, MessageHit)
        assert [m.conversation_id for m in messages] == [conv], q
        assert [c.id for c in of_kind(page.hits, ConversationHit)] == [conv], q
    hit = of_kind((await search(session, ADMIN, "A-10234")).hits, MessageHit)[0]
    assert hit.snippet == "Где мой заказ <mark>A-10234</mark>? &lt;b&gt;срочно&lt;/b&gt;"


async def test_a_russian_inflected_form_finds_the_word(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    conv, _ = await dialog(session, api_account, "m1", "Когда будет доставка? Жду с утра")
    await dialog(session, api_account, "m2", "Хочу вернуть товар")
    hits = of_kind((await search(session, ADMIN, "доставкой", ["message"])).hits, MessageHit)
    assert [h.conversation_id for h in hits] == [conv]
    assert "<mark>доставка</mark>" in hits[0].snippet
    english = await search(session, ADMIN, "delivered", ["message"])
    assert english.hits == []
    await dialog(session, api_account, "m3", "Was the delivery late?")
    assert len((await search(session, ADMIN, "delivered", ["message"])).hits) == 1
    both = await search(session, ADMIN, "доставки утра", ["message"])  # every word must match
    assert [h.conversation_id for h in of_kind(both.hits, MessageHit)] == [conv]


async def test_cards_are_found_by_name_company_phone_in_any_format_and_email_prefix(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    _, phone_card = await dialog(
        session, api_account, "p1", "Перезвоните", identity=("phone", "+79139097332"), name="Мария"
    )
    _, mail_card = await dialog(
        session, api_account, "e1", "hi", name="Олег", identity=("email", "oleg@shop.ru")
    )
    card = await session.get_one(Contact, mail_card)
    card.company = "ООО Ромашка"
    await session.commit()
    for q in ("8 (913) 909-73-32", "+7 913 909 73 32", "79139097332", "+7913909"):
        page = await search(session, ADMIN, q, ["card"])
        assert [h.id for h in page.hits] == [phone_card], q
    for q in ("oleg@shop.ru", "OLEG@", "олег", "ромашка", "Ромашке"):
        page = await search(session, ADMIN, q, ["card"])
        assert [h.id for h in page.hits] == [mail_card], q
    hit = (await search(session, ADMIN, "oleg", ["card"])).hits[0]
    assert isinstance(hit, CardHit) and hit.identities == (("email", "oleg@shop.ru"),)
    conversations = await search(session, ADMIN, "Ромашка", ["conversation"])
    assert len(conversations.hits) == 1  # the conversations of a matching card


async def test_an_agent_of_another_team_finds_nothing_of_team_a(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    team_a, team_b = Team(name="A"), Team(name="B")
    session.add_all([team_a, team_b])
    await session.flush()
    anna = await agent(session, "anna")
    boris = await agent(session, "boris")
    boss = await agent(session, "boss")
    conv, card = await dialog(session, api_account, "a1", "Заказ A-777 не пришёл", team=team_a.id)
    as_anna = Viewer(anna, "agent", frozenset({team_a.id}))
    as_boris = Viewer(boris, "agent", frozenset({team_b.id}))
    as_boss = Viewer(boss, "supervisor", frozenset({team_a.id}))
    for q in ("A-777", "Иван", "a1@example.com"):
        assert (await search(session, as_boris, q)).hits == [], q
        assert len((await search(session, as_boss, q)).hits) >= 1, q
    assert {type(h) for h in (await search(session, as_anna, "A-777")).hits} == {MessageHit, ConversationHit}
    # Assigned to a colleague: no longer anna's; the card she owns stays hers (issue 9's rule).
    (await session.get_one(Conversation, conv)).assignee_id = boss
    await session.commit()
    assert (await search(session, as_anna, "A-777")).hits == []
    (await session.get_one(Contact, card)).owner_id = anna
    await session.commit()
    assert [type(h) for h in (await search(session, as_anna, "Иван")).hits] == [CardHit]


async def test_the_index_follows_edits_and_subjects(
    session: AsyncSession, api_account: ChannelAccount
) -> None:
    conv, _ = await dialog(session, api_account, "s1", "первый текст", subject="Счёт 4411")
    assert [h.id for h in (await search(session, ADMIN, "4411", ["conversation"])).hits] == [conv]
    msg = (await session.execute(Message.__table__.select())).first()
    assert msg is not None
    row = await session.get_one(Message, msg.id)
    row.body_text = "исправленный текст"
    await session.commit()
    assert (await search(session, ADMIN, "первый", ["message"])).hits == []
    assert len((await search(session, ADMIN, "исправленный", ["message"])).hits) == 1
    (await session.get_one(Conversation, conv)).subject = "Оплата"
    await session.commit()
    assert [h.id for h in (await search(session, ADMIN, "оплаты", ["conversation"])).hits] == [conv]


async def test_pages_continue_with_the_cursor(session: AsyncSession, api_account: ChannelAccount) -> None:
    convs = [(await dialog(session, api_account, f"k{i}", f"возврат номер {i}"))[0] for i in range(5)]
    seen: list[int] = []
    cursor = None
    for _ in range(4):
        page = await search(session, ADMIN, "возврат", ["conversation"], limit=2, cursor=cursor)
        seen.extend(h.id for h in page.hits)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(convs, reverse=True)


@pytest.mark.parametrize(
    "q",
    ['"', 'заказ"', "NEAR(a b)", "a AND OR NOT", "col:value", "^start", "x*", "(((", "-10234", "a OR"],
)
async def test_fts_syntax_in_a_query_is_text_never_an_error(
    session: AsyncSession, api_account: ChannelAccount, q: str
) -> None:
    await dialog(session, api_account, "x1", "заказ NEAR start value 10234")
    try:
        page = await search(session, ADMIN, q)
    except SearchError as exc:  # only a query with nothing to search is refused
        assert exc.field == "q" and not any(ch.isalnum() for ch in q)
    else:
        assert isinstance(page.hits, list)


@pytest.mark.parametrize("q", ["", "   ", "x" * 201, "?!.,", "a\x00b", " ".join("w" * 13)])
def test_a_bad_query_is_refused_naming_q(q: str) -> None:
    with pytest.raises(SearchError) as caught:
        parse_query(q)
    assert caught.value.field == "q"


async def test_a_bad_cursor_kind_or_limit_is_refused_naming_it(session: AsyncSession) -> None:
    for kwargs, name in (
        ({"cursor": "message.x"}, "cursor"),
        ({"kinds": ["task"]}, "kind"),
        ({"limit": 0}, "limit"),
        ({"limit": 51}, "limit"),
    ):
        with pytest.raises(SearchError) as caught:
            await search(session, ADMIN, "word", **kwargs)
        assert caught.value.field == name


def test_a_snippet_is_escaped_and_cut_around_the_first_match() -> None:
    body = "<script>x</script> " + "слово " * 30 + "доставкой займёмся завтра " + "хвост " * 30
    out = snippet(body, parse_query("доставка"))
    assert out.startswith("…") and out.endswith("…")
    assert "<mark>доставкой</mark>" in out and "<script>" not in out
    assert snippet("a <b> & c", parse_query("zzz")) == "a &lt;b&gt; &amp; c"
