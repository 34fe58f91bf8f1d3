"""A hub killed with SIGKILL between receiving a refused item and storing it loses nothing: after a restart
the item is in the quarantine exactly once (it was stored before the cursor moved, or it is read again from
the unmoved cursor and stored then) — checked on a real `okno run` following a CDR file."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.models import Call, ChannelAccount, QuarantineItem
from tests.channels.email.servers import free_port
from tests.hub.test_demo import running
from tests.waiting import eventually

FIXTURE = (
    Path(__file__).resolve().parents[1] / "channels" / "sip" / "fixtures" / "master_with_broken_lines.csv"
)


async def state(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[list[QuarantineItem], int, int]:
    """The quarantine's rows, how many calls are stored, and the line the account's cursor is past."""
    async with sessionmaker() as session:
        rows = list(await session.scalars(select(QuarantineItem).order_by(QuarantineItem.id)))
        calls = len(list(await session.scalars(select(Call.id))))
        cursor = await session.scalar(select(ChannelAccount.cursor).where(ChannelAccount.name == "pbx"))
    line = int(json.loads(cursor)["line"]) if cursor else 0
    return rows, calls, line


async def test_a_hub_killed_around_storing_a_refused_line_keeps_it_exactly_once(
    database_url: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    good, broken = FIXTURE.read_bytes().splitlines(keepends=True)[:2]  # a call, then a line of 15 columns
    cdr = tmp_path / "Master.csv"
    cdr.write_bytes(good + broken)
    config = tmp_path / "okno.toml"
    config.write_text(
        f'attachments_dir = "{tmp_path / "blobs"}"\n\n'
        f'[accounts.pbx]\nkind = "sip"\nsource = "cdr_csv"\npath = "{cdr}"\npoll_seconds = 0.05\n',
        encoding="utf-8",
    )
    env = {"OKNO_CONFIG": str(config), "OKNO_DATABASE_URL": database_url}

    # 1. Killed as soon as the refusal is committed: the cursor may still be before the line.
    async with running("run", "--port", str(free_port()), cwd=tmp_path, env=env) as (proc, _):

        async def stored() -> list[QuarantineItem]:
            return (await state(sessionmaker))[0]

        rows = await eventually(stored, "the refused line to be quarantined")
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    (first,) = rows
    assert first.reason == "line 2: expected 18 columns, found 15"

    # 2. Restarted and killed again at once (maybe mid-way through reading the file again).
    async with running("run", "--port", str(free_port()), cwd=tmp_path, env=env) as (proc, _):
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    # 3. Restarted for good: it reads from wherever the cursor stands, and never stores the line twice.
    async with running("run", "--port", str(free_port()), cwd=tmp_path, env=env):

        async def past_both() -> bool:
            return (await state(sessionmaker))[2] >= 2

        await eventually(past_both, "the cursor to move past both lines")
    rows, calls, _ = await state(sessionmaker)
    position = f"Master.csv:2@{len(good)}"  # the file, the line and its byte offset
    assert [(r.id, r.position, r.reason) for r in rows] == [(first.id, position, first.reason)]
    assert calls == 1
