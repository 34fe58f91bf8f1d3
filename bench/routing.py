"""Routing benchmark: the ingest rate with routing off and on, and assignments per second, in one run.

    python bench/routing.py                    # SQLite in a temp dir, 5,000 dialogs, 20 agents
    python bench/routing.py -n 1000 --json     # machine-readable

Each phase starts from a fresh, migrated SQLite database (WAL, synchronous=FULL, BEGIN IMMEDIATE — the
hub's own engine) with one team of A online agents (a live socket, status "online", room for every
dialog), and hands N messages from N new senders to `inbox.ingest.IngestQueue` (group commit) from C
concurrent senders. *Off*: no router. *On*: a `RouterWorker` woken after every ingest commit, as in the
hub, routing while the ingest runs. The ingest rate is N over the time until the last submit returned;
assignments/s counts what the router handed out in that same window. Off and on alternate for
`--rounds` rounds and the median of each counts. The baseline of the ratio is the off phase of the same
run: routing must cost less than 20 % of the ingest rate (ratio on/off >= 0.80).
"""

from __future__ import annotations

import os
import sys

if sys.path and os.path.abspath(sys.path[0] or os.curdir) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)  # see bench/ingest.py: bench/email.py must not shadow the standard library

import argparse
import asyncio
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import func, select

from hub import db
from inbox.ingest import IngestQueue
from inbox.items import IdentityRef, InboundMessage, Sender
from inbox.models import Agent, ChannelAccount, Conversation, Team, utcnow
from inbox.presence import record_sockets
from inbox.routing.worker import RouterWorker

LIMIT = 0.80  # routing may cost at most 20 % of the ingest rate


@dataclass(frozen=True, slots=True)
class Phase:
    routing: bool
    dialogs: int
    ingest_seconds: float
    assigned_during_ingest: int
    assigned_total: int

    @property
    def ingest_rate(self) -> float:
        return self.dialogs / self.ingest_seconds

    @property
    def assignments_rate(self) -> float:
        return self.assigned_during_ingest / self.ingest_seconds


async def run_phase(directory: Path, *, routing: bool, n: int, agents: int, concurrency: int) -> Phase:
    engine = db.create_engine(f"sqlite+aiosqlite:///{directory / ('on.db' if routing else 'off.db')}")
    await db.migrate(engine)
    sessionmaker = db.sessionmaker(engine)
    async with sessionmaker() as session:
        team = Team(name="Support", agent_capacity=n)
        team.agents = [
            Agent(email=f"a{i}@bench.example", name=f"A{i}", password_hash="-", status="online")
            for i in range(agents)
        ]
        account = ChannelAccount(name="shop", kind="api")
        session.add_all([team, account])
        await session.flush()
        account.team_id = team.id
        for agent in team.agents:
            await record_sockets(session, agent_id=agent.id, process_id="bench", sockets=1, now=utcnow())
        await session.commit()
        account_id = account.id
    router = RouterWorker(sessionmaker, idle_seconds=1.0)
    ingest = IngestQueue(sessionmaker, on_opened=router.wake if routing else None)
    items = [
        InboundMessage(
            account_id=account_id,
            external_id=f"m{i}",
            sender=Sender((IdentityRef("email", f"client{i}@example.com"),), name=f"Client {i}"),
            text=f"Здравствуйте! Где мой заказ № {i}?",
        )
        for i in range(n)
    ]
    await ingest.start()
    if routing:
        await router.start()
    queue: asyncio.Queue[InboundMessage] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def sender() -> None:
        while not queue.empty():
            await ingest.submit(queue.get_nowait())

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    during = router.assigned
    if routing:
        while await router.run_once():  # the rest, to check that everything gets routed
            pass
        await router.stop()
    await ingest.stop()
    async with sessionmaker() as session:
        total = await session.scalar(select(func.count()).where(Conversation.assignee_id.is_not(None)))
    await engine.dispose()
    return Phase(routing, n, seconds, during, int(total or 0))


def median(phases: list[Phase]) -> Phase:
    return sorted(phases, key=lambda p: p.ingest_rate)[len(phases) // 2]


async def bench(n: int, agents: int, concurrency: int, rounds: int) -> dict[str, object]:
    # Off and on alternate, each on a fresh database, and the median round of each counts: on a shared
    # machine one phase alone can be slowed by a neighbour.
    offs: list[Phase] = []
    ons: list[Phase] = []
    for _ in range(rounds):
        for routing, found in ((False, offs), (True, ons)):
            with tempfile.TemporaryDirectory(prefix="okno-bench-routing-") as tmp:
                phase = await run_phase(
                    Path(tmp), routing=routing, n=n, agents=agents, concurrency=concurrency
                )
            found.append(phase)
    off, on = median(offs), median(ons)
    ratio = on.ingest_rate / off.ingest_rate
    return {
        "dialogs": n,
        "agents": agents,
        "concurrency": concurrency,
        "rounds": rounds,
        "off": asdict(off) | {"ingest_rate": off.ingest_rate},
        "on": asdict(on) | {"ingest_rate": on.ingest_rate, "assignments_rate": on.assignments_rate},
        "ratio_on_off": ratio,
        "limit": LIMIT,
        "within_limit": ratio >= LIMIT,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=5000, help="dialogs (default 5000)")
    parser.add_argument("-a", "--agents", type=int, default=20, help="online agents (default 20)")
    parser.add_argument("-c", "--concurrency", type=int, default=100, help="concurrent senders (default 100)")
    parser.add_argument(
        "-r", "--rounds", type=int, default=3, help="off/on rounds, median counts (default 3)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    result = asyncio.run(bench(args.n, args.agents, args.concurrency, args.rounds))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        off, on = result["off"], result["on"]
        assert isinstance(off, dict) and isinstance(on, dict)
        head = f"{result['dialogs']} dialogs, {result['agents']} agents, {result['concurrency']} senders"
        print(f"{head}, median of {result['rounds']} rounds (SQLite)")
        print(f"  ingest, routing off   {off['ingest_rate']:10.0f} msg/s")
        print(f"  ingest, routing on    {on['ingest_rate']:10.0f} msg/s")
        during = f"({on['assigned_during_ingest']} of {result['dialogs']})"
        print(f"  assignments during    {on['assignments_rate']:10.0f} /s  {during}")
        print(f"  routed in the end     {on['assigned_total']:10d}")
        print(f"  ratio on / off        {result['ratio_on_off']:10.2f}  (limit >= {LIMIT:.2f})")
    return 0 if result["within_limit"] else 1


if __name__ == "__main__":
    sys.exit(main())
