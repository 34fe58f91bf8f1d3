"""`okno templates import|suggest|search`: the knowledge base from the command line (migration, scripts).

- ``import FILE``: a JSON or YAML list of ``{key, title, body, language?, tags?, channels?}``; each entry
  is created, or updated by key, in a transaction of its own, and printed as one JSON line
  ``{"index", "key", "id", "result"}``. A bad entry is reported on stderr with its index and the reason,
  the rest are imported, and the exit code is then 1.
- ``suggest [--limit N] [--language L] [--channel C] TEXT…``: one JSON line per TEXT,
  ``{"text", "suggestions": [{"key", "title", "score"}, …]}``, best first (the language of each text
  unless --language is given); use breaks near-ties, as in the UI.
- ``search QUERY``: the ranking the UI's search uses, one JSON line per template.
All three migrate the database first and, on a fresh one, load the shipped templates (as `okno run`
would), so they work on a new installation. Only shared templates are considered (there is no agent).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub import db
from hub.cli import EXIT_OK, EXIT_REFUSED, CliError, database_errors, settings_from
from hub.runtime import load_reply_templates
from hub.settings import Settings
from inbox.knowledge.index_cache import IndexCache
from inbox.knowledge.search import USE_CANDIDATES, Hit, visible_to, with_use
from inbox.knowledge.suggest import suggest
from inbox.knowledge.templates import KnowledgeError, TemplateInput, import_one, validate
from inbox.models import utcnow


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    with database_errors(settings.database_url):
        engine = db.create_engine(settings.database_url)
        try:
            await db.migrate(engine)
            sessionmaker = db.sessionmaker(engine)
            if settings.knowledge.load_defaults:
                await load_reply_templates(sessionmaker)
            yield sessionmaker
        finally:
            await engine.dispose()


def read_entries(path: Path) -> list[Any]:
    """The list in a JSON (.json) or YAML file; CliError if the file is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from exc
    try:
        raw = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        raise CliError(f"{path} is not valid {kind}: {' '.join(str(exc).split())}") from exc
    if not isinstance(raw, list):
        raise CliError(f"{path}: expected a list of templates, found {type(raw).__name__}")
    return raw


def _entry(raw: Any) -> TemplateInput:
    if not isinstance(raw, dict):
        raise KnowledgeError(f"expected an object with key, title and body, found {type(raw).__name__}")
    data = TemplateInput.from_mapping(raw)
    validate(data)  # the CPU part (the body rendered against sample data) before any transaction
    return data


def cmd_import(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    entries = read_entries(Path(args.file))
    return asyncio.run(_import(settings, entries))


async def _import(settings: Settings, entries: Sequence[Any]) -> int:
    refused = 0
    async with _database(settings) as sessionmaker:
        for index, raw in enumerate(entries):
            key = raw.get("key") if isinstance(raw, dict) else None
            try:
                data = _entry(raw)
                async with sessionmaker() as session:
                    template, result = await import_one(session, data, actor=None)
                    await session.commit()
            except KnowledgeError as exc:
                refused += 1
                where = f"entry {index}" + (f" ({key})" if isinstance(key, str) else "")
                field = f"{exc.field}: " if exc.field and not str(exc).startswith(exc.field) else ""
                print(f"{where}: {field}{exc}", file=sys.stderr, flush=True)
                continue
            line = {"index": index, "key": template.key, "id": template.id, "result": result}
            print(json.dumps(line, ensure_ascii=False), flush=True)
    return EXIT_REFUSED if refused else EXIT_OK


def _hits(hits: Sequence[Hit]) -> list[dict[str, Any]]:
    return [{"key": h.template.key, "title": h.template.title, "score": h.score} for h in hits]


def cmd_suggest(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    return asyncio.run(_suggest(settings, args.texts, args.limit, args.language, args.channel))


async def _suggest(
    settings: Settings, texts: Sequence[str], limit: int, language: str | None, channel: str | None
) -> int:
    async with _database(settings) as sessionmaker:
        index = await IndexCache(sessionmaker).index()
    now = utcnow()
    for text in texts:
        candidates = suggest(index, text, language=language, channel=channel, limit=limit + USE_CANDIDATES)
        hits = with_use(candidates, now=now, limit=limit)
        print(json.dumps({"text": text, "suggestions": _hits(hits)}, ensure_ascii=False), flush=True)
    return EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    return asyncio.run(_search(settings, args.query, args.limit, args.language))


async def _search(settings: Settings, query: str, limit: int, language: str | None) -> int:
    async with _database(settings) as sessionmaker:
        index = await IndexCache(sessionmaker).index()
    candidates = index.search(query, limit=limit + USE_CANDIDATES, accept=visible_to(None, language=language))
    for hit in with_use(candidates, now=utcnow(), limit=limit):
        line = {"key": hit.template.key, "title": hit.template.title, "language": hit.template.language}
        print(json.dumps(line | {"score": hit.score}, ensure_ascii=False), flush=True)
    return EXIT_OK


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def register(commands: Any) -> None:
    """`okno templates …` (`commands`: the main parser's sub-parsers)."""
    templates = commands.add_parser("templates", help="the knowledge base's reply templates")
    sub = templates.add_subparsers(dest="templates_command", metavar="ACTION", required=True)

    imp = sub.add_parser(
        "import",
        help="create or update (by key) templates from a JSON or YAML list",
        description="Prints one JSON line per imported template; a bad entry is reported on stderr with "
        "its index and reason (exit code 1), the others are imported.",
    )
    imp.add_argument("file", metavar="FILE")
    imp.set_defaults(func=cmd_import)

    sug = sub.add_parser(
        "suggest",
        help="the best templates for each customer message TEXT (one JSON line each)",
    )
    sug.add_argument("texts", metavar="TEXT", nargs="+")
    sug.add_argument("--limit", type=_positive, default=3, metavar="N", help="suggestions per text (3)")
    sug.add_argument("--language", choices=("ru", "en"), help="default: the language of each text")
    sug.add_argument("--channel", metavar="KIND", help="only templates suiting this channel kind")
    sug.set_defaults(func=cmd_suggest)

    search = sub.add_parser("search", help="search templates as the UI does (one JSON line per template)")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("--limit", type=_positive, default=10, metavar="N")
    search.add_argument("--language", choices=("ru", "en"))
    search.set_defaults(func=cmd_search)
