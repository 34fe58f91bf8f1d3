"""Rows as arrays (PostgreSQL) or the Core statement (SQLite): the same rows, ids and values either way."""

from __future__ import annotations

from typing import Any, cast

import pytest
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

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
