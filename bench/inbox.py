"""Inbox benchmark: the agent's requests on a hub of 100,000 conversations / 300,000 messages, on SQLite and
PostgreSQL in one run, against the same SQL hand-written on the bare driver.

    python bench/inbox.py                                    # both backends, 100,000 conversations
    python bench/inbox.py --short                            # CI: 600 conversations, 5 requests each
    python bench/inbox.py --backends sqlite --conversations 20000 --requests 40
    python bench/inbox.py --postgresql-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Each backend gets a fresh scratch database (bench/reports.py's `scratch`: a temp file, or a database created
next to `--postgresql-url` and dropped at the end), migrated with the real migrations and filled once with
the same data (the same seed): `--conversations` conversations of as many cards (a Cyrillic or Latin name,
an e-mail address and a phone number each), three messages each, 50 agents in 5 teams, four channel
accounts; about 10 % of the conversations open, 5 % pending, 5 % snoozed, the rest resolved; 70 % assigned.
Rows go in with Core bulk inserts on SQLite and COPY on PostgreSQL (bench/ingest.py measures ingest); the
full-text index is filled by the migration's triggers on SQLite and by the GIN indexes on PostgreSQL, which
is then vacuumed and analysed, as autovacuum would have done on a live hub.

Then a real hub (hub.runtime.Hub, the real aiohttp app) serves the requests on loopback in this process and
each request is sent `--requests` times, one at a time: the conversation lists the inbox uses (open, mine,
unassigned, a team, a channel, a status; as an admin and as a team agent), a list's second page by its
cursor, one conversation with its messages, the contact search (a Cyrillic and a Latin surname's prefix,
phone digits, an e-mail address; as an admin and as the agent) and the `/inbox` page. Printed per request:
median and p95 in ms and, where there is one, the bare SQL of the same question on raw sqlite3 / asyncpg in
the same run (median) and the ratio request / bare SQL. No threshold: the figures are for the note (aim:
p95 ≤ 20 ms).

The build takes minutes at full size; `--keep NAME` keeps the filled databases between runs (SQLite: the file
`NAME.db` in the temp directory; PostgreSQL: the database NAME next to `--postgresql-url`), and a later run
with the same NAME measures on them without building again (new API tokens for the same admin and agent):

    python bench/inbox.py --keep okno_inbox_bench      # builds once, then reuses
"""

from __future__ import annotations

import os
import sys

if sys.path and os.path.abspath(sys.path[0] or os.curdir) == os.path.dirname(os.path.abspath(__file__)):
    # ... and the repository root in its place: this script imports a sibling (bench.*).
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import argparse
import asyncio
import contextlib
import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # ships no type information
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.reports import DEFAULT_POSTGRESQL, _complete, scratch
from hub import auth, db
from hub.runtime import Hub
from hub.settings import load
from hub.web import create_app
from inbox.agents import create_agent
from inbox.models import Agent, Base, ChannelAccount, Conversation, Message, Team

BACKENDS = ("sqlite", "postgresql")
CHANNELS = ("email", "telegram", "vk", "webchat")
TEAMS = 5
AGENTS = 50
CHUNK = 5_000  # conversations per batch
START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN_DAYS = 300
# Snoozed dialogs wake long after the run (not at START + a span, which has passed: the hub's scheduler then
# woke ~5,000 of them while the requests were timed, its writes measured with every request).
SNOOZED_UNTIL = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3650)
AIM_MS = 20.0
SETTLE = 10.0  # seconds of unmeasured requests before the measured ones (see `measure`)
FIRST = ("Ирина", "Иван", "Мария", "Алексей", "Ольга", "Anna", "John", "Maria", "Peter", "Elena")
LAST = (
    ("Смирнов", "Смирнова"),
    ("Иванов", "Иванова"),
    ("Кузнецов", "Кузнецова"),
    ("Попов", "Попова"),
    ("Соколов", "Соколова"),
    ("Smith", "Smith"),
    ("Johnson", "Johnson"),
    ("Brown", "Brown"),
    ("Miller", "Miller"),
    ("Wilson", "Wilson"),
)
WORDS = (
    *("заказ", "доставка", "оплата", "возврат", "курьер", "счёт", "договор", "скидка", "адрес", "товар"),
    *("order", "delivery", "refund", "invoice", "parcel", "address", "discount", "payment"),
)
TABLES = ("contacts", "identities", "conversations", "messages")  # insert order


def _status(rnd: random.Random) -> str:
    x = rnd.random()
    return "open" if x < 0.10 else "pending" if x < 0.15 else "snoozed" if x < 0.20 else "resolved"


def batches(conversations: int, seed: int) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """The hub's rows, `CHUNK` conversations at a time, table by table in insert order."""
    rnd = random.Random(seed)
    for base in range(0, conversations, CHUNK):
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
        for n in range(base, min(conversations, base + CHUNK)):
            cid = n + 1
            created = START + timedelta(seconds=rnd.randrange(SPAN_DAYS * 86400))
            account = 1 + n % len(CHANNELS)
            first = FIRST[rnd.randrange(len(FIRST))]
            male, female = LAST[rnd.randrange(len(LAST))]
            surname = female if first in ("Ирина", "Мария", "Ольга") else male
            rows["contacts"].append(
                {
                    "id": cid,
                    "name": f"{first} {surname}",
                    "kind": "lead",
                    "source_channel": CHANNELS[account - 1],
                    "created_at": created,
                    "updated_at": created,
                    "tags": [],
                    "custom_fields": {},
                }
            )
            rows["identities"] += [
                {
                    "contact_id": cid,
                    "kind": "email",
                    "value": f"client{cid}@example.com",
                    "created_at": created,
                },
                {"contact_id": cid, "kind": "phone", "value": f"+7913{cid:07d}", "created_at": created},
            ]
            team = 1 + rnd.randrange(TEAMS)
            assigned = rnd.random() < 0.7
            per_team = AGENTS // TEAMS
            agent = (team - 1) * per_team + 1 + rnd.randrange(per_team) if assigned else None
            status = _status(rnd)
            at = created
            for i in range(3):
                at += timedelta(seconds=rnd.randrange(30, 7200))
                inbound = i != 1
                rows["messages"].append(
                    {
                        "conversation_id": cid,
                        "account_id": account,
                        "direction": "in" if inbound else "out",
                        "kind": "message",
                        "contact_id": cid if inbound else None,
                        "agent_id": None if inbound else agent,
                        "external_id": f"m{cid}-{i}",
                        "body_text": " ".join(rnd.choice(WORDS) for _ in range(8)) + f" A-{cid}",
                        "created_at": at,
                        "meta": {},
                    }
                )
            rows["conversations"].append(
                {
                    "id": cid,
                    "contact_id": cid,
                    "account_id": account,
                    "channel_kind": CHANNELS[account - 1],
                    "subject": f"Заказ A-{cid}" if account == 1 else None,
                    "status": status,
                    "team_id": team,
                    "assignee_id": agent,
                    "created_at": created,
                    "updated_at": at,
                    "last_message_at": at,
                    "waiting_since": at if status == "open" else None,
                    "snoozed_until": SNOOZED_UNTIL if status == "snoozed" else None,
                    "resolved_at": at if status == "resolved" else None,
                    "rules_applied_at": created,
                }
            )
        yield rows


async def fill(engine: AsyncEngine, conversations: int, seed: int = 17) -> dict[str, int]:
    """Teams, agents (made by the bench's caller), accounts and the conversations; COPY on PostgreSQL."""
    counts = dict.fromkeys(TABLES, 0)
    async with engine.begin() as conn:
        await conn.execute(
            insert(ChannelAccount),
            [{"name": kind, "kind": kind, "team_id": 1 + i % TEAMS} for i, kind in enumerate(CHANNELS)],
        )
    postgresql = engine.dialect.name == "postgresql"
    for rows in batches(conversations, seed):
        async with engine.begin() as conn:
            if postgresql:
                raw: Any = (await conn.get_raw_connection()).driver_connection  # asyncpg's connection
                for name, chunk in rows.items():
                    columns, records = _complete(Base.metadata.tables[name], chunk)
                    await raw.copy_records_to_table(name, records=records, columns=columns)
            else:
                for name, chunk in rows.items():
                    await conn.execute(insert(Base.metadata.tables[name]), chunk)
        for name, chunk in rows.items():
            counts[name] += len(chunk)
    if postgresql:  # SQLite is left without ANALYZE, as a live hub is
        async with engine.begin() as conn:
            for table in TABLES:
                await conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}")
                )
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    return counts


async def people(engine: AsyncEngine) -> dict[str, str]:
    """The teams, 50 agents and an admin (through the real service, no argon2); bearer tokens of the admin
    and of a team agent (team 1)."""
    async with engine.begin() as conn:
        await conn.execute(insert(Team), [{"name": f"Team {t + 1}"} for t in range(TEAMS)])
    tokens = {}
    async with db.sessionmaker(engine)() as session:
        for t in range(TEAMS):
            for a in range(AGENTS // TEAMS):
                await create_agent(
                    session,
                    email=f"agent{t}-{a}@example.com",
                    name=f"Agent {t}-{a}",
                    password="bench-password",
                    team_names=(f"Team {t + 1}",),
                    password_hash="-",
                )
        await session.flush()
        admin = await create_agent(
            session,
            email="admin@example.com",
            name="Admin",
            password="bench-password",
            role="admin",
            password_hash="-",
        )
        tokens["admin"], _ = await auth.create_api_token(session, admin.id, "bench")
        tokens["agent"], _ = await auth.create_api_token(session, 1, "bench")  # agent0-0, team 1
        await session.commit()
    return tokens


async def kept_tokens(engine: AsyncEngine) -> dict[str, str]:
    """New bearer tokens for the admin and the team agent of a database filled by an earlier run."""
    async with db.sessionmaker(engine)() as session:
        admin = await session.scalar(select(Agent.id).where(Agent.email == "admin@example.com"))
        assert admin is not None
        tokens = {
            "admin": (await auth.create_api_token(session, admin, "bench"))[0],
            "agent": (await auth.create_api_token(session, 1, "bench"))[0],
        }
        await session.commit()
    return tokens


@contextlib.asynccontextmanager
async def kept(backend: str, postgresql_url: str, name: str) -> AsyncIterator[str]:
    """The database `name` of `backend` (created if missing), kept afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{Path(tempfile.gettempdir()) / name}.db"
        return
    parsed = make_url(postgresql_url)
    conn = await asyncpg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database or "postgres",
    )
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    yield parsed.set(database=name).render_as_string(hide_password=False)


# -- the bare SQL of the same questions ---------------------------------------------------------------------

ACTIVITY = "coalesce(last_message_at, created_at)"
BARE: dict[str, str] = {
    "list": f"SELECT * FROM conversations WHERE status = 'open' ORDER BY {ACTIVITY} DESC, id DESC LIMIT 50",
    "list_team": (
        "SELECT * FROM conversations WHERE status = 'open' AND team_id = 2 "
        f"ORDER BY {ACTIVITY} DESC, id DESC LIMIT 50"
    ),
    "conversation": "SELECT * FROM messages WHERE conversation_id = {probe} ORDER BY created_at, id",
    "contacts": "SELECT * FROM contacts WHERE id IN (SELECT rowid FROM search_contacts WHERE search_contacts "
    "MATCH '\"смирн\"*') ORDER BY id DESC LIMIT 50",
}
BARE_PG_CONTACTS = (
    "SELECT * FROM contacts WHERE to_tsvector('russian'::regconfig, translate(coalesce(contacts.name, '') || "
    "' ' || coalesce(contacts.company, ''), '-+', '  ')) @@ to_tsquery('russian'::regconfig, 'смирн:*') "
    "ORDER BY id DESC LIMIT 50"
)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


async def times(work: Callable[[], Awaitable[Any]], repeat: int) -> list[float]:
    """Milliseconds of each of `repeat` runs, after one unmeasured run (it warms the caches)."""
    await work()
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        await work()
        out.append((time.perf_counter() - started) * 1000)
    return out


async def bare_times(backend: str, url: str, repeat: int, probe: int) -> dict[str, float]:
    """The median milliseconds of each bare query on the raw driver."""
    result: dict[str, float] = {}
    if backend == "sqlite":
        path = make_url(url).database or ""
        conn = sqlite3.connect(path)
        try:
            for name, sql in BARE.items():

                async def run(sql: str = sql.format(probe=probe)) -> None:
                    conn.execute(sql).fetchall()

                result[name] = statistics.median(await times(run, repeat))
        finally:
            conn.close()
        return result
    parsed = make_url(url)
    pg = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
    )
    try:
        for name, sql in {**BARE, "contacts": BARE_PG_CONTACTS}.items():

            async def run_pg(sql: str = sql.format(probe=probe)) -> None:
                await pg.fetch(sql)

            result[name] = statistics.median(await times(run_pg, repeat))
    finally:
        await pg.close()
    return result


# (name, who, path, bare SQL of the same question)
REQUESTS: tuple[tuple[str, str, str, str | None], ...] = (
    ("list open", "admin", "/api/v1/conversations?status=open", "list"),
    ("list open, team filter", "admin", "/api/v1/conversations?status=open&team=2", "list_team"),
    ("list open, channel", "admin", "/api/v1/conversations?status=open&channel=telegram", None),
    ("list pending", "admin", "/api/v1/conversations?status=pending", None),
    ("list any status", "admin", "/api/v1/conversations", None),
    ("list open, 2nd page (cursor)", "admin", "cursor:/api/v1/conversations?status=open", None),
    ("list open, agent's view", "agent", "/api/v1/conversations?status=open", None),
    ("list mine (agent)", "agent", "/api/v1/conversations?status=open&assignee=me", None),
    ("list unassigned (agent)", "agent", "/api/v1/conversations?status=open&unassigned=true", None),
    ("one conversation", "admin", "/api/v1/conversations/{probe}", "conversation"),
    ("contacts q=смирн", "admin", "/api/v1/contacts?q=смирн", "contacts"),
    ("contacts q=smit", "admin", "/api/v1/contacts?q=smit", None),
    ("contacts q=phone digits", "admin", "/api/v1/contacts?q={probe:07d}", None),
    ("contacts q=whole phone", "admin", "/api/v1/contacts?q=8+913+{probe:07d}", None),
    ("contacts q=e-mail", "admin", "/api/v1/contacts?q=client{probe}@example.com", None),
    ("contacts q=смирн (agent)", "agent", "/api/v1/contacts?q=смирн", None),
    # The probe's card is not the agent's: a number or an address finds no card they may see, the search's
    # longest way for them (every hit's visibility tested, the older hits too).
    ("contacts q=smit (agent)", "agent", "/api/v1/contacts?q=smit", None),
    ("contacts q=phone digits (agent)", "agent", "/api/v1/contacts?q={probe:07d}", None),
    ("contacts q=e-mail (agent)", "agent", "/api/v1/contacts?q=client{probe}@example.com", None),
    ("/inbox page", "admin", "/inbox", None),
    ("/inbox page (agent)", "agent", "/inbox?queue=all", None),
)


async def measure(
    hub: Hub,
    tokens: dict[str, str],
    url: str,
    backend: str,
    repeat: int,
    conversations: int,
    settle_seconds: float = SETTLE,
) -> list[dict[str, Any]]:
    probe = max(1, conversations * 7 // 10)  # the conversation, card, phone and address asked about
    bare = await bare_times(backend, url, repeat, probe)
    results = []
    async with TestClient(TestServer(create_app(hub, manage_hub=False))) as client:
        # A round of every request first, unmeasured, for `settle_seconds` at least: the hub's router looks
        # at the waiting dialogs once when it starts (thousands here), and that pass is not the agent's.
        settle = time.perf_counter() + settle_seconds
        while True:
            for _name, who, template, _bare in REQUESTS:
                path = template.format(probe=probe).removeprefix("cursor:")
                await (await client.get(path, headers={"Authorization": f"Bearer {tokens[who]}"})).read()
            if time.perf_counter() > settle:
                break
        for name, who, template, bare_name in REQUESTS:
            path = template.format(probe=probe)
            headers = {"Authorization": f"Bearer {tokens[who]}"}
            if path.startswith("cursor:"):
                first = await client.get(path.removeprefix("cursor:"), headers=headers)
                cursor = (await first.json()).get("next_cursor")
                path = path.removeprefix("cursor:") + (f"&cursor={cursor}" if cursor else "&offset=50")

            async def request(path: str = path, headers: dict[str, str] = headers) -> None:
                response = await client.get(path, headers=headers)
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{path}: {response.status} {await response.text()}")

            ms = await times(request, repeat)
            median = statistics.median(ms)
            base = bare.get(bare_name) if bare_name else None
            results.append(
                {
                    "request": name,
                    "median_ms": round(median, 2),
                    "p95_ms": round(percentile(ms, 0.95), 2),
                    "bare_sql_ms": round(base, 3) if base is not None else None,
                    "ratio": round(median / base, 1) if base else None,
                }
            )
    return results


async def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    place = (
        kept(backend, args.postgresql_url, args.keep) if args.keep else scratch(backend, args.postgresql_url)
    )
    async with place as url:
        engine = db.create_engine(url)
        try:  # filled before the hub starts: its router then sees the waiting dialogs once, at start
            await db.migrate(engine)
            started = time.perf_counter()
            async with engine.connect() as conn:
                there = await conn.scalar(select(func.count()).select_from(Conversation))
            if there:
                if there != args.conversations:
                    raise SystemExit(
                        f"--keep {args.keep}: {there} conversations there, not {args.conversations}"
                    )
                tokens = await kept_tokens(engine)
                async with engine.connect() as conn:
                    counts = {
                        "conversations": there,
                        "messages": await conn.scalar(select(func.count()).select_from(Message)) or 0,
                        "identities": await conn.scalar(text("SELECT count(*) FROM identities")) or 0,
                    }
            else:
                tokens = await people(engine)
                counts = await fill(engine, args.conversations)
            filled = time.perf_counter() - started
        finally:
            await engine.dispose()
        with tempfile.TemporaryDirectory(prefix="okno-bench-inbox-") as tmp:
            hub = Hub(load(database_url=url, attachments_dir=str(Path(tmp) / "attachments")))
            await hub.start(migrate=False, channels=False)
            try:
                results = await measure(
                    hub, tokens, url, backend, args.requests, args.conversations, 0 if args.short else SETTLE
                )
            finally:
                await hub.stop()
    return {"fill_seconds": round(filled, 1), **counts, "requests": results}


def table(summary: dict[str, Any]) -> str:
    backends = list(summary["backends"])
    head = f"{'request':<32}" + "".join(
        f"{b + ' med':>15}{'p95':>8}{'bare':>8}{'ratio':>7}" for b in backends
    )
    lines = [head]
    first = summary["backends"][backends[0]]["requests"]
    for i, r in enumerate(first):
        line = f"{r['request']:<32}"
        for b in backends:
            x = summary["backends"][b]["requests"][i]
            bare = f"{x['bare_sql_ms']:.2f}" if x["bare_sql_ms"] is not None else "-"
            ratio = f"{x['ratio']:.0f}" if x["ratio"] is not None else "-"
            line += f"{x['median_ms']:>15.1f}{x['p95_ms']:>8.1f}{bare:>8}{ratio:>7}"
        lines.append(line)
    lines.append(
        f"ms per request on loopback (in-process server), {summary['requests']} each; "
        "bare = the same question on the raw driver (median); "
        f"ratio = median / bare; aim p95 ≤ {AIM_MS:.0f} ms"
    )
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    if args.short:
        args.conversations, args.requests = min(args.conversations, 600), min(args.requests, 5)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        raise SystemExit(f"--backends: one or more of {', '.join(BACKENDS)} (got {args.backends!r})")
    summary: dict[str, Any] = {"conversations": args.conversations, "requests": args.requests, "backends": {}}
    for backend in backends:
        summary["backends"][backend] = await run_backend(backend, args)
    if args.json:
        print(json.dumps(summary))
    else:
        for backend, result in summary["backends"].items():
            print(
                f"{backend}: {result['conversations']:,} conversations, {result['messages']:,} messages, "
                f"{result['identities']:,} identities (filled in {result['fill_seconds']:.0f} s)"
            )
        print(table(summary))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20, help="timed requests of each kind")
    parser.add_argument("--short", action="store_true", help="CI: 600 conversations, 5 requests of each")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="sqlite,postgresql (default: both)")
    parser.add_argument(
        "--postgresql-url", default=os.environ.get("OKNO_BENCH_POSTGRESQL_URL", DEFAULT_POSTGRESQL)
    )
    parser.add_argument(
        "--keep", metavar="NAME", help="keep the filled databases under NAME and reuse them in later runs"
    )
    parser.add_argument("--json", action="store_true")
    sys.exit(asyncio.run(main(parser.parse_args())))
