"""`okno migrate-data` refuses bad input with one line naming it, before it writes anything.

No PostgreSQL is needed: every refusal here comes before the target is written to (an unreachable target
is one that refuses connections). The copy itself: `test_migrate_data.py` (PostgreSQL pass).
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from pathlib import Path

import pytest

from hub import db
from hub.cli import main, sqlite_lock


def refusal(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The one line `okno migrate-data ARGS` ends with (exit code 2, nothing on stdout)."""
    code = main(["migrate-data", *args])
    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("okno migrate-data: "), err
    return lines[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def okno_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database at the migration head (no data: nothing is copied from it here)."""
    path = tmp_path_factory.mktemp("inputs") / "okno.db"

    async def prepare() -> None:
        engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await db.migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(prepare())
    return path


PG = "postgresql://okno@127.0.0.1/okno"


def test_help_names_the_source_and_the_target(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["migrate-data", "--help"])
    text = capsys.readouterr().out
    assert done.value.code == 0
    assert "--from SQLITE" in text and "--to POSTGRESQL_URL" in text and "--batch-size N" in text


def test_a_target_that_is_not_postgresql_is_refused(
    capsys: pytest.CaptureFixture[str], okno_file: Path
) -> None:
    line = refusal(capsys, "--from", str(okno_file), "--to", f"sqlite:///{okno_file}.copy")
    assert "the target must be PostgreSQL" in line
    line = refusal(capsys, "--from", str(okno_file), "--to", "not a url")
    assert "--to 'not a url': not a database URL" in line


def test_a_source_that_is_missing_or_not_sqlite_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert f"--from {tmp_path / 'gone.db'}: no such file" in refusal(
        capsys, "--from", str(tmp_path / "gone.db"), "--to", PG
    )
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    assert "not a SQLite database" in refusal(capsys, "--from", str(text_file), "--to", PG)
    assert "the source must be a SQLite database" in refusal(capsys, "--from", PG, "--to", PG)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    conn.close()
    assert "not an Okno database" in refusal(
        capsys, "--from", str(other), "--to", f"postgresql://okno@127.0.0.1:{closed_port()}/okno"
    )


def test_a_source_a_hub_is_running_on_is_refused(capsys: pytest.CaptureFixture[str], okno_file: Path) -> None:
    with sqlite_lock(f"sqlite+aiosqlite:///{okno_file}"):  # what `okno run` holds for its lifetime
        line = refusal(capsys, "--from", f"sqlite+aiosqlite:///{okno_file}", "--to", PG)
    assert "is in use by another okno process" in line


def test_an_unreachable_target_is_named_without_its_password(
    capsys: pytest.CaptureFixture[str], okno_file: Path
) -> None:
    target = f"postgresql://okno:s3cret@127.0.0.1:{closed_port()}/okno"
    line = refusal(capsys, "--from", str(okno_file), "--to", target)
    assert "cannot use the database postgresql+asyncpg://okno:***@127.0.0.1" in line
    assert "s3cret" not in line
