"""A batch's steps (inbox.bulk): one trip to SQLite's thread writes what SQLAlchemy's own statements write."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.bulk import Step, run_steps
from inbox.matching import _INSERT_CONTACTS, _VOUCH, CONTACTS, IDENTITIES

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
