"""Backup and restore of a SQLite database, with SQLite's online backup API (``sqlite3.Connection.backup``).

:func:`backup_sqlite` copies the database in one backup step: one read transaction on the source, so
the copy is the database as of one moment — every transaction committed before it, none half — while
the hub keeps running (in WAL mode readers and the writer do not wait for each other). The copy is
written beside the target, checked (``PRAGMA quick_check``), made a single self-contained file (journal
mode DELETE) and renamed into place, so a target is never a half-written file.

:func:`restore_sqlite` checks that the file is an intact Okno database, then writes it into the target
through the same API (one transaction on the target: it holds the old content or the new). The caller
makes sure no hub runs on the target (``okno restore`` holds the hub's lock file:
:func:`hub.cli.sqlite_lock`).

PostgreSQL has its own tools (pg_dump / pg_restore; README "Backup and restore").
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_SECONDS = 30.0  # how long a step waits for a lock (a checkpoint of the running hub, say)


class BackupError(Exception):
    """A backup or restore refused or failed, with a line a person can act on."""


@dataclass(frozen=True, slots=True)
class Copied:
    path: Path
    size: int
    revision: str | None  # the Alembic revision the copy is at (None: no Okno schema)


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(16) == SQLITE_HEADER


@contextlib.contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None)
    try:
        yield connection
    finally:
        connection.close()


def _check(connection: sqlite3.Connection, what: Path) -> str | None:
    """``quick_check`` of an open database, and its Alembic revision (None: no Okno schema)."""
    found = connection.execute("PRAGMA quick_check").fetchone()
    if found is None or found[0] != "ok":
        raise BackupError(f"{what} is damaged (quick_check: {found[0] if found else 'no answer'})")
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return str(row[0]) if row else None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup_sqlite(source: Path, target: Path, *, force: bool = False) -> Copied:
    """Copy the SQLite database `source` (a hub may be running on it) to `target`; `force` replaces an
    existing `target`."""
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    if not _is_sqlite(source):
        raise BackupError(f"{source} is not a SQLite database")
    if target.exists() and target.resolve() == source.resolve():
        raise BackupError(f"{target} is the database itself: give another file")
    if target.is_dir():
        raise BackupError(f"{target} is a directory: give a file name")
    if target.exists() and not force:
        raise BackupError(f"{target} exists: --force replaces it")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    try:
        with _connect(source) as src, _connect(partial) as dst:
            src.backup(dst)  # one step: one read transaction, one moment of the database
            dst.execute("PRAGMA journal_mode=DELETE")  # a single file, no -wal beside it
            revision = _check(dst, partial)
        with partial.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(partial, target)
        _fsync_dir(target.parent)
    except sqlite3.Error as exc:
        raise BackupError(f"backup of {source} failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return Copied(target, target.stat().st_size, revision)


def restore_sqlite(backup: Path, target: Path, *, force: bool = False) -> Copied:
    """Write the backup `backup` into the database `target`; an existing database is replaced only with
    `force`. No hub may run on `target` meanwhile (the caller holds its lock)."""
    if not backup.is_file():
        raise BackupError(f"no backup at {backup}")
    if not _is_sqlite(backup):
        raise BackupError(f"{backup} is not a SQLite database")
    if target.exists() and target.resolve() == backup.resolve():
        raise BackupError(f"{backup} is the database itself")
    if target.exists() and target.stat().st_size > 0 and not force:
        raise BackupError(
            f"the database {target} exists: --force replaces it with the backup "
            "(take a backup of it first if it may still be needed)"
        )
    try:
        with _connect(backup) as src:
            revision = _check(src, backup)
            if revision is None:
                raise BackupError(f"{backup} is not an Okno database (it has no schema revision)")
            target.parent.mkdir(parents=True, exist_ok=True)
            with _connect(target) as dst:
                src.backup(dst)  # one transaction on the target: the old content or the new
                _check(dst, target)
    except sqlite3.Error as exc:
        raise BackupError(f"restore into {target} failed: {exc}") from exc
    return Copied(target, target.stat().st_size, revision)
