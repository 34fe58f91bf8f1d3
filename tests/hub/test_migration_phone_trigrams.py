"""Migration 0020_phone_trigrams (SQLite): the phones stored are indexed, later writes by the triggers
(new phones, changed values and kinds, deletions, merges of cards), and the contacts search by a phone's
digits through the trigram table finds exactly what instr() defines; without the table (a database migrated
where SQLite had no trigram tokenizer, or taken down) the search falls back to instr() with the same
results; the migration goes down and up again."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import column, event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub import db
from inbox.contacts import add_identity, merge_contacts, remove_identity, search_contacts
from inbox.ingest import ingest
from inbox.models import ChannelAccount, Contact, Identity
from inbox.search import parse_query
from inbox.search_index import PHONE_TRIGRAMS, note_phone_trigrams, phone_trigrams
from tests.inbox.helpers import message

# Phones of few distinct digits (every query finds several) and two that tell contiguous digits apart:
# "+79135091909" holds the trigrams of "9091" (909, 091) but not "9091" itself; "+79139091000" holds it.
CRAFTED = ("+79135091909", "+79139091000")


def _phone(rnd: random.Random) -> str:
    return "+7913" + "".join(rnd.choice("01239") for _ in range(7))


def _queries(phones: list[str], rnd: random.Random) -> list[str]:
    """Digits of stored phones (4 to 7 of them, anywhere) and random ones, "9091" among them."""
    queries = ["9091", "0000", "1234", "90950", "3333333"]
    for _ in range(40):
        digits = rnd.choice(phones)[1:]
        size = rnd.randint(4, 7)
        start = rnd.randrange(len(digits) - size + 1)
        queries.append(digits[start : start + size])
    queries += ["".join(rnd.choice("01239") for _ in range(rnd.randint(4, 6))) for _ in range(20)]
    return queries


async def _defined(engine: AsyncEngine, digits: str) -> list[int]:
    """The live cards holding a phone with these digits, newest first, a page of 50: instr()'s definition."""
    sql = (
        "SELECT c.id FROM contacts c WHERE c.merged_into_id IS NULL AND c.id IN (SELECT contact_id FROM"
        " identities WHERE kind = 'phone' AND instr(value, :d) > 0) ORDER BY c.id DESC LIMIT 50"
    )
    async with engine.connect() as conn:
        return [row[0] for row in await conn.execute(text(sql), {"d": digits})]


async def _searched(engine: AsyncEngine, q: str) -> tuple[list[int], list[str]]:
    """The cards the contacts search finds for `q`, and the statements it sent."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with db.sessionmaker(engine)() as session:
            found = [card.id for card in await search_contacts(session, q)]
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    return found, sent


async def _check(engine: AsyncEngine, rnd: random.Random, *, trigrams: bool) -> int:
    """Every query's cards are the definition's, read through the trigram table or not as `trigrams` says;
    the table's candidates for digits are exactly the phones holding them. How many queries found cards."""
    assert phone_trigrams(engine.sync_engine) is trigrams
    async with engine.connect() as conn:
        phones = [
            row[0] for row in await conn.execute(text("SELECT value FROM identities WHERE kind = 'phone'"))
        ]
    hits = 0
    for q in _queries(phones, rnd):
        found, sent = await _searched(engine, q)
        if parse_query(q).phone is None:  # 7 digits may read as a whole number: matched exactly, not here
            assert found == await _defined(engine, q), q
        hits += bool(found)
        assert any(PHONE_TRIGRAMS in s for s in sent) is trigrams, sent
        if trigrams:
            async with engine.connect() as conn:
                candidates = select(column("rowid")).select_from(text(PHONE_TRIGRAMS))
                candidates = candidates.where(text(f"{PHONE_TRIGRAMS} MATCH :q").bindparams(q=f'"{q}"'))
                by_trigrams = set((await conn.scalars(candidates)).all())
                holding = select(Identity.id).where(Identity.kind == "phone", Identity.value.contains(q))
                assert by_trigrams == set((await conn.scalars(holding)).all()), q
    return hits


async def test_phone_digits_through_the_trigrams_are_instr_through_writes_merges_and_the_migration(
    tmp_path: Path,
) -> None:
    rnd = random.Random(20)
    url = f"sqlite+aiosqlite:///{tmp_path / 'okno.db'}"
    engine = db.create_engine(url)
    try:
        await db.migrate(engine, "0019_conversation_counts")
        assert not phone_trigrams(engine.sync_engine)
        async with db.sessionmaker(engine)() as session:
            account = ChannelAccount(name="shop", kind="api")
            session.add(account)
            await session.flush()
            phones = [*CRAFTED, *(_phone(rnd) for _ in range(60))]
            cards = []
            for n, phone in enumerate(phones):
                sender = (("phone", phone), ("email", f"client{n}@example.com"))
                cards.append(
                    (await ingest(session, message(account.id, str(n), *sender, name=None))).contact_id
                )
            await session.commit()
        await db.migrate(engine)  # 0020: the phones already stored go into the table
        assert await _check(engine, rnd, trigrams=True) > 30
        found = (await _searched(engine, "9091"))[0]  # contiguous digits only
        assert cards[1] in found and cards[0] not in found

        async with db.sessionmaker(engine)() as session:  # writes of every kind the triggers see
            added = []
            for contact_id in rnd.sample(cards, 10):  # a second phone on some cards
                card = await session.get_one(Contact, contact_id)
                await session.refresh(card, ["identities"])
                added.append(
                    await add_identity(session, card, "phone", _phone(rnd), region="RU", actor_id=None)
                )
            await session.commit()
            identities = list(await session.scalars(select(Identity).where(Identity.kind == "phone")))
            for identity in rnd.sample(identities, 8):  # a changed number
                identity.value = _phone(rnd)
            for identity in rnd.sample(identities, 3):  # no longer a phone, and one back again
                identity.kind = "external"
            await session.commit()
            identity.kind = "phone"
            await session.commit()
            for identity in added[:4]:  # taken off its card by an agent
                card = await session.get_one(Contact, identity.contact_id)
                await session.refresh(card, ["identities"])
                await remove_identity(session, card, identity.id, actor_id=None)
            await session.execute(
                text("DELETE FROM identities WHERE id IN (SELECT id FROM identities LIMIT 3)")
            )
            await session.commit()
            for survivor, merged in ((cards[2], cards[3]), (cards[10], cards[40]), (cards[41], cards[1])):
                await merge_contacts(session, survivor, merged, None)  # identities move, or go as duplicates
            await session.commit()
        assert await _check(engine, rnd, trigrams=True) > 30

        # Taken down: no table, no triggers; the search reads the phones' range with instr() (the engine's
        # new connections look again: a downgrade is the CLI's, another process's, in the hub's life).
        async with engine.begin() as conn:
            previous = "0019_conversation_counts"
            await conn.run_sync(lambda sync: command.downgrade(db._alembic_config(sync), previous))
        await engine.dispose()
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        async with engine.connect() as conn:
            names = {row[0] for row in await conn.execute(text("SELECT name FROM sqlite_master"))}
        assert not {n for n in names if n.startswith(PHONE_TRIGRAMS)}, names
        assert await _check(engine, rnd, trigrams=False) > 30
        async with db.sessionmaker(engine)() as session:  # written while it is away ...
            card = await session.get_one(Contact, cards[5])
            await session.refresh(card, ["identities"])
            await add_identity(session, card, "phone", "+79139091999", region="RU", actor_id=None)
            await session.commit()
        await db.migrate(engine)  # ... and there when it comes back
        assert await _check(engine, rnd, trigrams=True) > 30
        assert cards[5] in (await _searched(engine, "9091"))[0]
    finally:
        await engine.dispose()


async def _migrated_with_phones(engine: AsyncEngine, rnd: random.Random, count: int) -> int:
    """The schema at head and `count` messages from as many new phone numbers; the account's id."""
    await db.migrate(engine)
    async with db.sessionmaker(engine)() as session:
        account = ChannelAccount(name="shop", kind="api")
        session.add(account)
        await session.flush()
        for n in range(count):
            await ingest(session, message(account.id, str(n), ("phone", _phone(rnd)), name=None))
        await session.commit()
        return account.id


async def _without_trigrams(engine: AsyncEngine) -> None:
    """The phones' trigram table and its triggers dropped, as a database migrated without the tokenizer."""
    async with engine.begin() as conn:
        for suffix in ("ai", "ad", "au"):
            await conn.execute(text(f"DROP TRIGGER {PHONE_TRIGRAMS}_{suffix}"))
        await conn.execute(text(f"DROP TABLE {PHONE_TRIGRAMS}"))


async def test_a_database_without_the_trigram_table_is_searched_with_instr_when_opened(
    tmp_path: Path,
) -> None:
    """A database migrated where SQLite had no trigram tokenizer has no table (the migration skipped it):
    an engine opened on it later, whatever its SQLite, searches the phones' digits with instr(); the
    look-up is made when a connection opens, not per query."""
    rnd = random.Random(21)
    url = f"sqlite+aiosqlite:///{tmp_path / 'okno.db'}"
    engine = db.create_engine(url)
    try:
        await _migrated_with_phones(engine, rnd, 30)
        await _without_trigrams(engine)  # what the migration leaves without the tokenizer
    finally:
        await engine.dispose()
    engine = db.create_engine(url)
    try:
        assert await _check(engine, rnd, trigrams=False) > 10
    finally:
        await engine.dispose()
    # And the other way: an engine that was told the table is there is told otherwise by a new connection.
    engine = db.create_engine(url)
    try:
        note_phone_trigrams(engine.sync_engine.pool, True)
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        assert not phone_trigrams(engine.sync_engine)
    finally:
        await engine.dispose()


def _tokenizer_named(path: Path, old: str, new: str) -> None:
    """The table's definition as another SQLite would read it: with the tokenizer `new` in place of `old`
    (an SQLite without the trigram tokenizer reads the real one as this one reads an unknown name)."""
    raw = sqlite3.connect(path)
    try:
        raw.execute("PRAGMA writable_schema = ON")
        raw.execute(
            "UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE name = ?",
            (f"'{old}'", f"'{new}'", PHONE_TRIGRAMS),
        )
        raw.commit()
    finally:
        raw.close()


async def test_a_database_carried_to_an_sqlite_without_the_tokenizer_takes_phones_and_is_rebuilt_back(
    tmp_path: Path,
) -> None:
    """Started where SQLite cannot read the table, the hub drops its triggers (or every new phone would fail
    its writer's transaction) and searches with instr(); started again where it can, the table is emptied,
    filled with every phone (those written meanwhile too) and kept by triggers again. A database with no
    table gets one at a start where the tokenizer is there."""
    rnd = random.Random(22)
    path = tmp_path / "okno.db"
    url = f"sqlite+aiosqlite:///{path}"
    engine = db.create_engine(url)
    try:
        account_id = await _migrated_with_phones(engine, rnd, 30)
    finally:
        await engine.dispose()

    _tokenizer_named(path, "trigram", "no_trigram_here")
    raw = sqlite3.connect(path)
    try:  # what the triggers would do to a writer there
        with pytest.raises(sqlite3.OperationalError, match="tokenizer"):
            raw.execute(
                "INSERT INTO identities (contact_id, kind, value, created_at)"
                " SELECT id, 'phone', '+79139091999', created_at FROM contacts LIMIT 1"
            )
    finally:
        raw.close()
    engine = db.create_engine(url)
    try:
        await db.migrate(engine)  # a start there
        async with db.sessionmaker(engine)() as session:
            for n in range(30, 40):  # phones written while the table cannot be kept
                await ingest(session, message(account_id, str(n), ("phone", _phone(rnd)), name=None))
            await ingest(session, message(account_id, "9091", ("phone", "+79139091999"), name=None))
            await session.commit()
        assert await _check(engine, rnd, trigrams=False) > 10
    finally:
        await engine.dispose()

    _tokenizer_named(path, "no_trigram_here", "trigram")
    engine = db.create_engine(url)
    try:
        await db.migrate(engine)  # a start where SQLite can read it again
        assert await _check(engine, rnd, trigrams=True) > 10
        async with engine.connect() as conn:
            triggers = await conn.scalar(
                text(
                    "SELECT count(*) FROM sqlite_master"
                    " WHERE type = 'trigger' AND name LIKE 'phone_trigrams_%'"
                )
            )
        assert triggers == 3
        await _without_trigrams(engine)  # no table at all (migrated without the tokenizer)
    finally:
        await engine.dispose()
    engine = db.create_engine(url)
    try:
        await db.migrate(engine)  # a start where the tokenizer is here: made and filled
        assert await _check(engine, rnd, trigrams=True) > 10
    finally:
        await engine.dispose()
