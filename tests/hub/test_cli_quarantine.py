"""`okno ingest` keeps what it refuses in the quarantine (printing the reason it stores), and `okno quarantine
list` / `retry` show and re-run it through today's parser — here a fix made by an account option."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox import quarantine
from inbox.blobs import BlobStore
from inbox.models import Call, QuarantineItem
from tests.hub.test_cli import okno, payload, write_json

CDR_LINE = "2024-05-14 10:00:00,89139097332,100,NO ANSWER,4,0,u-77\n"
COLUMNS = '["calldate", "src", "dst", "disposition", "duration", "billsec", "uniqueid"]'


async def quarantined(sessionmaker: async_sessionmaker[AsyncSession]) -> list[QuarantineItem]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(QuarantineItem).order_by(QuarantineItem.id)))


async def test_ingest_prints_the_reason_it_stores_and_a_second_import_stores_it_once(
    database_url: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    broken = {"external_id": "a-2", "text": "без отправителя"}
    batch = write_json(tmp_path / "batch.json", [payload("a-1"), broken])
    run = await okno("ingest", "api", batch.name, database_url=database_url, cwd=tmp_path)
    assert run.code == 1 and len(run.lines) == 1
    (line,) = [x for x in run.err_lines if x.startswith("batch.json:")]
    (kept,) = await quarantined(sessionmaker)
    assert line == f"batch.json: {kept.reason} [quarantine #{kept.id}]"
    assert "item 1: " in kept.reason
    raw = await quarantine.raw_bytes(kept, BlobStore(tmp_path / "var" / "attachments"))  # the default store
    assert json.loads(raw) == broken  # the refused item alone, not the whole file
    assert kept.position == f"{batch} item 2"
    again = await okno("ingest", "api", batch.name, database_url=database_url, cwd=tmp_path)
    assert [x for x in again.err_lines if x.startswith("batch.json:")] == [line]
    assert [k.id for k in await quarantined(sessionmaker)] == [kept.id]

    listed = await okno("quarantine", "list", "--account", "api", database_url=database_url, cwd=tmp_path)
    assert listed.code == 0, listed.err
    (shown,) = [json.loads(x) for x in listed.lines]
    assert (shown["id"], shown["account"], shown["reason"]) == (kept.id, "api", kept.reason)


async def test_retry_after_a_fix_ingests_the_item_once_and_it_leaves_the_quarantine(
    database_url: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    cdr = tmp_path / "Master.csv"
    cdr.write_text(CDR_LINE, encoding="utf-8")
    account = f'[accounts.pbx]\nkind = "sip"\nsource = "cdr_csv"\npath = "{cdr}"\n'
    config = tmp_path / "okno.toml"
    config.write_text(account, encoding="utf-8")
    env = {"OKNO_CONFIG": str(config)}

    run = await okno("ingest", "sip", cdr.name, database_url=database_url, cwd=tmp_path, env=env)
    assert run.code == 1
    (kept,) = await quarantined(sessionmaker)
    assert f"Master.csv: {kept.reason} [quarantine #{kept.id}]" in run.err_lines

    still = await okno("quarantine", "retry", "--all", database_url=database_url, cwd=tmp_path, env=env)
    assert still.code == 1
    (outcome,) = [json.loads(x) for x in still.lines]
    assert outcome["status"] == "refused" and "columns" in outcome["reason"]
    (kept,) = await quarantined(sessionmaker)
    assert kept.attempts == 1 and kept.reason == outcome["reason"]

    # The fix: the layout named in the account's options, as the refusal asked.
    config.write_text(account + f"columns = {COLUMNS}\n", encoding="utf-8")
    args = ("quarantine", "retry", str(kept.id))
    fixed = await okno(*args, database_url=database_url, cwd=tmp_path, env=env)
    assert fixed.code == 0, fixed.err
    (outcome,) = [json.loads(x) for x in fixed.lines]
    assert (outcome["status"], outcome["account"]) == ("ingested", "pbx")
    assert await quarantined(sessionmaker) == []
    gone = await okno(*args, database_url=database_url, cwd=tmp_path, env=env)
    assert gone.code == 1 and f"quarantine #{kept.id}: no such item" in gone.err_lines
    async with sessionmaker() as session:
        calls = list(await session.scalars(select(Call)))
    assert [(c.call_id, c.disposition) for c in calls] == [("u-77", "missed")]
