"""The `okno` command, run as a real subprocess (`python -m hub`) against the test database."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from channels.base import KNOWN_KINDS
from hub.cli import main
from hub.db import MIGRATIONS
from inbox.agents import authenticate
from inbox.models import Agent, ChannelAccount, Message
from tests.waiting import WAIT_CEILING, resolved

ROOT = Path(__file__).resolve().parents[2]
CLI_CEILING = max(WAIT_CEILING, 120.0)  # a whole CLI run (imports, migrations), not a wait for a signal


@dataclass(frozen=True, slots=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


def cli_env(database_url: str | None) -> dict[str, str]:
    """The caller's environment without any OKNO_* setting, plus the database and the source tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if database_url:
        env["OKNO_DATABASE_URL"] = database_url
    return env


async def okno(
    *args: str,
    database_url: str | None,
    cwd: Path,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> Run:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        *args,
        cwd=cwd,
        env={**cli_env(database_url), **(env or {})},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await resolved(
        proc.communicate(stdin.encode() if stdin else b""), f"okno {' '.join(args)}", ceiling=CLI_CEILING
    )
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


def write_json(path: Path, payload: object) -> Path:
    path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    return path


def payload(
    external_id: str, email: str = "ivan@example.ru", text: str = "Здравствуйте!"
) -> dict[str, object]:
    return {"external_id": external_id, "sender": {"name": "Иван Петров", "email": email}, "text": text}


async def count_messages(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Message)) or 0)


async def test_migrate_prints_the_revision(database_url: str, engine: object, tmp_path: Path) -> None:
    run = await okno("migrate", database_url=database_url, cwd=tmp_path)
    assert run.code == 0, run.err
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()  # the newest migration, whichever it is
    assert f"revision {head}" in run.out
    assert "Traceback" not in run.err


async def test_create_agent_reads_the_password_from_stdin(
    database_url: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    args = ("create-agent", "--email", "Anna@Example.com", "--name", "Анна Смирнова", "--role", "supervisor")
    run = await okno(
        *args,
        "--team",
        "Поддержка",
        "--team",
        "Продажи",
        "--password-stdin",
        database_url=database_url,
        cwd=tmp_path,
        stdin="correct horse battery\n",
    )
    assert run.code == 0, run.err
    agent_id = int(run.out.strip())
    async with sessionmaker() as session:
        agent = await session.get_one(Agent, agent_id, options=[selectinload(Agent.teams)])
        assert (agent.email, agent.name, agent.role) == ("anna@example.com", "Анна Смирнова", "supervisor")
        assert sorted(t.name for t in agent.teams) == ["Поддержка", "Продажи"]
        assert "correct horse" not in agent.password_hash
        assert await authenticate(session, "anna@example.com", "correct horse battery") is not None


async def test_create_agent_refusals_are_one_line(database_url: str, engine: object, tmp_path: Path) -> None:
    base = ("create-agent", "--email", "bob@example.com", "--name", "Bob")
    short = await okno(*base, "--password-stdin", database_url=database_url, cwd=tmp_path, stdin="short\n")
    assert short.code == 2
    assert short.err_lines == ["okno create-agent: password: password must be at least 8 characters"]
    # No terminal and no --password-stdin: the password is never taken from argv, nor read blindly.
    no_tty = await okno(*base, database_url=database_url, cwd=tmp_path)
    assert no_tty.code == 2
    assert "--password-stdin" in no_tty.err
    ok = await okno(
        *base, "--password-stdin", database_url=database_url, cwd=tmp_path, stdin="long enough pw\n"
    )
    assert ok.code == 0, ok.err
    again = await okno(
        *base, "--password-stdin", database_url=database_url, cwd=tmp_path, stdin="long enough pw\n"
    )
    assert again.code == 2
    assert "exists" in again.err
    for run in (short, no_tty, again):
        assert "Traceback" not in run.err


async def test_ingest_reports_a_bad_file_and_ingests_the_others(
    database_url: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    good = write_json(tmp_path / "good.json", payload("m-1"))
    bad = write_json(tmp_path / "bad.json", payload("m-2", email="not-an-address"))
    good2 = write_json(tmp_path / "good2.json", payload("m-3", email="emma@example.co.uk", text="Hello"))
    run = await okno(
        "ingest", "api", good.name, bad.name, good2.name, database_url=database_url, cwd=tmp_path
    )
    assert run.code == 1
    results = [json.loads(line) for line in run.lines]
    assert len(results) == 2
    for result in results:
        assert set(result) == {"contact_id", "conversation_id", "message_id", "duplicate"}
        assert result["duplicate"] is False
    assert results[0]["contact_id"] != results[1]["contact_id"]
    naming_bad = [line for line in run.err_lines if "bad.json" in line]
    assert len(naming_bad) == 1
    assert "sender.email" in naming_bad[0]
    assert not any("good" in line for line in run.err_lines)
    assert "Traceback" not in run.err
    assert await count_messages(sessionmaker) == 2
    async with sessionmaker() as session:  # no account configured: an "api" account was made for the import
        account = await session.scalar(select(ChannelAccount).where(ChannelAccount.name == "api"))
        assert account is not None and account.kind == "api"


async def test_ingest_the_same_file_twice_is_one_message(
    database_url: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    good = write_json(tmp_path / "good.json", payload("m-1"))
    run = await okno("ingest", "api", good.name, good.name, database_url=database_url, cwd=tmp_path)
    assert run.code == 0, run.err
    first, second = (json.loads(line) for line in run.lines)
    assert first["duplicate"] is False
    assert second == {**first, "duplicate": True}
    again = await okno("ingest", "api", good.name, database_url=database_url, cwd=tmp_path)
    assert again.code == 0, again.err
    assert json.loads(again.out) == second
    assert await count_messages(sessionmaker) == 1


async def test_ingest_unreadable_broken_and_array_files(
    database_url: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    array = write_json(tmp_path / "batch.json", [payload("a-1"), {"external_id": "a-2"}, payload("a-3")])
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    args = ("ingest", "api", "missing.json", "broken.json", array.name)
    run = await okno(*args, database_url=database_url, cwd=tmp_path)
    assert run.code == 1
    assert len(run.lines) == 2  # the array's two good elements
    refused = [
        line for line in run.err_lines if line.startswith(("missing.json:", "broken.json:", "batch.json:"))
    ]
    assert len(refused) == 3, run.err
    assert any(line.startswith("missing.json: cannot read") for line in refused)
    assert any(line.startswith("broken.json: not valid JSON") for line in refused)
    assert any(line.startswith("batch.json:") and "item 1" in line for line in refused)
    assert "Traceback" not in run.err
    assert await count_messages(sessionmaker) == 2


async def test_ingest_into_a_configured_account(
    database_url: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    config = tmp_path / "okno.toml"
    config.write_text(
        '[accounts.shop]\nkind = "api"\ntoken = "t1"\n\n[accounts.crm]\nkind = "api"\ntoken = "t2"\n',
        encoding="utf-8",
    )
    good = write_json(tmp_path / "good.json", payload("m-1"))
    ambiguous = await okno(
        "--config", config.name, "ingest", "api", good.name, database_url=database_url, cwd=tmp_path
    )
    assert ambiguous.code == 2
    assert "--account" in ambiguous.err
    args = ("ingest", "api", good.name, "--account", "crm")
    run = await okno(*args, database_url=database_url, cwd=tmp_path, env={"OKNO_CONFIG": str(config)})
    assert run.code == 0, run.err
    async with sessionmaker() as session:
        message = await session.get_one(Message, json.loads(run.out)["message_id"])
        account = await session.get_one(ChannelAccount, message.account_id)
        assert account.name == "crm"
    unknown = await okno(*args[:-1], "nope", database_url=database_url, cwd=tmp_path)
    assert unknown.code == 2
    assert "nope" in unknown.err


def test_ingest_for_a_channel_not_built_yet(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A kind the registry knows whose package is not in this checkout (every real one is built by now).
    monkeypatch.setitem(KNOWN_KINDS, "fax", "channels.fax_not_built")
    monkeypatch.setenv("OKNO_DATABASE_URL", "sqlite+aiosqlite:////nonexistent/dir/x.db")  # never opened
    (tmp_path / "x.eml").write_text("From: a@example.com\n\nhi\n", encoding="utf-8")
    code = main(["ingest", "fax", str(tmp_path / "x.eml")])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err == "okno ingest: channel 'fax' not available yet\n"
    assert captured.out == ""


async def test_ingest_for_an_unknown_channel(tmp_path: Path) -> None:
    unknown = await okno("ingest", "fax", "x.eml", database_url=None, cwd=tmp_path)
    assert unknown.code == 2
    assert unknown.err_lines == [f"okno ingest: unknown channel 'fax' (known: {', '.join(KNOWN_KINDS)})"]


async def test_bad_configuration_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text("port = [\n", encoding="utf-8")
    (tmp_path / "wrong.toml").write_text('port = "eighty"\n', encoding="utf-8")
    for args in (
        ("--config", "broken.toml", "migrate"),
        ("--config", "wrong.toml", "migrate"),
        ("--config", "absent.toml", "migrate"),
    ):
        run = await okno(*args, database_url=None, cwd=tmp_path)
        assert run.code == 2, args
        assert len(run.err_lines) == 1, run.err
        assert run.err.startswith("okno migrate: ")
        assert "Traceback" not in run.err


async def test_unreachable_database_is_one_line_and_exit_2(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://okno:secret-pw@127.0.0.1:1/okno"
    run = await okno("migrate", database_url=url, cwd=tmp_path)
    assert run.code == 2
    assert len(run.err_lines) == 1, run.err
    assert "cannot use the database postgresql+asyncpg://okno:***@127.0.0.1:1/okno" in run.err
    assert "secret-pw" not in run.err
    debug = await okno("--debug", "migrate", database_url=url, cwd=tmp_path)
    assert debug.code != 0
    assert "Traceback" in debug.err
