"""Rows as arrays (PostgreSQL) or the Core statement (SQLite): the same rows, ids and values either way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import pg_bulk
from inbox.models import Contact, Identity
from inbox.pg_bulk import insert_rows, update_rows

CONTACTS = cast(Table, Contact.__table__)
IDENTITIES = cast(Table, Identity.__table__)
INSERT_CONTACTS = insert(CONTACTS).returning(CONTACTS.c.id, sort_by_parameter_order=True)


async def test_inserted_rows_get_their_own_ids_json_lists_and_python_defaults(session: AsyncSession) -> None:
    rows: list[dict[str, Any]] = [
        {"name": f"Card {n}", "source_channel": "api", "tags": ["vip", str(n)] if n % 2 else []}
        for n in range(5)
    ]
    ids = await insert_rows(session, CONTACTS, rows, fallback=INSERT_CONTACTS, ids=True)
    await session.commit()

    stored = {c.id: c for c in await session.scalars(select(Contact))}
    assert [stored[i].name for i in ids] == [row["name"] for row in rows]
    assert [stored[i].tags for i in ids] == [row["tags"] for row in rows]
    assert all(stored[i].kind == "lead" and stored[i].custom_fields == {} for i in ids)  # the defaults
    assert all(stored[i].created_at is not None for i in ids)


async def test_each_updated_row_takes_its_own_values(session: AsyncSession) -> None:
    rows = [{"name": name, "source_channel": "api"} for name in ("a", "b", "c")]
    ids = await insert_rows(session, CONTACTS, rows, fallback=INSERT_CONTACTS, ids=True)
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("update_rows is PostgreSQL's (SQLite keeps its executemany UPDATE)")
    await update_rows(session, CONTACTS, "id", ["name"], ids[:2], [{"name": "B"}, {"name": "A"}])
    await session.commit()

    names = {card: name for card, name in await session.execute(select(Contact.id, Contact.name))}
    assert [names[i] for i in ids] == ["B", "A", "c"]


async def test_a_value_too_long_for_its_column_is_refused_not_cut(session: AsyncSession) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite keeps any length")
    [card] = await insert_rows(session, CONTACTS, [{"name": "x"}], fallback=INSERT_CONTACTS, ids=True)
    too_long = {"contact_id": card, "kind": "email", "value": "a" * 400, "trust": "vouched"}
    with pytest.raises(DBAPIError, match="too long"):
        await insert_rows(session, IDENTITIES, [too_long], fallback=insert(IDENTITIES))


async def test_a_column_with_one_value_in_every_row_is_stored_in_every_row(session: AsyncSession) -> None:
    """Such a column goes in as one parameter on PostgreSQL (inbox.pg_bulk.BulkInsert's `uniform`):
    a JSON list, a NULL and a text alike; the rows still get their own ids and their varying values."""
    rows: list[dict[str, Any]] = [
        {"name": f"Card {n}", "source_channel": "api", "source_detail": None, "tags": ["vip"]}
        for n in range(3)
    ]
    ids = await insert_rows(session, CONTACTS, rows, fallback=INSERT_CONTACTS, ids=True)
    [one] = await insert_rows(
        session, CONTACTS, [{"name": "Solo", "tags": []}], fallback=INSERT_CONTACTS, ids=True
    )
    identities = [
        {"contact_id": one, "kind": "email", "value": f"{n}@mail.ru", "trust": "typed"} for n in (1, 2)
    ]
    await insert_rows(session, IDENTITIES, identities, fallback=insert(IDENTITIES))
    one_row = [{**identities[0], "value": "x@mail.ru"}]  # every column uniform but one: rows from an array
    await insert_rows(session, IDENTITIES, one_row, fallback=insert(IDENTITIES))
    await session.commit()

    stored = {c.id: c for c in await session.scalars(select(Contact))}
    assert [(stored[i].name, stored[i].tags, stored[i].source_channel) for i in ids] == [
        (f"Card {n}", ["vip"], "api") for n in range(3)
    ]
    assert (stored[one].name, stored[one].tags) == ("Solo", [])
    kept = {(i.contact_id, i.value, i.trust) for i in await session.scalars(select(Identity))}
    assert kept == {(one, v, "typed") for v in ("1@mail.ru", "2@mail.ru", "x@mail.ru")}


async def test_a_refused_row_raises_sqlalchemys_integrity_error_and_the_session_rolls_back(
    session: AsyncSession,
) -> None:
    """On PostgreSQL the statement runs on asyncpg itself (inbox.pg_raw): a unique key taken must still
    come out as SQLAlchemy's IntegrityError (the ingest queue then takes its items one by one), and the
    session must still roll back and go on."""
    [card] = await insert_rows(session, CONTACTS, [{"name": "x"}], fallback=INSERT_CONTACTS, ids=True)
    row = {"contact_id": card, "kind": "email", "value": "taken@mail.ru", "trust": "vouched"}
    await insert_rows(session, IDENTITIES, [row], fallback=insert(IDENTITIES))
    await session.commit()
    with pytest.raises(IntegrityError):
        await insert_rows(
            session, IDENTITIES, [row, {**row, "value": "free@mail.ru"}], fallback=insert(IDENTITIES)
        )
    await session.rollback()
    await insert_rows(session, IDENTITIES, [{**row, "value": "free@mail.ru"}], fallback=insert(IDENTITIES))
    await session.commit()
    values = set(await session.scalars(select(Identity.value)))
    assert values == {"taken@mail.ru", "free@mail.ru"}


async def test_batches_of_ever_other_uniform_columns_make_a_bounded_number_of_statements(
    session: AsyncSession,
) -> None:
    """Each set of uniform columns is a statement of its own (prepared per connection): past VARIANTS of
    one kind, a batch goes in with every column an array, and its rows are stored all the same."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the arrays are PostgreSQL's")
    names = ["name", "company", "source_channel", "source_detail", "notes"]
    made = []
    for n in range(2 ** len(names)):  # 32 sets of uniform columns, twice VARIANTS
        # Two rows that agree on the columns of the bits of n, and differ on the others.
        rows = [
            {c: (f"{c}-{n}" if n >> i & 1 else f"{c}-{n}-{r}") for i, c in enumerate(names)}
            | {"tags": [], "custom_fields": {}}
            for r in range(2)
        ]
        made += await insert_rows(session, CONTACTS, rows, fallback=INSERT_CONTACTS, ids=True)
    await session.commit()
    [kind] = [k for k in pg_bulk._VARIANTS if k[:2] == ("contacts", (*names, "tags", "custom_fields"))]
    assert len(pg_bulk._VARIANTS[kind]) == pg_bulk.VARIANTS
    stored = {c.id: (c.name, c.notes) for c in await session.scalars(select(Contact))}
    assert len(made) == 64 and len(set(made)) == 64
    assert [stored[i] for i in made[-4:]] == [("name-30-0", "notes-30"), ("name-30-1", "notes-30")] + [
        ("name-31", "notes-31")
    ] * 2


async def test_rows_inserted_after_a_commit_go_into_the_next_transaction_and_leave_with_its_rollback(
    session: AsyncSession,
) -> None:
    """On PostgreSQL the statements run on the connection the session's transaction holds (inbox.pg_raw
    keeps it for the transaction's next statements): after a commit, the next ones are in the new
    transaction, never outside one."""
    await insert_rows(session, CONTACTS, [{"name": "kept"}], fallback=INSERT_CONTACTS, ids=True)
    await session.commit()
    await insert_rows(session, CONTACTS, [{"name": "dropped"}], fallback=INSERT_CONTACTS, ids=True)
    await insert_rows(session, CONTACTS, [{"name": "dropped too"}], fallback=INSERT_CONTACTS, ids=True)
    await session.rollback()
    names = list(await session.scalars(select(Contact.name)))
    assert names == ["kept"]


async def test_a_naive_time_is_refused_and_an_aware_one_stored_as_its_utc_instant(
    session: AsyncSession,
) -> None:
    """Times go in as UtcDateTime binds them: on PostgreSQL the arrays of times are only checked (inbox
    .pg_raw), asyncpg taking an aware time in any zone to UTC itself."""
    moscow = timezone(timedelta(hours=3))
    aware = datetime(2026, 3, 1, 12, 0, tzinfo=moscow)
    rows = [
        {"name": n, "created_at": aware, "updated_at": aware + timedelta(minutes=i)}
        for i, n in enumerate("ab")
    ]
    ids = await insert_rows(session, CONTACTS, rows, fallback=INSERT_CONTACTS, ids=True)
    await session.commit()
    stored = {c.id: c for c in await session.scalars(select(Contact))}
    assert [stored[i].updated_at for i in ids] == [datetime(2026, 3, 1, 9, i, tzinfo=UTC) for i in range(2)]
    naive = [{**row, "updated_at": datetime(2026, 3, 1, 9, 0)} for row in rows]
    with pytest.raises((ValueError, StatementError), match="naive datetime"):
        await insert_rows(session, CONTACTS, naive, fallback=INSERT_CONTACTS, ids=True)
