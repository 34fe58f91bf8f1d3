"""Reports benchmark: every report over 30 days of a large hub, on SQLite and PostgreSQL in one run, against a
bare SQL aggregate of the same facts.

    python bench/reports.py                                  # both backends, 100,000 conversations
    python bench/reports.py --conversations 10000            # a quicker look
    python bench/reports.py --backends sqlite                # one backend
    python bench/reports.py --keep DIR --no-wait-rollups     # the wait reports from every wait (an A/B)
    python bench/reports.py --postgresql-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Each backend gets a fresh scratch database (SQLite: a file in a temp dir; PostgreSQL: a database created
next to the one in `--postgresql-url` and dropped at the end, so the role needs CREATEDB), migrated with
the real migrations, and the same data (the same seed): conversations spread over `--days` days, ten
messages each (so 1,000,000 messages for 100,000 conversations), 50 agents in 5 teams, their waits (first
response, replies, resolution), reporting events, calls and cards. The data goes in with Core bulk inserts
on SQLite and COPY on PostgreSQL (not through ingest: bench/ingest.py measures that); PostgreSQL is then
vacuumed and analysed, as autovacuum would have done on a live hub.

Then it times each report for the whole period — ungrouped, by day and by agent — as `okno report` computes
it, and, on the same engine in the same run, a bare SQL aggregate over the same rows (`count(*)` and `avg`
of the period's facts), and prints a table: report × backend × (seconds, bare SQL seconds, ratio), each
report marked against its aim (≤ 0.2 s on SQLite, ≤ 0.1 s on PostgreSQL). The exit status is 1 when a
report misses its aim (on a loaded machine that is still a report, not a crash).
"""

from __future__ import annotations

import os
import sys

if sys.path and os.path.abspath(sys.path[0] or os.curdir) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)  # bench/email.py would shadow the standard library's email

import argparse
import asyncio
import json
import random
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # ships no type information
from sqlalchemy import JSON, Table, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from hub import db
from inbox.business_hours import BusinessHours
from inbox.models import (
    Agent,
    Base,
    Call,
    ChannelAccount,
    Contact,
    ReportingEvent,
    ReportWait,
    Team,
)
from inbox.reports import build
from inbox.reports.build import REPORTS, ReportRequest, build_report
from inbox.reports.figures import SlaTargets

START = date(2026, 3, 1)
ZONE = "Europe/Moscow"
CHANNELS = ("email", "telegram", "vk", "webchat")
BACKENDS = ("sqlite", "postgresql")
AIMS = {"sqlite": 0.2, "postgresql": 0.1}  # seconds a report may take at full size (issue 13)
GROUPINGS = (None, "day", "agent")
CHUNK = 2_000  # conversations per batch (20,000 messages)
TABLES = (
    "contacts",
    "conversations",
    "messages",
    "report_waits",
    "reporting_events",
    "calls",
)  # insert order
DEFAULT_POSTGRESQL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def batches(
    conversations: int, days: int, agents: int, seed: int
) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """The rows of the hub, `CHUNK` conversations at a time, table by table in insert order."""
    rnd = random.Random(seed)
    t0 = datetime.combine(START, datetime.min.time(), UTC)
    for base in range(0, conversations, CHUNK):
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
        contacts, convs, messages, waits, events, calls = rows.values()
        for n in range(base, min(conversations, base + CHUNK)):
            cid = n + 1
            start = t0 + timedelta(seconds=rnd.randrange(days * 86400))
            account = 1 + n % len(CHANNELS)
            channel = CHANNELS[account - 1]
            team = 1 + rnd.randrange(5)
            agent = 1 + rnd.randrange(agents)
            contacts.append(
                {
                    "id": cid,
                    "kind": "client" if n % 7 == 0 else "lead",
                    "source_channel": channel,
                    "created_at": start,
                    "updated_at": start,
                    "tags": [],
                    "custom_fields": {},
                }
            )
            convs.append(
                {
                    "id": cid,
                    "contact_id": cid,
                    "account_id": account,
                    "channel_kind": channel,
                    "status": "resolved",
                    "team_id": team,
                    "assignee_id": agent,
                    "created_at": start,
                    "updated_at": start,
                }
            )
            common = {
                "conversation_id": cid,
                "contact_id": cid,
                "account_id": account,
                "channel_kind": channel,
                "team_id": team,
            }
            at = wait_start = start
            for i in range(10):
                inbound = i % 2 == 0
                at += timedelta(seconds=rnd.randrange(30, 7200))
                messages.append(
                    {
                        "conversation_id": cid,
                        "account_id": account,
                        "direction": "in" if inbound else "out",
                        "kind": "message",
                        "contact_id": cid if inbound else None,
                        "agent_id": None if inbound else agent,
                        "external_id": f"m{cid}-{i}",
                        "body_text": "…",
                        "created_at": at,
                        "meta": {},
                    }
                )
                if inbound:
                    wait_start = at
                    # Under the assignee of then, as ingest writes it (none yet for the first message). Every
                    # event row names agent_id: a bulk insert takes its columns from the first row.
                    assignee = agent if i else None
                    events.append(
                        {"name": "message_received", "occurred_at": at, "agent_id": assignee, **common}
                    )
                    continue
                events.append({"name": "message_sent", "occurred_at": at, "agent_id": agent, **common})
                value = (at - wait_start).total_seconds()
                ended = {"ended_at": at, "outcome": "replied", "agent_id": agent, **common}
                waits.append(
                    {
                        "kind": "reply",
                        "started_at": wait_start,
                        "value_seconds": value,
                        "business_seconds": value * 0.4,
                        **ended,
                    }
                )
                if i == 1:
                    first = (at - start).total_seconds()
                    waits.append(
                        {
                            "kind": "first_response",
                            "started_at": start,
                            "value_seconds": first,
                            "business_seconds": first * 0.4,
                            **ended,
                        }
                    )
            resolved = (at - start).total_seconds()
            waits.append(
                {
                    "kind": "resolution",
                    "started_at": start,
                    "ended_at": at,
                    "outcome": "resolved",
                    "value_seconds": resolved,
                    "business_seconds": resolved * 0.4,
                    "agent_id": agent,
                    **common,
                }
            )
            events.append({"name": "conversation_opened", "occurred_at": start, "agent_id": None, **common})
            if n % 10 == 0:
                answered = rnd.random() < 0.8
                calls.append(
                    {
                        "account_id": 1,
                        "call_id": f"c{cid}",
                        "contact_id": cid,
                        "direction": "inbound",
                        "started_at": start,
                        "wait_seconds": rnd.randrange(60),
                        "meta": {},
                        "talk_seconds": rnd.randrange(600) if answered else 0,
                        "agent_id": agent,
                        "disposition": "answered" if answered else "missed",
                    }
                )
        yield rows


def _complete(table: Table, rows: list[dict[str, Any]]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Rows as COPY takes them: every column the ORM would fill (Python-side defaults included), JSON as
    text, in one column order."""
    given = set(rows[0])
    defaults: dict[str, Any] = {}
    for column in table.columns:
        if column.name in given or column.default is None:
            continue
        arg = column.default.arg  # type: ignore[attr-defined]
        defaults[column.name] = arg(None) if callable(arg) else arg
    names = [*given, *defaults]
    jsons = {c.name for c in table.columns if isinstance(c.type, JSON)}
    records = []
    for row in rows:
        full = {**defaults, **row}
        records.append(tuple(json.dumps(full[n]) if n in jsons else full[n] for n in names))
    return names, records


async def fill(
    engine: AsyncEngine, conversations: int, days: int, agents: int, seed: int = 7
) -> dict[str, int]:
    """The hub's data, the same for a given seed on either backend; COPY on PostgreSQL."""
    counts = {"conversations": conversations, "messages": 0, "waits": 0, "calls": 0}
    async with engine.begin() as conn:
        await conn.execute(insert(Team), [{"name": f"Team {i}"} for i in range(5)])
        await conn.execute(
            insert(Agent),
            [
                {"email": f"a{i}@example.com", "name": f"Agent {i}", "password_hash": "-"}
                for i in range(agents)
            ],
        )
        await conn.execute(
            insert(ChannelAccount),
            [{"name": kind, "kind": kind, "team_id": 1 + i % 5} for i, kind in enumerate(CHANNELS)],
        )
    postgresql = engine.dialect.name == "postgresql"
    for rows in batches(conversations, days, agents, seed):
        async with engine.begin() as conn:
            if postgresql:
                raw: Any = (await conn.get_raw_connection()).driver_connection  # asyncpg's connection
                for name, chunk in rows.items():
                    if chunk:
                        columns, records = _complete(Base.metadata.tables[name], chunk)
                        await raw.copy_records_to_table(name, records=records, columns=columns)
            else:
                for name, chunk in rows.items():
                    if chunk:
                        await conn.execute(insert(Base.metadata.tables[name]), chunk)
        counts["messages"] += len(rows["messages"])
        counts["waits"] += len(rows["report_waits"])
        counts["calls"] += len(rows["calls"])
    if postgresql:
        async with engine.begin() as conn:
            for table in ("contacts", "conversations"):
                await conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}")
                )
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    return counts


async def kept(engine: AsyncEngine) -> dict[str, int] | None:
    """The counts of a database filled by an earlier run (`--keep`), None when it is empty."""
    async with engine.connect() as conn:
        conversations = int(await conn.scalar(text("SELECT count(*) FROM conversations")) or 0)
        if not conversations:
            return None
        counts = {"conversations": conversations}
        for key, table in (("messages", "messages"), ("waits", "report_waits"), ("calls", "calls")):
            counts[key] = int(await conn.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
    return counts


async def timed(work: Callable[[], Awaitable[Any]], repeat: int) -> float:
    """The best of `repeat` runs, in seconds (the first run also warms the page cache)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        await work()
        best = min(best, time.perf_counter() - started)
    return best


async def bare(session: AsyncSession, name: str, start: datetime, end: datetime) -> None:
    """The plainest aggregate over the same facts: what the database alone costs."""
    kinds = {"first_response": "first_response", "reply_time": "reply", "resolution": "resolution"}
    if name in kinds:
        query = select(func.count(), func.avg(ReportWait.value_seconds)).where(
            ReportWait.kind == kinds[name], ReportWait.started_at >= start, ReportWait.started_at < end
        )
    elif name == "calls":
        query = select(func.count(), func.avg(Call.talk_seconds)).where(
            Call.started_at >= start, Call.started_at < end
        )
    elif name == "volume":
        query = select(func.count()).where(
            ReportingEvent.occurred_at >= start, ReportingEvent.occurred_at < end
        )
    else:
        query = select(func.count()).where(Contact.created_at >= start, Contact.created_at < end)
    await session.execute(query)


async def measure(engine: AsyncEngine, days: int, repeat: int) -> list[dict[str, Any]]:
    sessions = db.sessionmaker(engine)
    hours = BusinessHours.from_config(ZONE, {d: "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")})
    sla = SlaTargets(first_response=3600, reply=3600, resolution=86400)
    results = []
    for name in REPORTS:
        for by in GROUPINGS:
            if name == "leads" and by == "agent":
                by = "source"
            request = ReportRequest(
                name=name, start=START, end=START + timedelta(days=days - 1), timezone=ZONE, by=by
            )
            start, end = request.window()

            async def report(request: ReportRequest = request) -> None:
                async with sessions() as session:
                    await build_report(session, request, sla=sla, hours=hours)

            async def baseline(name: str = name, start: datetime = start, end: datetime = end) -> None:
                async with sessions() as session:
                    await bare(session, name, start, end)

            seconds = await timed(report, repeat)
            base = await timed(baseline, repeat)
            results.append(
                {
                    "report": name,
                    "by": by,
                    "seconds": round(seconds, 4),
                    "bare_sql_seconds": round(base, 4),
                    "ratio": round(seconds / base, 1) if base else None,
                }
            )
    return results


@asynccontextmanager
async def scratch(backend: str, postgresql_url: str, keep: str | None = None) -> AsyncIterator[str]:
    """A fresh, empty database of `backend`, removed afterwards; with `keep` (a name), a database kept
    between runs (a file in that directory on SQLite, a database named after it on PostgreSQL)."""
    if backend == "sqlite" and keep is not None:
        folder = os.path.abspath(keep)  # noqa: ASYNC240 — a path of the command line, before any work
        os.makedirs(folder, exist_ok=True)
        yield f"sqlite+aiosqlite:///{folder}/reports.db"
        return
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="okno-bench-reports-") as tmp:
            yield f"sqlite+aiosqlite:///{tmp}/reports.db"
        return
    parsed = make_url(postgresql_url)
    name = f"okno_bench_{uuid.uuid4().hex[:8]}"
    if keep is not None:
        name = "okno_reports_keep_" + "".join(c for c in os.path.basename(keep.rstrip("/")) if c.isalnum())

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            database=parsed.database or "postgres",
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    if keep is not None:
        with suppress(asyncpg.DuplicateDatabaseError):
            await admin(f'CREATE DATABASE "{name}"')
        yield parsed.set(database=name).render_as_string(hide_password=False)
        return
    await admin(f'CREATE DATABASE "{name}"')
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    async with scratch(backend, args.postgresql_url, args.keep) as url:
        engine = db.create_engine(url)
        try:
            await db.migrate(engine)
            started = time.perf_counter()
            counts = await kept(engine)
            if counts is None or counts["conversations"] != args.conversations:
                if counts is not None:
                    raise SystemExit(f"--keep {args.keep}: it holds another size; remove it first")
                counts = await fill(engine, args.conversations, args.days, args.agents)
            filled = time.perf_counter() - started
            results = await measure(engine, args.days, args.repeat)
        finally:
            await engine.dispose()
    for r in results:
        r["within_aim"] = r["seconds"] <= AIMS[backend]
    return {"fill_seconds": round(filled, 1), **counts, "reports": results}


def table(summary: dict[str, Any]) -> str:
    backends = list(summary["backends"])
    head = f"{'report':<16}{'by':<8}" + "".join(
        f"{b + ' s':>14}{'bare s':>9}{'ratio':>7}{'':>5}" for b in backends
    )
    lines = [head]
    first = summary["backends"][backends[0]]["reports"]
    for i, r in enumerate(first):
        line = f"{r['report']:<16}{r['by'] or '-':<8}"
        for b in backends:
            x = summary["backends"][b]["reports"][i]
            mark = "" if x["within_aim"] else " over"
            line += f"{x['seconds']:>14.3f}{x['bare_sql_seconds']:>9.3f}{x['ratio'] or 0:>7.1f}{mark:>5}"
        lines.append(line)
    aims = ", ".join(f"≤ {AIMS[b]} s on {b}" for b in backends)
    lines.append(f"aim: every report {aims}; ratio = report / bare SQL aggregate in the same run")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    build.WAIT_ROLLUPS = not args.no_wait_rollups
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        raise SystemExit(f"--backends: one or more of {', '.join(BACKENDS)} (got {args.backends!r})")
    summary: dict[str, Any] = {
        "conversations": args.conversations,
        "days": args.days,
        "agents": args.agents,
        "backends": {},
    }
    for backend in backends:
        summary["backends"][backend] = await run_backend(backend, args)
    within = all(r["within_aim"] for b in summary["backends"].values() for r in b["reports"])
    summary["within_aims"] = within
    if args.json:
        print(json.dumps(summary))
    else:
        for backend, result in summary["backends"].items():
            print(
                f"{backend}: {args.conversations:,} conversations, {result['messages']:,} messages, "
                f"{result['waits']:,} waits, {result['calls']:,} calls over {args.days} days "
                f"(filled in {result['fill_seconds']:.0f} s)"
            )
        print(table(summary))
    return 0 if within else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="sqlite,postgresql (default: both)")
    parser.add_argument(
        "--postgresql-url", default=os.environ.get("OKNO_BENCH_POSTGRESQL_URL", DEFAULT_POSTGRESQL)
    )
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the filled databases between runs and reuse them (SQLite: DIR/reports.db; PostgreSQL: "
        "a database okno_reports_keep_<DIR's name>); remove them by hand",
    )
    parser.add_argument(
        "--no-wait-rollups",
        action="store_true",
        help="the wait reports read every wait, not report_wait_sums (the before of an A/B on the same data)",
    )
    parser.add_argument("--json", action="store_true")
    sys.exit(asyncio.run(main(parser.parse_args())))
