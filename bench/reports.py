"""Reports benchmark: every report over 30 days of a large hub, against a bare SQL aggregate of the same data.

    python bench/reports.py                               # SQLite in a temp dir: 100,000 conversations
    python bench/reports.py --conversations 10000         # a quicker look
    python bench/reports.py --database-url postgresql+asyncpg://postgres@127.0.0.1/postgres

It fills a fresh database with Core bulk inserts (not through ingest: bench/ingest.py measures that):
conversations spread over `--days` days, ten messages each (so 1,000,000 messages for 100,000
conversations), 50 agents in 5 teams, their waits (first response, replies, resolution), reporting events,
calls and cards. Then it times each report for the whole period, ungrouped and by day, as `okno report`
computes it, and — on the same connection pool, in the same run — a bare SQL aggregate over the same rows
(`count(*)` and `avg` of the period's facts), and prints the ratio. On PostgreSQL it creates a scratch
database next to the one in the URL and drops it at the end (the role needs CREATEDB).
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
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # ships no type information
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from hub import db
from inbox.business_hours import BusinessHours
from inbox.models import (
    Agent,
    Call,
    ChannelAccount,
    Contact,
    Conversation,
    Message,
    ReportingEvent,
    ReportWait,
    Team,
)
from inbox.reports.build import REPORTS, ReportRequest, build_report
from inbox.reports.figures import SlaTargets

START = date(2026, 3, 1)
ZONE = "Europe/Moscow"
CHANNELS = ("email", "telegram", "vk", "webchat")
CHUNK = 20_000


async def fill(
    engine: AsyncEngine, conversations: int, days: int, agents: int, seed: int = 7
) -> dict[str, int]:
    rnd = random.Random(seed)
    t0 = datetime.combine(START, datetime.min.time(), UTC)
    counts = {"messages": 0, "waits": 0, "calls": 0}
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
    for base in range(0, conversations, CHUNK // 10):
        batch = range(base, min(conversations, base + CHUNK // 10))
        contacts: list[dict[str, Any]] = []
        convs: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        waits: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        for n in batch:
            cid = n + 1
            start = t0 + timedelta(seconds=rnd.randrange(days * 86400))
            account = 1 + n % len(CHANNELS)
            team = 1 + rnd.randrange(5)
            agent = 1 + rnd.randrange(agents)
            contacts.append(
                {
                    "id": cid,
                    "kind": "lead",
                    "source_channel": CHANNELS[account - 1],
                    "created_at": start,
                    "tags": [],
                    "custom_fields": {},
                }
            )
            convs.append(
                {
                    "id": cid,
                    "contact_id": cid,
                    "account_id": account,
                    "channel_kind": CHANNELS[account - 1],
                    "status": "resolved",
                    "team_id": team,
                    "assignee_id": agent,
                    "created_at": start,
                    "updated_at": start,
                }
            )
            at = start
            common = {
                "conversation_id": cid,
                "contact_id": cid,
                "account_id": account,
                "channel_kind": CHANNELS[account - 1],
                "team_id": team,
            }
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
                    events.append({"name": "message_received", "occurred_at": at, **common})
                else:
                    value = (at - wait_start).total_seconds()
                    waits.append(
                        {
                            "kind": "reply",
                            "started_at": wait_start,
                            "ended_at": at,
                            "outcome": "replied",
                            "value_seconds": value,
                            "business_seconds": value * 0.4,
                            "agent_id": agent,
                            **common,
                        }
                    )
                    if i == 1:
                        waits.append(
                            {
                                "kind": "first_response",
                                "started_at": start,
                                "ended_at": at,
                                "outcome": "replied",
                                "value_seconds": value,
                                "business_seconds": value * 0.4,
                                "agent_id": agent,
                                **common,
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
            events.append({"name": "conversation_opened", "occurred_at": start, **common})
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
        async with engine.begin() as conn:
            await conn.execute(insert(Contact), contacts)
            await conn.execute(insert(Conversation), convs)
            await conn.execute(insert(Message), messages)
            await conn.execute(insert(ReportWait), waits)
            await conn.execute(insert(ReportingEvent), events)
            if calls:
                await conn.execute(insert(Call), calls)
        counts["messages"] += len(messages)
        counts["waits"] += len(waits)
        counts["calls"] += len(calls)
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
        for by in (None, "day"):
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


async def main(args: argparse.Namespace) -> None:
    url = args.database_url
    scratch = None
    tmp = None
    if url is None:
        tmp = tempfile.TemporaryDirectory(prefix="okno-bench-reports-")
        url = f"sqlite+aiosqlite:///{tmp.name}/reports.db"
    elif url.startswith("postgresql"):
        parsed = make_url(url)
        scratch = f"okno_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username,
            database=parsed.database or "postgres",
        )
        await admin.execute(f'CREATE DATABASE "{scratch}"')
        await admin.close()
        url = parsed.set(database=scratch).render_as_string(hide_password=False)
    engine = db.create_engine(url)
    try:
        await db.migrate(engine)
        started = time.perf_counter()
        counts = await fill(engine, args.conversations, args.days, args.agents)
        filled = time.perf_counter() - started
        results = await measure(engine, args.days, args.repeat)
    finally:
        await engine.dispose()
        if scratch is not None:
            parsed = make_url(args.database_url)
            admin = await asyncpg.connect(
                host=parsed.host,
                port=parsed.port or 5432,
                user=parsed.username,
                database=parsed.database or "postgres",
            )
            await admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
            await admin.close()
        if tmp is not None:
            tmp.cleanup()
    summary = {
        "backend": make_url(url).get_backend_name(),
        "conversations": args.conversations,
        **counts,
        "days": args.days,
        "fill_seconds": round(filled, 1),
        "reports": results,
    }
    if args.json:
        print(json.dumps(summary))
        return
    print(
        f"{summary['backend']}: {args.conversations:,} conversations, {counts['messages']:,} messages, "
        f"{counts['waits']:,} waits, {counts['calls']:,} calls over {args.days} days "
        f"(filled in {filled:.0f} s)"
    )
    print(f"{'report':<16}{'by':<6}{'seconds':>10}{'bare SQL':>11}{'ratio':>8}")
    for r in results:
        print(
            f"{r['report']:<16}{r['by'] or '-':<6}{r['seconds']:>10.3f}"
            f"{r['bare_sql_seconds']:>11.3f}{r['ratio'] or 0:>8.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url")
    parser.add_argument("--json", action="store_true")
    asyncio.run(main(parser.parse_args()))
