"""`okno backup` / `okno restore` (SQLite's online backup API): a backup taken by another process while the
hub ingests restores every message acknowledged before it began; restore refuses a database a hub runs on,
and an existing one without --force; PostgreSQL is pointed to pg_dump / pg_restore."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from channels.api.parse import parse
from hub.backup import BackupError, backup_sqlite
from hub.cli import sqlite_lock
from hub.runtime import Hub
from hub.settings import load
from tests.hub.test_cli import okno
from tests.waiting import eventually

SENDERS = 20
WRITERS = 4  # concurrent hand-ins: the ingest queue groups them into shared transactions


def url_of(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def external_ids(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as connection:
        return {row[0] for row in connection.execute("SELECT external_id FROM messages")}


def sound(path: Path) -> bool:
    with closing(sqlite3.connect(path)) as connection:
        checked = connection.execute("PRAGMA integrity_check").fetchall()
        dangling = connection.execute("PRAGMA foreign_key_check").fetchall()
    return checked == [("ok",)] and dangling == []


async def test_a_backup_taken_under_traffic_restores_every_acknowledged_message(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    hub = Hub(
        load(
            database_url=url_of(live),
            accounts={"shop": {"kind": "api", "token": "t0ken"}},
            attachments_dir=str(tmp_path / "attachments"),
        )
    )
    await hub.start()
    account = hub.accounts["shop"].context
    acknowledged: list[str] = []
    running = True

    async def writer(number: int) -> None:
        sequence = 0
        while running:
            external_id = f"w{number}-{sequence}"
            sender = {"name": "Клиент", "email": f"client{sequence % SENDERS}@example.com"}
            item = parse(
                {"external_id": external_id, "sender": sender, "text": f"сообщение {sequence}"},
                account_id=account.id,
                account_name=account.name,
            )
            await hub.ingest.submit(item)  # returns once committed: acknowledged
            acknowledged.append(external_id)
            sequence += 1

    writers = [asyncio.create_task(writer(n)) for n in range(WRITERS)]
    try:
        await eventually(lambda: len(acknowledged) >= 200, "200 messages acknowledged")
        before = set(acknowledged)
        backup = tmp_path / "backups" / "okno-backup.db"
        run = await okno("backup", str(backup), database_url=url_of(live), cwd=tmp_path)  # another process
        assert run.code == 0, run.err
        assert f"written to {backup}" in run.out
        await eventually(lambda: len(acknowledged) >= len(before) + 100, "ingest going on after the backup")
    finally:
        running = False
        await asyncio.gather(*writers)
        await hub.stop()

    restored = tmp_path / "restored.db"
    run = await okno("restore", str(backup), database_url=url_of(restored), cwd=tmp_path)
    assert run.code == 0, run.err
    assert f"into {restored}" in run.out
    found = external_ids(restored)
    assert before <= found, f"acknowledged before the backup but missing: {sorted(before - found)[:10]}"
    assert found <= set(acknowledged)  # nothing half-written or invented
    assert len(found) < len(acknowledged)  # the backup is of its moment: later messages are not in it
    assert sound(restored)
    assert sound(backup)
    assert not backup.with_name(backup.name + "-wal").exists()  # one self-contained file


async def test_restore_refuses_a_running_hubs_database_and_an_existing_one_without_force(
    tmp_path: Path,
) -> None:
    live = tmp_path / "live.db"
    migrated = await okno("migrate", database_url=url_of(live), cwd=tmp_path)
    assert migrated.code == 0, migrated.err
    backup = tmp_path / "backup.db"
    backup_sqlite(live, backup)

    run = await okno("restore", str(backup), database_url=url_of(live), cwd=tmp_path)
    assert run.code == 2
    assert f"the database {live} exists: --force replaces it" in run.err

    with sqlite_lock(url_of(live)):  # what `okno run` holds for as long as it runs
        run = await okno("restore", "--force", str(backup), database_url=url_of(live), cwd=tmp_path)
    assert run.code == 2
    assert "is in use by another okno process" in run.err

    run = await okno("restore", "--force", str(backup), database_url=url_of(live), cwd=tmp_path)
    assert run.code == 0, run.err
    assert sound(live)

    not_okno = tmp_path / "other.db"
    with closing(sqlite3.connect(not_okno)) as connection:
        connection.execute("CREATE TABLE t (x)")
    run = await okno("restore", "--force", str(not_okno), database_url=url_of(live), cwd=tmp_path)
    assert run.code == 2
    assert "is not an Okno database" in run.err


def test_backup_refuses_to_replace_a_file_or_the_database_itself(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    with closing(sqlite3.connect(live)) as connection:
        connection.execute("CREATE TABLE t (x)")
    taken = tmp_path / "taken.db"
    taken.write_bytes(b"keep me")
    with pytest.raises(BackupError, match="exists: --force replaces it"):
        backup_sqlite(live, taken)
    assert taken.read_bytes() == b"keep me"
    with pytest.raises(BackupError, match="the database itself"):
        backup_sqlite(live, live, force=True)
    backup_sqlite(live, taken, force=True)
    assert sound(taken)


async def test_backup_and_restore_on_postgresql_name_pg_dump_and_pg_restore(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://okno:s3cret@127.0.0.1:5432/okno"
    run = await okno("backup", str(tmp_path / "x.dump"), database_url=url, cwd=tmp_path)
    assert run.code == 2
    assert "pg_dump --format=custom" in run.err and "README" in run.err
    assert "s3cret" not in run.err
    run = await okno("restore", str(tmp_path / "x.dump"), database_url=url, cwd=tmp_path)
    assert run.code == 2
    assert "pg_restore" in run.err
