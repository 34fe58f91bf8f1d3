"""hub.db: the SQLite write-ahead log copied into the database file by a thread of its own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hub import db
from tests.waiting import eventually


async def test_the_write_ahead_log_is_copied_into_the_database_file_while_its_writer_stays_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wal.db"
    writer = sqlite3.connect(path, isolation_level=None)
    checkpoints = db.Checkpoints(path, every=0.01)
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")  # the writer's commits never copy it themselves
        writer.execute("CREATE TABLE t (v TEXT NOT NULL)")
        for i in range(50):
            writer.execute("INSERT INTO t (v) VALUES (?)", (f"row {i}",))
        checkpoints.start()
        await eventually(
            lambda: checkpoints.log_pages > 0 and checkpoints.copied_pages == checkpoints.log_pages,
            "every page of the log copied into the database file",
        )
    finally:
        await checkpoints.stop()
        writer.close()
    assert db.sqlite_file(f"sqlite+aiosqlite:///{path}") == path
    assert db.sqlite_file("sqlite+aiosqlite:///:memory:") is None
