"""`okno quarantine list` and `okno quarantine retry`: what the channels could not take, and retrying it
through today's parsers (a fix may be a new release or a changed account option).

Registered by :func:`hub.cli.build_parser`; the work is in :mod:`inbox.quarantine` (what leaves the
quarantine, what stays, the audit row) and :mod:`hub.quarantine` (the parser and account of each item).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from hub import db

if TYPE_CHECKING:
    from hub.runtime import Hub
    from hub.settings import Settings


def register(commands: Any) -> None:
    """Add `quarantine` to `okno`'s sub-command parser."""
    kept = commands.add_parser(
        "quarantine",
        help="list what the channels could not take, or retry it through today's parsers",
        description="list: one JSON line per quarantined item, newest first. retry: each item through its "
        "channel's parser of today (and its account's options); one that parses is ingested and leaves "
        "the quarantine, one that still fails stays with the new reason (exit code 1).",
    )
    kept.add_argument("action", choices=("list", "retry"))
    kept.add_argument("ids", metavar="ID", nargs="*", type=int, help="retry: these items")
    kept.add_argument("--account", metavar="NAME", help="only this channel account's items")
    kept.add_argument("--all", action="store_true", help="retry: every item")
    kept.add_argument("--limit", type=int, default=200, help="list: at most this many (default: 200)")
    kept.set_defaults(func=cmd_quarantine)


def cmd_quarantine(args: argparse.Namespace) -> int:
    from hub.cli import CliError, settings_from

    if args.action == "retry" and not (args.ids or args.account or args.all):
        raise CliError("say what to retry: quarantine IDs, --account NAME or --all")
    if args.action == "list" and args.ids:
        raise CliError("list takes no IDs (filter with --account NAME)")
    settings = settings_from(args)
    return asyncio.run(_quarantine(settings, args))


async def _account_id(hub: Hub, name: str | None) -> int | None:
    """--account NAME → its id (CliError when there is no such account)."""
    from hub.cli import CliError
    from inbox.models import ChannelAccount

    if name is None:
        return None
    async with hub.sessionmaker() as session:
        account_id = await session.scalar(select(ChannelAccount.id).where(ChannelAccount.name == name))
    if account_id is None:
        raise CliError(f"--account {name}: no such channel account")
    return int(account_id)


async def _quarantine(settings: Settings, args: argparse.Namespace) -> int:
    """`list`: one JSON line per item (newest first); `retry`: one JSON line per item with its outcome,
    exit code 1 when any stays refused."""
    from hub import quarantine as retrying
    from hub.cli import EXIT_OK, EXIT_REFUSED, database_errors
    from hub.runtime import Hub
    from inbox import quarantine
    from inbox.models import ChannelAccount

    with database_errors(settings.database_url):
        hub = Hub(settings)
    still = 0
    try:
        with database_errors(settings.database_url):
            await db.migrate(hub.engine)
            await hub.sync_accounts()
            account_id = await _account_id(hub, args.account)
        async with hub.sessionmaker() as session:
            names = dict(
                (await session.execute(select(ChannelAccount.id, ChannelAccount.name))).tuples().all()
            )
            if args.action == "list":
                for item in await quarantine.list_items(session, account_id=account_id, limit=args.limit):
                    row = {**quarantine.to_dict(item), "account": names.get(item.account_id)}
                    print(json.dumps(row, ensure_ascii=False), flush=True)
                return EXIT_OK
        await hub.ingest.start()
        outcomes = await retrying.retry(hub, [int(i) for i in args.ids], account_id=account_id)
        for outcome in outcomes:
            still += outcome.status != "ingested"
            row = {**outcome.to_dict(), "account": names.get(outcome.account_id)}
            print(json.dumps(row, ensure_ascii=False, default=str), flush=True)
        missing = sorted({int(i) for i in args.ids} - {o.id for o in outcomes})
        for item_id in missing:
            still += 1
            print(f"quarantine #{item_id}: no such item", file=sys.stderr, flush=True)
    finally:
        await hub.stop()
    return EXIT_REFUSED if still else EXIT_OK
