"""`okno check-config` and `okno accounts retire NAME`.

``okno check-config [--config FILE]`` reads the configuration as `okno run` would and says what is wrong,
without starting anything: one line per mistake naming the file, the account and the key (exit code 1),
else ``ok`` (exit code 0). If the database exists it is asked too, for an account whose configured kind
differs from the one its history was made with.

``okno accounts retire NAME`` retires a channel account (see :mod:`inbox.channel_accounts`): no connector
runs for it any more, its history stays (under ``NAME~retired-ID``), and its name is free for a new
account of another kind. On SQLite it is refused while a hub runs on the file; on PostgreSQL restart the
hub processes after it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tomllib
from typing import Any

from pydantic import ValidationError

from hub import config_check, db
from hub.cli import (
    EXIT_OK,
    EXIT_REFUSED,
    CliError,
    database_errors,
    describe,
    safe_url,
    settings_from,
    sqlite_file,
    sqlite_lock,
)
from hub.settings import Settings


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args)
    except (CliError, ValidationError, tomllib.TOMLDecodeError, FileNotFoundError) as exc:
        print(describe(exc), flush=True)
        return EXIT_REFUSED
    found = config_check.problems(settings)
    source = config_check.source_of(settings)
    note = None
    if not found:
        try:
            found = asyncio.run(_kind_problems(settings))
        except Exception as exc:  # an unreachable database: the file itself is still checked
            note = f"database not checked: {describe(exc)}"
    for problem in found:
        print(problem.line(source), flush=True)
    if found:
        return EXIT_REFUSED
    print(f"ok: {source}" + (f" ({note})" if note else ""), flush=True)
    return EXIT_OK


async def _kind_problems(settings: Settings) -> list[config_check.Problem]:
    path = sqlite_file(settings.database_url)
    if path is not None and not path.exists():
        return []  # checking must not create the database
    engine = db.create_engine(settings.database_url)
    try:
        return await config_check.kind_problems(db.sessionmaker(engine), settings)
    finally:
        await engine.dispose()


def cmd_accounts_retire(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    with sqlite_lock(settings.database_url):  # not under a running hub (SQLite)
        return asyncio.run(_retire(settings, args.name))


async def _retire(settings: Settings, name: str) -> int:
    from inbox.channel_accounts import RetireError, retire

    with database_errors(settings.database_url):
        engine = db.create_engine(settings.database_url)
        try:
            await db.migrate(engine)
            async with db.sessionmaker(engine)() as session:
                try:
                    row = await retire(session, name)
                except RetireError as exc:
                    raise CliError(str(exc)) from exc
                await session.commit()
                kind, new_name = row.kind, row.name
        finally:
            await engine.dispose()
    print(
        f"account {name!r} ({kind}) retired in {safe_url(settings.database_url)}: its history stays under "
        f"{new_name!r}; the name {name!r} is free for a new account",
        flush=True,
    )
    if name in settings.accounts:
        kind = settings.accounts[name].kind
        print(
            f"[accounts.{name}] is still configured: the next start makes a new {kind} account of that name",
            file=sys.stderr,
            flush=True,
        )
    return EXIT_OK


def register(commands: Any) -> None:
    check = commands.add_parser(
        "check-config",
        help="say what is wrong in the configuration, without starting (exit code 1 if anything)",
    )
    check.set_defaults(func=cmd_check_config)
    accounts = commands.add_parser("accounts", help="channel accounts kept in the database")
    actions = accounts.add_subparsers(dest="action", metavar="ACTION", required=True)
    retire = actions.add_parser(
        "retire",
        help="retire an account: no connector runs, its history stays, its name is free for another kind",
    )
    retire.add_argument("name", metavar="NAME")
    retire.set_defaults(func=cmd_accounts_retire)
