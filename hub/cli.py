"""The `okno` command: `demo`, `run`, `migrate`, `create-agent` and `ingest`; `report` and `import history`
(:mod:`hub.cli_reports`), `quarantine` (:mod:`hub.cli_quarantine`), `templates` (:mod:`hub.templates_cli`),
`check-config` and `accounts retire` (:mod:`hub.cli_config`), `backup` and `restore` (:mod:`hub.cli_backup`),
`migrate-data` (:mod:`hub.cli_migrate_data`) are registered from their own modules.

`okno run` stops before it starts anything on a configuration mistake (:mod:`hub.config_check`: one line
naming the file, the account and the key), holds ``DB.lock`` next to a SQLite database for its lifetime
(a second process on the file is refused), and binds its port before it touches the database; so does
`okno demo`, which replaces only a database it created itself (marked in the SQLite header) unless
``--force``.

Every command reads its settings the same way (config/okno.toml, then `--config FILE` or OKNO_CONFIG,
then OKNO_* environment variables). Anything that goes wrong is reported as one line on stderr with exit
code 2, never a traceback (`--debug` shows it); `okno ingest` exits with 1 when it refused some files but
ingested the others (what it refused is in the quarantine), `okno quarantine retry` when some items stay.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import gc
import getpass
import json
import logging
import os
import secrets
import signal
import socket
import sqlite3
import sys
import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from hub import config_check, db, logs
from hub.collector import SurvivorFreeze
from hub.logs import LogFormat
from hub.settings import AccountSettings, Settings, load

if TYPE_CHECKING:
    from aiohttp import web

    from channels.base import AccountContext, FileParser, InboundItem
    from hub.runtime import Hub

log = logging.getLogger("okno")

EXIT_OK = 0
EXIT_REFUSED = 1  # `ingest`: some files or items were refused, the others were ingested
EXIT_ERROR = 2
DEMO_DB = Path("var") / "demo.db"
DEMO_API_ACCOUNT = "demo-api"
DEMO_WEBCHAT_ACCOUNT = "demo-webchat"
INGEST_WINDOW = 1000  # items handed to the ingest queue at once (they share transactions)
ROLES = ("agent", "supervisor", "admin")


class CliError(Exception):
    """An error shown as one line on stderr (exit code 2)."""


# ---------------------------------------------------------------------------------------------- helpers


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def describe(exc: BaseException) -> str:
    """One line a person can act on, for any error that reaches the top of a command."""
    if isinstance(exc, CliError | config_check.ConfigProblems):
        return str(exc)
    if isinstance(exc, ValidationError):
        return "invalid configuration: " + "; ".join(config_check.settings_errors(exc))
    if isinstance(exc, tomllib.TOMLDecodeError):
        return f"config file is not valid TOML: {_one_line(str(exc))}"
    if isinstance(exc, DBAPIError):
        return f"database error: {_one_line(str(exc.orig))}"
    if isinstance(exc, SQLAlchemyError):
        return f"database error: {_one_line(str(exc).split(chr(10))[0])}"
    if isinstance(exc, FileNotFoundError) and not exc.filename:
        return _one_line(str(exc))
    return f"{exc.__class__.__name__}: {_one_line(str(exc))}"


def safe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as given: it holds no usable secret
        return url


def settings_from(args: argparse.Namespace, **overrides: Any) -> Settings:
    config = args.config
    if config is None:
        from_env = os.environ.get("OKNO_CONFIG")
        if from_env and not Path(from_env).is_file():
            raise CliError(f"config file not found: {from_env} (from OKNO_CONFIG)")
    try:
        settings = load(config, **overrides)
    except ValidationError as exc:  # the line names the file as well as the key
        source = config or os.environ.get("OKNO_CONFIG") or "configuration (defaults and OKNO_* variables)"
        raise CliError(f"{source}: {describe(exc)}") from exc
    setup_logging(settings.log_level, debug=args.debug, fmt=settings.log.format)
    return settings


# Loggers kept above DEBUG even under --debug: aiosqlite's DEBUG lines carry every statement's
# parameters (CSRF tokens, visitor data), which no log may hold.
QUIET_LOGGERS = {"aiosqlite": logging.INFO}


def setup_logging(level: str, *, debug: bool = False, fmt: LogFormat = "text") -> None:
    """The root logger on stderr: `fmt` "text" (human-readable lines) or "json" (one object per line,
    with the request and item ids: :mod:`hub.logs`)."""
    name = "DEBUG" if debug else level.upper()
    if name not in logging.getLevelNamesMapping():
        raise CliError(f"invalid configuration: log_level: unknown level {level!r}")
    logs.configure(name, fmt)
    if name != "DEBUG":  # Alembic tells every start which dialect it uses: noise at INFO
        logging.getLogger("alembic").setLevel(logging.WARNING)
    for logger, floor in QUIET_LOGGERS.items():
        logging.getLogger(logger).setLevel(floor)


@contextlib.contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Turn "cannot open / connect to the database" into one clear line naming it (password hidden)."""
    try:
        yield
    except (DBAPIError, OSError) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        raise CliError(f"cannot use the database {safe_url(url)}: {_one_line(str(reason))}") from exc


def _web_app_factory() -> Callable[..., web.Application]:
    try:
        from hub.web.app import create_app
    except ImportError as exc:
        raise CliError(f"the web layer (hub.web) is not available: {exc}") from exc
    return create_app


def _display_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else "[::1]" if host == "::" else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def _reload_accounts(hub: Hub) -> None:
    """SIGHUP: read the configuration file again and apply what changed in the running accounts."""
    try:
        settings = load(hub.settings.config_file)
    except Exception as exc:  # a broken file must not stop the hub that is running on the good one
        log.error("configuration not reloaded: %s", _one_line(str(exc)))
        return
    found = config_check.problems(settings)
    if found:
        source = config_check.source_of(settings)
        for problem in found:
            log.error("configuration not reloaded: %s", problem.line(source))
        return
    changed = hub.apply_account_changes(settings)
    log.info("configuration reloaded: %s", ", ".join(changed) or "no account changed")


@contextlib.contextmanager
def _signals_set(stop: asyncio.Event, hub: Hub | None = None) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    handled = [signal.SIGINT, signal.SIGTERM]
    for sig in handled:
        loop.add_signal_handler(sig, stop.set)
    if hub is not None:
        loop.add_signal_handler(signal.SIGHUP, _reload_accounts, hub)
        handled.append(signal.SIGHUP)
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


class Listener:
    """The server's listening sockets — one per address `host` resolves to, as asyncio's own server would
    bind — bound before anything else happens: a port in use stops a command before it touches the
    database (a second `okno demo` must not replace the first one's). Port 0: one free port for all."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.sockets: list[socket.socket] = []
        try:
            found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
            for family, kind, proto, _, address in dict.fromkeys(found):
                sock = socket.socket(family, kind, proto)
                self.sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:  # "::" beside "0.0.0.0": each its own family
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                if port == 0 and len(self.sockets) > 1:
                    address = (address[0], self.port, *address[2:])
                sock.bind(address)
                sock.listen(128)  # listening: no other socket may bind the port any more
                sock.setblocking(False)
        except OSError as exc:
            self.close()
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc

    @property
    def port(self) -> int:
        return int(self.sockets[0].getsockname()[1])

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL (None: another database, or one in memory)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database)


@contextlib.contextmanager
def sqlite_lock(url: str) -> Iterator[None]:
    """Hold ``FILE.lock`` next to a SQLite database for as long as the command runs: a second hub process
    on the same file is refused (several processes are for PostgreSQL). The lock (flock) goes with the
    process, however it ends; the file stays, holding the last holder's pid."""
    path = sqlite_file(url)
    if path is None:
        yield
        return
    lock = path.with_name(path.name + ".lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise CliError(f"cannot use the database {path}: {exc.strerror or exc} ({lock})") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise CliError(
                f"the database {path} is in use by another okno process (pid {holder}; lock {lock}): "
                "one hub process per SQLite file — several processes need PostgreSQL"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


async def serve(hub: Hub, listener: Listener, banner: Callable[[str], None]) -> None:
    """Serve the web app (which starts and stops `hub`) on `listener` until SIGINT or SIGTERM."""
    from aiohttp import web

    create_app = _web_app_factory()
    stop = asyncio.Event()
    with _signals_set(stop, hub):
        app = create_app(hub)
        from hub.web.access_log import RUNNER_OPTIONS  # URLs logged without their secrets

        runner = web.AppRunner(app, handle_signals=False, **RUNNER_OPTIONS)
        try:
            await runner.setup()  # runs the app's startup: the hub starts (migrations, connectors)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await runner.cleanup()
            if isinstance(exc, DBAPIError | OSError):
                reason = exc.orig if isinstance(exc, DBAPIError) else exc
                url = safe_url(hub.settings.database_url)
                raise CliError(f"cannot start with the database {url}: {_one_line(str(reason))}") from exc
            raise
        # What is alive now (modules, mappers, the engine, the app) lives as long as the process: freeze it
        # out of the garbage collector's sight, so that the full collections that ingest bursts trigger stop
        # walking it (bench/ingest.py: about a quarter more messages per second).
        gc.collect()
        gc.freeze()
        # And what outlives each full collection from now on (the open sockets above all): see hub.collector.
        survivors = SurvivorFreeze(asyncio.get_running_loop())
        survivors.start()
        try:
            for sock in listener.sockets:
                await web.SockSite(runner, sock).start()
            banner(_display_url(listener.host, listener.port))
            await stop.wait()
            print("Stopping…", file=sys.stderr, flush=True)
        finally:
            survivors.stop()
            await runner.cleanup()  # stops the hub: connectors, outbox, ingest queue, engine


# ------------------------------------------------------------------------------------------------- run


def cmd_run(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    settings = settings_from(args, **overrides)
    config_check.check(settings)  # a mistake stops here, one line naming the file, the account and the key
    with sqlite_lock(settings.database_url), Listener(settings.host, settings.port) as listener:
        return asyncio.run(_run(settings, listener))


async def _run(settings: Settings, listener: Listener) -> int:
    from hub.runtime import Hub

    with database_errors(settings.database_url):
        hub = Hub(settings)
    with database_errors(settings.database_url):
        kinds = await config_check.kind_problems(hub.sessionmaker, settings)
    if kinds:
        await hub.engine.dispose()
        raise config_check.ConfigProblems(kinds, config_check.source_of(settings))

    def banner(url: str) -> None:
        print(f"Okno is running at {url} (database {safe_url(settings.database_url)})", flush=True)
        print("Press Ctrl+C to stop.", flush=True)

    await serve(hub, listener, banner)
    return EXIT_OK


# ------------------------------------------------------------------------------------------------ demo


SQLITE_HEADER = b"SQLite format 3\x00"
# The demo database's mark: SQLite's own "application id" in the file header (bytes 68-71), written when
# `okno demo` creates the file. Only a file that carries it is replaced without --force.
DEMO_APPLICATION_ID = int.from_bytes(b"OKDM", "big")


def _made_by_demo(path: Path) -> bool:
    with path.open("rb") as fh:
        header = fh.read(72)
    return len(header) == 72 and int.from_bytes(header[68:72], "big") == DEMO_APPLICATION_ID


def _remove_demo_database(path: Path, *, force: bool) -> None:
    """Delete a previous demo database (and its WAL files). Refuse anything that is not SQLite, and a
    SQLite database that `okno demo` did not create unless `force`."""
    if path.is_dir():
        raise CliError(f"--db {path}: is a directory")
    if path.exists() and path.stat().st_size > 0:
        with path.open("rb") as fh:
            header = fh.read(16)
        if header != SQLITE_HEADER:
            raise CliError(f"--db {path}: exists and is not a SQLite database; not replacing it")
        if not force and not _made_by_demo(path):
            raise CliError(
                f"--db {path}: a database that okno demo did not create; not replacing it "
                "(choose another --db, or add --force to replace it anyway)"
            )
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()


def _create_demo_database(path: Path) -> None:
    """An empty SQLite file carrying the demo's mark (migrations fill it next)."""
    connection = sqlite3.connect(path)
    try:
        connection.execute(f"PRAGMA application_id = {DEMO_APPLICATION_ID}")
        connection.commit()
    finally:
        connection.close()


def demo_accounts(token: str) -> dict[str, AccountSettings]:
    """The demo's configured accounts: the API channel, and a web chat open at any hour (its page is
    ``/demo/site``). The other demo accounts (e-mail, Telegram, VK, phone) exist only as rows with sample
    history: no connector runs for them, and a reply there fails at once as "demo: not connected"."""
    from hub.demo import SUPPORT

    return {
        DEMO_API_ACCOUNT: AccountSettings(kind="api", team=SUPPORT, token=token),
        DEMO_WEBCHAT_ACCOUNT: AccountSettings(
            kind="webchat", team=SUPPORT, hours="always", require_agent_online=False
        ),
    }


def cmd_demo(args: argparse.Namespace) -> int:
    path = Path(args.db)
    token = secrets.token_urlsafe(24)
    overrides: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{path.resolve()}",
        "accounts": demo_accounts(token),
    }
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    settings = settings_from(args, **overrides)
    # In this order, each step only once the one before is known to be good: the settings, the port (a
    # second demo that cannot listen touches nothing), the lock (no other process on this file), and only
    # then the old database goes.
    with Listener(settings.host, settings.port) as listener, sqlite_lock(settings.database_url):
        _remove_demo_database(path, force=args.force)
        path.parent.mkdir(parents=True, exist_ok=True)
        _create_demo_database(path)
        return asyncio.run(_demo(settings, path, token, listener))


async def _demo(settings: Settings, path: Path, token: str, listener: Listener) -> int:
    from hub import demo
    from hub.runtime import Hub

    with database_errors(settings.database_url):
        hub = Hub(settings)
        try:
            await db.migrate(hub.engine)
            await hub.sync_accounts()
            data = await demo.load_demo(hub.sessionmaker, hub.policy, api_account=DEMO_API_ACCOUNT)
        except BaseException:
            await hub.engine.dispose()
            raise
    hub.samples = {
        account_id: demo.DEMO_ACCOUNTS[name][0]
        for name, account_id in data.accounts.items()
        if name not in settings.accounts
    }
    hub.demo_site = DEMO_WEBCHAT_ACCOUNT

    def banner(url: str) -> None:
        lines = [
            f"Okno is running at {url}",
            "",
            f"DEMO — sample data in a fresh database: {path} (replaced by the next `okno demo`)",
            f"  {data.contacts} client cards, {data.conversations} conversations on "
            f"{', '.join(data.channel_kinds)}",
            "",
            f"  Log in at {url}login — demo logins (demo only: never reuse these passwords):",
        ]
        width = max(len(login.email) for login in data.logins)
        for login in data.logins:
            teams = ", ".join(login.teams) or "—"
            password = f"password: {login.password}"
            lines.append(f"    {login.role:<10}  {login.email:<{width}}  {password:<26}  teams: {teams}")
        lines += [
            "",
            f"  Chat as a visitor of a demo site: {url}demo/site — answer in the inbox (another window).",
            "  E-mail, Telegram, VK and phone are sample history: replies there fail as",
            '  "demo: not connected" (no mailbox, bot or PBX is connected).',
            "",
            f"  Generic API channel {DEMO_API_ACCOUNT!r} — token for this run only:",
            f"    {token}",
            "  Try it:",
            f"    curl -X POST {url}api/v1/channels/{DEMO_API_ACCOUNT}/messages \\",
            f"      -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\",
            '      -d \'{"external_id": "try-1", "sender": {"name": "Test", '
            '"email": "test@example.com"}, "text": "Hello!"}\'',
            "",
            "Press Ctrl+C to stop.",
        ]
        print("\n".join(lines), flush=True)

    await serve(hub, listener, banner)
    return EXIT_OK


# --------------------------------------------------------------------------------------------- migrate


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    return asyncio.run(_migrate(settings))


async def _migrate(settings: Settings) -> int:
    with database_errors(settings.database_url):
        engine = db.create_engine(settings.database_url)
        try:
            await db.migrate(engine)
            revision = await db.current_revision(engine)
        finally:
            await engine.dispose()
    print(f"database {safe_url(settings.database_url)} is at revision {revision}", flush=True)
    return EXIT_OK


# ---------------------------------------------------------------------------------------- create-agent


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise CliError("--password-stdin: no password on standard input")
        return password
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password on: give it with --password-stdin")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise CliError("the passwords do not match")
    return first


def cmd_create_agent(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    password = _read_password(args.password_stdin)
    return asyncio.run(_create_agent(settings, args.email, args.name, args.role, args.team or [], password))


async def _create_agent(
    settings: Settings, email: str, name: str, role: str, teams: Sequence[str], password: str
) -> int:
    from inbox.agents import AgentError, create_agent

    with database_errors(settings.database_url):
        engine = db.create_engine(settings.database_url)
        try:
            await db.migrate(engine)
            async with db.sessionmaker(engine)() as session:
                try:
                    agent = await create_agent(
                        session, email=email, name=name, password=password, role=role, team_names=teams
                    )
                except AgentError as exc:
                    raise CliError(f"{exc.field}: {exc}" if exc.field else str(exc)) from exc
                await session.commit()
                agent_id = agent.id
        finally:
            await engine.dispose()
    print(agent_id, flush=True)
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- ingest


@dataclass(frozen=True, slots=True)
class Entry:
    """One item read from a file, or why (a part of) the file was refused."""

    path: str
    item: InboundItem | None = None
    error: str | None = None
    raw: bytes | None = None  # what a refused part is stored with in the quarantine (none: nothing was read)
    position: str | None = None  # where in the file: the quarantine's idempotency key with the bytes


def _parser_for(channel: str) -> FileParser:
    """The channel's `parse_file`, or CliError ("channel 'email' not available yet", unknown channel)."""
    from channels.base import ChannelNotAvailable, file_parser

    try:
        return file_parser(channel)
    except ChannelNotAvailable as exc:
        raise CliError(str(exc)) from exc


def _entries(
    paths: Iterable[str], parse_file: FileParser, account: AccountContext, region: str
) -> Iterator[Entry]:
    from channels.base import PayloadError

    for path in paths:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            yield Entry(path, error=f"cannot read: {exc.strerror or exc}")
            continue
        where = os.path.abspath(path)  # the same file imported again is the same position
        number = 0
        try:
            for number, parsed in enumerate(parse_file(data, path, account=account, region=region), start=1):
                if isinstance(parsed, PayloadError):
                    raw = parsed.raw if parsed.raw is not None else data
                    yield Entry(
                        path, error=_one_line(str(parsed)), raw=raw, position=f"{where} item {number}"
                    )
                else:
                    yield Entry(path, item=parsed)
        except (PayloadError, ValueError, RecursionError) as exc:  # a parser that raised instead
            reason = _one_line(str(exc)) or exc.__class__.__name__
            yield Entry(path, error=reason, raw=data, position=f"{where} item {number + 1}")


async def _ingest_account(hub: Hub, kind: str, name: str | None) -> AccountContext:
    """--account NAME; else the only configured account of this kind; else a row named after the kind."""
    from channels.base import AccountContext
    from inbox.models import ChannelAccount

    configured = [c.context for c in hub.accounts.values() if c.context.kind == kind]
    if name is not None:
        for context in configured:
            if context.name == name:
                return context
    elif len(configured) == 1:
        return configured[0]
    elif len(configured) > 1:
        names = ", ".join(sorted(c.name for c in configured))
        raise CliError(f"several {kind} accounts are configured ({names}): choose one with --account")
    async with hub.sessionmaker() as session:
        row = await session.scalar(select(ChannelAccount).where(ChannelAccount.name == (name or kind)))
        if row is None and name is not None:
            known = ", ".join(c.name for c in configured) or "none configured"
            raise CliError(f"--account {name}: no such {kind} account ({known})")
        if row is None:
            row = ChannelAccount(name=kind, kind=kind)
            session.add(row)
            await session.commit()
            log.info("created channel account %r (kind %s) for the import", kind, kind)
        elif row.kind != kind:
            raise CliError(
                f"account {row.name!r} is a {row.kind} account, not {kind}: choose one with --account"
            )
        return AccountContext(id=row.id, name=row.name, kind=row.kind)


def _refusal(entry: Entry, account_id: int) -> InboundItem | None:
    """A refused part of a file as an item for the quarantine (None: nothing was read to keep)."""
    from channels.base import Refused

    if entry.raw is None or entry.error is None:
        return None
    return Refused(account_id, entry.raw, entry.error, entry.position)


def cmd_ingest(args: argparse.Namespace) -> int:
    parse_file = _parser_for(args.channel)  # before any database work: "not available yet" needs none
    settings = settings_from(args)
    return asyncio.run(_ingest(settings, args.channel, args.files, args.account, parse_file))


async def _ingest(
    settings: Settings, channel: str, files: Sequence[str], account_name: str | None, parse_file: FileParser
) -> int:
    from hub.runtime import Hub
    from inbox.calls import CallResult
    from inbox.conversation_marks import MarkResult
    from inbox.dispatch import UnsupportedItem
    from inbox.edits import EditResult
    from inbox.ingest import IngestError, IngestResult
    from inbox.quarantine import RefusedResult

    with database_errors(settings.database_url):
        hub = Hub(settings)
    refused = 0
    try:
        with database_errors(settings.database_url):
            await db.migrate(hub.engine)
            await hub.sync_accounts()
            account = await _ingest_account(hub, channel, account_name)
        await hub.ingest.start()

        async def flush(window: list[Entry]) -> None:
            """Hand a window of items in at once (they share transactions), then report them in order.

            A part the parser refused goes in too, as a Refused item: it is quarantined with its bytes, and
            the line printed is the reason stored.
            """
            nonlocal refused
            handed = [e.item or _refusal(e, account.id) for e in window]
            submitted = [hub.sink(item) for item in handed if item is not None]
            results = iter(await asyncio.gather(*submitted, return_exceptions=True))
            for entry, item in zip(window, handed, strict=True):
                result = next(results) if item is not None else None
                match result:
                    case None | IngestError() | UnsupportedItem():
                        refused += 1
                        reason = entry.error if entry.item is None else _one_line(str(result))
                        print(f"{entry.path}: {reason}", file=sys.stderr, flush=True)
                    case RefusedResult(reason=reason, quarantine_id=kept):
                        refused += 1
                        print(
                            f"{entry.path}: {_one_line(reason)} [quarantine #{kept}]",
                            file=sys.stderr,
                            flush=True,
                        )
                    case BaseException():
                        raise result
                    case IngestResult() | EditResult() | MarkResult() | CallResult():
                        print(json.dumps(result.to_dict(), ensure_ascii=False, default=str), flush=True)

        window: list[Entry] = []
        for entry in _entries(files, parse_file, account, settings.default_region):
            window.append(entry)
            if len(window) >= INGEST_WINDOW:
                await flush(window)
                window = []
        if window:
            await flush(window)
    finally:
        await hub.stop()
    return EXIT_REFUSED if refused else EXIT_OK


# ---------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="okno",
        description="Okno: one window onto every channel (e-mail, messengers, web chat, phone, API).",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="a TOML config file (default: the OKNO_CONFIG environment variable, else built-in defaults)",
    )
    parser.add_argument("--debug", action="store_true", help="debug logging; show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo", help="start a demo: a fresh SQLite database with sample data, and the server"
    )
    demo.add_argument("--host", help="address to listen on (default: host from the settings)")
    demo.add_argument("--port", type=int, help="port to listen on, 0 for any free one (default: settings)")
    demo.add_argument(
        "--db", default=str(DEMO_DB), help=f"the demo database file, replaced (default: {DEMO_DB})"
    )
    demo.add_argument(
        "--force", action="store_true", help="replace --db even if it is a database okno demo did not create"
    )
    demo.set_defaults(func=cmd_demo)

    run = commands.add_parser("run", help="run the hub: migrations, channel connectors and the web server")
    run.add_argument("--host", help="address to listen on (default: host from the settings)")
    run.add_argument("--port", type=int, help="port to listen on (default: port from the settings)")
    run.set_defaults(func=cmd_run)

    migrate = commands.add_parser("migrate", help="apply database migrations and print the revision")
    migrate.set_defaults(func=cmd_migrate)

    agent = commands.add_parser("create-agent", help="create an agent (a user of the web UI and API)")
    agent.add_argument("--email", required=True)
    agent.add_argument("--name", required=True)
    agent.add_argument("--role", choices=ROLES, default="agent")
    agent.add_argument("--team", action="append", metavar="TEAM", help="a team (created if new); repeatable")
    agent.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input (else prompt)"
    )
    agent.set_defaults(func=cmd_create_agent)

    ingest = commands.add_parser(
        "ingest",
        help="feed raw payload files through a channel's parser and the ingest pipeline",
        description="Prints one JSON line per ingested item: contact_id, conversation_id, message_id, "
        "duplicate. A file that cannot be taken gets one line on stderr and the exit code 1.",
    )
    ingest.add_argument("channel", metavar="CHANNEL", help="channel kind, e.g. api")
    ingest.add_argument("files", metavar="FILE", nargs="+")
    ingest.add_argument("--account", metavar="NAME", help="the channel account (default: the only one)")
    ingest.set_defaults(func=cmd_ingest)

    # Their own modules: reports and history import, and the quarantine, are concerns of their own.
    from hub import cli_backup, cli_config, cli_migrate_data, cli_quarantine, cli_reports

    cli_reports.register(commands)
    cli_config.register(commands)
    cli_backup.register(commands)
    cli_migrate_data.register(commands)

    from hub import templates_cli  # its own module, as cli_reports; imports this module's helpers

    templates_cli.register(commands)
    cli_quarantine.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"okno {args.command}: {describe(exc)}", file=sys.stderr)
        return EXIT_ERROR
    return code
