"""`okno migrate-data --from SQLITE --to POSTGRESQL_URL`: move a hub from SQLite to PostgreSQL.

The copy itself is :mod:`hub.migrate_data`. Here: the source's lock is held for the whole copy (a hub
running on the SQLite file is refused, and none can start on it meanwhile), progress goes to stderr one
line per batch, and the summary — every table's rows on both sides, the sequences moved — to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from hub.cli import EXIT_OK, CliError, database_errors, safe_url, settings_from, sqlite_lock
from hub.migrate_data import DEFAULT_BATCH, MigrateDataError, Summary, migrate_data, source_url, target_url


def _batch_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _summary(summary: Summary, source: str, target: str) -> str:
    width = max(len(t.name) for t in summary.tables)
    lines = [f"copied {source} into {target} (revision {summary.revision}):"]
    for table in summary.tables:
        lines.append(
            f"  {table.name:<{width}}  {table.source_rows:>10,} rows = {table.target_rows:>10,} "
            f"in the target ({table.seconds:.2f} s)"
        )
    lines.append(
        f"{len(summary.tables)} tables, {summary.rows:,} rows, counts equal on both sides; "
        f"{summary.sequences} sequences continue after the largest id; {summary.seconds:.1f} s"
    )
    if summary.left_out:
        lines.append(
            "not copied (SQLite's own; PostgreSQL's full-text indexes hold the copied rows): "
            + ", ".join(summary.left_out)
        )
    lines.append(
        "next: point database_url at the target (OKNO_DATABASE_URL) and start the hub; copy attachments_dir "
        "to where every hub process reads it"
    )
    return "\n".join(lines)


def cmd_migrate_data(args: argparse.Namespace) -> int:
    settings_from(args)  # logging as every command sets it up; a broken config file is named here too
    try:
        url, path = source_url(args.source)
        target = target_url(args.target)
    except MigrateDataError as exc:
        raise CliError(str(exc)) from exc
    with sqlite_lock(url):  # no hub may run on the source while it is copied, nor start meanwhile
        try:
            with database_errors(target):
                summary = asyncio.run(migrate_data(url, target, batch=args.batch_size, progress=_progress))
        except MigrateDataError as exc:
            raise CliError(str(exc)) from exc
    print(_summary(summary, str(path), safe_url(target)), flush=True)
    return EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "migrate-data",
        help="copy a SQLite database into a new, empty PostgreSQL database (moving to several processes)",
        description="Migrates the PostgreSQL database to the current schema, refuses one that already holds "
        "data, copies every table in batches (progress on stderr), moves the sequences past the copied ids, "
        "and compares the row counts of every table. Stop the hub first: the SQLite file must not be in use.",
    )
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="SQLITE",
        help="the SQLite database: its file (var/okno.db) or URL (sqlite+aiosqlite:///var/okno.db)",
    )
    parser.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="POSTGRESQL_URL",
        help="the new, empty PostgreSQL database, e.g. postgresql://okno@127.0.0.1/okno",
    )
    parser.add_argument(
        "--batch-size",
        type=_batch_size,
        default=DEFAULT_BATCH,
        metavar="N",
        help=f"rows read and written at a time (default {DEFAULT_BATCH})",
    )
    parser.set_defaults(func=cmd_migrate_data)
