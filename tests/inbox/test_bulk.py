"""A batch's steps (inbox.bulk): one trip to SQLite's thread writes what SQLAlchemy's own statements write;
its look-ups, one trip (one statement on PostgreSQL), read what SQLAlchemy's own statements read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import any_, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.bulk import Step, fetch_all, run_steps
from inbox.lists import dialect_of, in_list
from inbox.matching import _INSERT_CONTACTS, _VOUCH, CONTACTS, IDENTITIES
from inbox.pg_bulk import ids_array

AT = datetime(2026, 11, 30, 8, 0, 0, 123456, tzinfo=UTC)


def _card(name: str | None) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "lead",
        "source_channel": "api",
        "source_detail": None,
        "tags": ["vip"],
        "custom_fields": {"город": "Томск"},
        "created_at": AT,
        "updated_at": AT,
    }


async def _rows(session: AsyncSession, table: Any) -> list[tuple[Any, ...]]:
    columns = [c for c in table.c if c.name != "_sentinel"]  # SQLAlchemy's own, see inbox.bulk
    return [tuple(row) for row in await session.execute(select(*columns).order_by(table.c.id))]


async def test_steps_write_the_rows_and_ids_sqlalchemy_writes_and_read_the_ids_of_the_steps_before(
    session: AsyncSession,
) -> None:
    # The same cards through SQLAlchemy's own executemany first, then as steps.
    old = await session.execute(_INSERT_CONTACTS, [_card("Иван"), _card(None)])
    old_ids = [row[0] for row in old.all()]
    got: list[int] = []
    await run_steps(
        session,
        [
            Step(_INSERT_CONTACTS, lambda: [_card("Иван"), _card(None)], got.extend),
            Step(
                insert(IDENTITIES),
                lambda: [
                    {
                        "contact_id": got[0],
                        "kind": "email",
                        "value": "i@x.ru",
                        "trust": "typed",
                        "created_at": AT,
                    }
                ],
            ),
            Step(_VOUCH, lambda: [{"row_id": 1}]),  # the statement's own value ("vouched")
            Step(insert(IDENTITIES), lambda: []),  # nothing to write: skipped
        ],
    )
    await session.commit()
    assert got == [old_ids[-1] + 1, old_ids[-1] + 2]  # what the database itself gives
    rows = await _rows(session, CONTACTS)
    assert [r[1:] for r in rows[2:]] == [r[1:] for r in rows[:2]]
    assert await _rows(session, IDENTITIES) == [(1, got[0], "email", "i@x.ru", "vouched", AT)]


async def test_a_refused_row_comes_out_as_sqlalchemys_integrity_error(session: AsyncSession) -> None:
    with pytest.raises(IntegrityError):
        await run_steps(session, [Step(_INSERT_CONTACTS, lambda: [{**_card("x"), "kind": None}])])
    await session.rollback()


async def test_look_ups_in_one_trip_give_the_rows_sqlalchemy_gives(session: AsyncSession) -> None:
    await session.execute(insert(CONTACTS), [_card("Иван"), _card(None), {**_card("Пётр"), "kind": "client"}])
    dialect = dialect_of(session)  # a list of ids as each dialect's batch binds it (inbox.lists, pg_bulk)
    ids = (
        CONTACTS.c.id == any_(ids_array("ids"))
        if dialect == "postgresql"
        else in_list(CONTACTS.c.id, "ids", dialect)
    )
    reads: list[tuple[Any, dict[str, Any]]] = [
        # JSON and UTC times through their result processors; a list bound as one JSON parameter.
        (select(CONTACTS.c.id, CONTACTS.c.custom_fields, CONTACTS.c.created_at).where(ids), {"ids": [1, 3]}),
        # A value the statement holds itself, and no rows.
        (
            select(CONTACTS.c.name).where(CONTACTS.c.kind == "client", ids).order_by(CONTACTS.c.id),
            {"ids": [1]},
        ),
        (select(CONTACTS.c.name).where(CONTACTS.c.kind == "client").order_by(CONTACTS.c.id), {}),
        # The parameter of the first under the same name, another value (one statement on PostgreSQL).
        (select(CONTACTS.c.name).where(ids), {"ids": [3]}),
    ]
    found = await fetch_all(session, reads)
    expected = [(await session.execute(statement, params)).all() for statement, params in reads]
    assert [list(map(tuple, rows)) for rows in found] == [list(map(tuple, rows)) for rows in expected]
    assert found[0][0][1] == {"город": "Томск"} and found[0][0][2] == AT
    assert found[1] == [] and [tuple(row) for row in found[2]] == [("Пётр",)]
    assert [tuple(row) for row in found[3]] == [("Пётр",)]
