"""`okno backup FILE` and `okno restore FILE` (SQLite; see :mod:`hub.backup`).

``okno backup FILE`` copies the configured SQLite database to FILE while the hub may keep running (the
copy is the database as of one moment); an existing FILE is replaced only with ``--force``.
``okno restore FILE`` writes a backup into the configured database: refused while a hub runs on it
(its lock file is held), and refused over an existing database without ``--force``. A restored database
older than the code is migrated by the next ``okno run`` / ``okno migrate``.

On PostgreSQL both say which tools to use instead (pg_dump and pg_restore; README "Backup and restore").
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from hub.backup import BackupError, Copied, backup_sqlite, restore_sqlite
from hub.cli import EXIT_OK, CliError, safe_url, settings_from, sqlite_file, sqlite_lock

PG_BACKUP = "pg_dump --format=custom --file=FILE DBNAME"
PG_RESTORE = "pg_restore --clean --if-exists --no-owner --dbname=DBNAME FILE"


def _database_file(url: str, action: str) -> Path:
    path = sqlite_file(url)
    if path is not None:
        return path
    backend = make_url(url).get_backend_name()
    if backend == "postgresql":
        tool = PG_BACKUP if action == "backup" else PG_RESTORE
        raise CliError(
            f"okno {action} works on SQLite; the database {safe_url(url)} is PostgreSQL: use its own tools "
            f'while the hub runs, e.g. `{tool}` (README "Backup and restore")'
        )
    raise CliError(f"okno {action} works on a SQLite database file, not {safe_url(url)}")


def _size(copied: Copied) -> str:
    return f"{copied.size / 1024:,.0f} KiB, revision {copied.revision or 'none'}"


def cmd_backup(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    source = _database_file(settings.database_url, "backup")
    try:
        copied = backup_sqlite(source, Path(args.file), force=args.force)
    except BackupError as exc:
        raise CliError(str(exc)) from exc
    print(f"backup of {source} written to {copied.path} ({_size(copied)})", flush=True)
    return EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    target = _database_file(settings.database_url, "restore")
    with sqlite_lock(settings.database_url):  # no hub may run on it meanwhile, nor start
        try:
            copied = restore_sqlite(Path(args.file), target, force=args.force)
        except BackupError as exc:
            raise CliError(str(exc)) from exc
    print(
        f"restored {args.file} into {target} ({_size(copied)}); `okno run` migrates it if the code is newer",
        flush=True,
    )
    return EXIT_OK


def register(commands: Any) -> None:
    backup = commands.add_parser(
        "backup",
        help="copy the SQLite database to FILE while the hub runs (PostgreSQL: pg_dump, see README)",
        description="Copies the configured SQLite database with SQLite's online backup API: the copy is "
        "the database as of one moment, taken while the hub keeps running. Attachment files "
        "(attachments_dir) are not in it: copy that directory after the backup.",
    )
    backup.add_argument("file", metavar="FILE", help="the backup file to write")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")
    backup.set_defaults(func=cmd_backup)

    restore = commands.add_parser(
        "restore",
        help="replace the SQLite database with a backup FILE (not while a hub runs on it)",
        description="Writes a backup made by `okno backup` into the configured SQLite database. Refused "
        "while a hub runs on the database, and over an existing database without --force.",
    )
    restore.add_argument("file", metavar="FILE", help="a backup made by `okno backup`")
    restore.add_argument("--force", action="store_true", help="replace an existing database")
    restore.set_defaults(func=cmd_restore)
