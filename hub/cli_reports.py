"""`okno report` and `okno import history`: managers' figures on the command line, and history brought in
from another system (or a scripted week) at its own times.

Registered by :func:`hub.cli.build_parser`; the work is in :mod:`inbox.reports` and :mod:`inbox.history`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import Any

from hub import db
from hub.report_csv import to_csv

FORMATS = ("json", "csv")


def register(commands: Any) -> None:
    """Add the two commands to `okno`'s sub-command parser."""
    from inbox.reports.build import GROUPS, REPORTS

    report = commands.add_parser(
        "report",
        help="print a report (first_response, reply_time, resolution, calls, volume, leads) as JSON or CSV",
        description="Dates are inclusive, in the configured time zone ([business_hours] timezone).",
    )
    report.add_argument("name", choices=REPORTS, metavar="NAME", help=", ".join(REPORTS))
    report.add_argument("--from", dest="start", required=True, type=_date, metavar="DATE", help="YYYY-MM-DD")
    report.add_argument("--to", dest="end", required=True, type=_date, metavar="DATE", help="YYYY-MM-DD")
    report.add_argument("--by", choices=GROUPS, help="one row per agent, team, channel, day, hour, …")
    report.add_argument("--team", metavar="NAME", help="only this team")
    report.add_argument("--channel", metavar="KIND", help="only this channel kind (email, telegram, …)")
    report.add_argument("--agent", metavar="EMAIL", help="only this agent")
    report.add_argument("--business-hours", action="store_true", help="durations in working time")
    report.add_argument("--format", choices=FORMATS, default="json")
    report.add_argument("--delimiter", default=",", help="CSV delimiter (';' for Excel in Russian locales)")
    report.set_defaults(func=cmd_report)

    imports = commands.add_parser("import", help="import data from another system")
    what = imports.add_subparsers(dest="what", metavar="WHAT", required=True)
    history = what.add_parser(
        "history",
        help="conversations from JSON Lines files, at their own times (see docs/reports.md)",
        description="One event per line. A bad line is reported as FILE:LINE: reason on stderr and the "
        "rest is imported (exit code 1), but for the later lines of its conversation, held back until the "
        "file is imported again with the line fixed. Importing a file again adds nothing.",
    )
    history.add_argument("files", metavar="FILE", nargs="+")
    history.set_defaults(func=cmd_import_history)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def cmd_report(args: argparse.Namespace) -> int:
    from hub.cli import CliError, settings_from

    if len(args.delimiter) != 1:
        raise CliError("--delimiter must be one character")
    settings = settings_from(args)
    return asyncio.run(_report(settings, args))


async def _report(settings: Any, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from hub.cli import EXIT_OK, CliError, database_errors
    from inbox.models import Agent, Team
    from inbox.reports.build import ReportError, ReportRequest, build_report

    with database_errors(settings.database_url):
        engine = db.create_engine(settings.database_url)
        try:
            await db.migrate(engine)
            async with db.sessionmaker(engine)() as session:
                team_ids = agent_id = None
                if args.team:
                    team = await session.scalar(select(Team.id).where(Team.name == args.team))
                    if team is None:
                        raise CliError(f"--team: no team named {args.team!r}")
                    team_ids = frozenset({team})
                if args.agent:
                    agent_id = await session.scalar(select(Agent.id).where(Agent.email == args.agent.lower()))
                    if agent_id is None:
                        raise CliError(f"--agent: no agent with e-mail {args.agent!r}")
                try:
                    request = ReportRequest(
                        name=args.name,
                        start=args.start,
                        end=args.end,
                        timezone=settings.business_hours.timezone,
                        by=args.by,
                        team_ids=team_ids,
                        channel=args.channel,
                        agent_id=agent_id,
                        business_hours=args.business_hours,
                    )
                    report = await build_report(
                        session, request, sla=settings.sla_book(), hours=settings.calendars()
                    )
                except ReportError as exc:
                    raise CliError(f"--{exc.field}: {exc}" if exc.field else str(exc)) from exc
        finally:
            await engine.dispose()
    if args.format == "csv":
        sys.stdout.write(to_csv(report.to_dict()["rows"], args.delimiter))
    else:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    return EXIT_OK


def cmd_import_history(args: argparse.Namespace) -> int:
    from hub.cli import settings_from

    sources: list[tuple[str, list[str] | str]] = []
    for path in args.files:  # read before the event loop starts: a CLI's files, read once
        try:
            # utf-8-sig: a file saved with a byte-order mark (Notepad, PowerShell) reads like one without
            with open(path, encoding="utf-8-sig") as handle:
                sources.append((path, handle.readlines()))
        except (OSError, UnicodeDecodeError) as exc:
            sources.append((path, str(getattr(exc, "strerror", None) or exc)))
    return asyncio.run(_import_history(settings_from(args), sources))


async def _import_history(settings: Any, sources: Sequence[tuple[str, list[str] | str]]) -> int:
    from hub.cli import EXIT_OK, EXIT_REFUSED, database_errors
    from hub.runtime import Hub
    from inbox.history import HistoryError, HistoryImport, parse_line, repeated

    with database_errors(settings.database_url):
        hub = Hub(settings)
    bad = imported = duplicates = 0
    try:
        with database_errors(settings.database_url):
            await db.migrate(hub.engine)
            await hub.sync_accounts()
        importer = HistoryImport(settings.policy())
        # A conversation whose line was refused takes none of its later lines in this run: applied after
        # them on a run that takes it, it would land out of time order (the waits follow the file's order).
        held: dict[str, str] = {}
        for path, lines in sources:
            if isinstance(lines, str):
                print(f"{path}: {lines}", file=sys.stderr, flush=True)
                bad += 1
                continue
            seen: Counter[str] = Counter()  # a line the file repeats is an event each time
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                key = None
                try:
                    event, digest = parse_line(line)
                    key = event.conversation
                    seen[digest] += 1
                    digest = repeated(digest, seen[digest])
                    if key in held:
                        raise HistoryError(
                            f"held back: {held[key]} of conversation {key!r} was refused (the lines after it "
                            "wait for it: import the file again once it is fixed)"
                        )
                    async with hub.sessionmaker() as session:
                        applied = await importer.apply(session, event, digest)
                except HistoryError as exc:
                    print(f"{path}:{number}: {exc}", file=sys.stderr, flush=True)
                    bad += 1
                    key = key or exc.conversation
                    if key is not None:
                        held.setdefault(key, f"{path}:{number}")
                    continue
                if applied.duplicate:
                    duplicates += 1
                else:
                    imported += 1
    finally:
        await hub.stop()
    summary = {"imported": imported, "already_imported": duplicates, "refused": bad}
    print(json.dumps(summary), flush=True)
    return EXIT_REFUSED if bad else EXIT_OK
