"""`okno migrate-data`: a demo hub on SQLite copied into a scratch PostgreSQL database of this module's own.

The copy runs once for the module (the real command, through its entry point); the tests then read it
through the real app (contact search, the inbox list), insert into it (sequences), and run the command
again (refused: the target holds data). Bad inputs are refused before anything is touched
(`test_migrate_data_inputs.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, update

from hub import db
from hub.cli import main
from hub.demo import DEMO_LOGINS, load_demo
from hub.runtime import Hub
from hub.web import create_app
from inbox.models import Base, Contact, Message
from inbox.policy import InboxPolicy
from tests.conftest import make_settings
from tests.scratch_pg import scratch_database

pytestmark = pytest.mark.postgresql_only
ADMIN = next(login for login in DEMO_LOGINS if login.role == "admin")


@dataclass(frozen=True, slots=True)
class Copied:
    source: Path
    target: str
    stdout: str
    stderr: str
    merged: tuple[int, int]  # (card, the newer card it was merged into): the self-reference copied later


async def _demo_hub(path: Path) -> tuple[int, int]:
    """The demo's sample data in a SQLite file, with one card merged into a newer one."""
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await db.migrate(engine)
        await load_demo(db.sessionmaker(engine), InboxPolicy())
        async with engine.begin() as conn:
            first, last = (await conn.execute(select(func.min(Contact.id), func.max(Contact.id)))).one()
            await conn.execute(update(Contact).where(Contact.id == first).values(merged_into_id=last))
    finally:
        await engine.dispose()
    return first, last


@dataclass(frozen=True, slots=True)
class Run:
    code: int
    stdout: str
    stderr: str


def migrate_data(*args: str) -> Run:
    """`okno migrate-data ARGS` in this process (the command's own entry point; no interpreter to start)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["migrate-data", *args])
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def copied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Copied]:
    source = tmp_path_factory.mktemp("migrate-data") / "okno.db"
    merged = asyncio.run(_demo_hub(source))
    with scratch_database("okno_t_migrate") as target:
        done = migrate_data("--from", str(source), "--to", target, "--batch-size", "50")
        assert done.code == 0, done.stderr
        yield Copied(source, target, done.stdout, done.stderr, merged)


async def _counts(url: str) -> dict[str, int]:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                table.name: int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
                for table in Base.metadata.sorted_tables
            }
    finally:
        await engine.dispose()


@pytest.fixture
async def client(copied: Copied) -> AsyncIterator[TestClient[object, object]]:
    """The real app on the copy, logged in as the demo's admin."""
    hub = Hub(make_settings(copied.target))
    await hub.start(migrate=False, channels=False)
    try:
        async with TestClient(TestServer(create_app(hub, manage_hub=False))) as client:
            login = {"email": ADMIN.email, "password": ADMIN.password}
            response = await client.post("/api/v1/auth/login", json=login)
            assert response.status == 200, await response.text()
            yield client
    finally:
        await hub.stop()


async def test_every_table_is_copied_with_its_rows_and_the_summary_says_so(copied: Copied) -> None:
    source = await _counts(f"sqlite+aiosqlite:///{copied.source}")
    assert source["messages"] > 100 and source["contacts"] > 50  # the demo, not an empty hub
    assert await _counts(copied.target) == source
    assert "counts equal on both sides" in copied.stdout
    assert f"  messages {'':<{len('duplicate_candidates') - len('messages')}}" in copied.stdout
    assert "search_messages" in copied.stdout  # SQLite's own full-text tables are named as left out
    assert "phone_trigrams" in copied.stdout  # the phones' trigrams (0020) too, where SQLite made them
    assert "messages: 50 / " in copied.stderr  # progress per batch
    engine = db.create_engine(copied.target)
    try:
        async with engine.connect() as conn:
            card, into = copied.merged
            merged = await conn.scalar(select(Contact.merged_into_id).where(Contact.id == card))
    finally:
        await engine.dispose()
    assert merged == into  # a self-reference to a newer row, written in the second pass


async def test_contact_search_and_the_inbox_list_work_on_the_copy(
    copied: Copied, client: TestClient[object, object]
) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{copied.source}")
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(Contact.id, Contact.name)
                    .where(Contact.merged_into_id.is_(None), func.length(Contact.name) > 5)
                    .order_by(Contact.id)
                    .limit(1)
                )
            ).one()
            conversations = await conn.scalar(select(func.count(func.distinct(Message.conversation_id))))
    finally:
        await engine.dispose()
    prefix = row.name.split()[0][:4]  # a word's beginning: PostgreSQL's full-text index answers it
    found = await client.get("/api/v1/contacts", params={"q": prefix})
    assert found.status == 200, await found.text()
    assert row.id in [card["id"] for card in (await found.json())["items"]]
    listed = await client.get("/api/v1/conversations", params={"limit": "100"})
    assert listed.status == 200, await listed.text()
    assert len((await listed.json())["items"]) == conversations


async def test_the_next_row_inserted_into_the_copy_gets_a_new_id(copied: Copied) -> None:
    engine = db.create_engine(copied.target)
    try:
        async with db.sessionmaker(engine)() as session:
            top = await session.scalar(select(func.max(Contact.id)))
            card = Contact(name="После переезда")
            session.add(card)
            await session.commit()
            assert card.id == (top or 0) + 1
            await session.delete(card)
            await session.commit()
    finally:
        await engine.dispose()


def test_a_second_run_into_the_same_database_is_refused_naming_the_table(copied: Copied) -> None:
    again = migrate_data("--from", str(copied.source), "--to", copied.target)
    assert again.code == 2
    assert "already holds data (table agents)" in again.stderr
    assert again.stdout == ""
