"""A safer first run, through the real `okno` command: configuration mistakes stop it with one line naming
the file, the account and the key (`okno check-config` says the same without starting); an account with
history keeps its kind until it is retired; `okno demo` replaces only a database it made and touches
nothing when its port is taken; one `okno run` per SQLite file; the demo is live end to end."""

from __future__ import annotations

import signal
import socket
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.cli import CliError, _create_demo_database, _remove_demo_database
from tests.hub.test_cli import okno, write_json
from tests.hub.test_demo import URL_LINE, running, stop, web_layer_missing
from tests.waiting import eventually

MISTAKES = """\
[accounts.site]
kind = "webchat"
alowed_origins = ["https://shop.example"]
reply_by_email = "support"

[accounts.fax]
kind = "fax"

[accounts.bot]
kind = "telegram"
token_env = "OKNO_TEST_UNSET_TOKEN"
"""


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_check_config_names_the_file_account_and_key_of_each_mistake(tmp_path: Path) -> None:
    (tmp_path / "okno.toml").write_text(MISTAKES, encoding="utf-8")
    run = await okno("--config", "okno.toml", "check-config", database_url=None, cwd=tmp_path)
    assert run.code == 1, run.err
    assert run.lines == [
        "okno.toml: [accounts.site] alowed_origins: unknown option (did you mean allowed_origins?)",
        "okno.toml: [accounts.site] reply_by_email: names no e-mail account 'support' "
        "(e-mail accounts: none configured)",
        "okno.toml: [accounts.fax] kind: unknown channel kind 'fax' "
        "(known: api, email, telegram, vk, webchat, sip)",
        "okno.toml: [accounts.bot] token_env: the environment variable OKNO_TEST_UNSET_TOKEN is not set",
    ]
    (tmp_path / "good.toml").write_text(
        '[accounts.site]\nkind = "webchat"\nallowed_origins = ["https://shop.example"]\n'
        'hours = "always"\nrequire_agent_online = false\n',
        encoding="utf-8",
    )
    good = await okno("--config", "good.toml", "check-config", database_url=None, cwd=tmp_path)
    assert (good.code, good.lines) == (0, ["ok: good.toml"]), good.err
    assert not (tmp_path / "var").exists()  # checking created no database


async def test_a_config_mistake_stops_okno_run_before_it_touches_anything(tmp_path: Path) -> None:
    (tmp_path / "okno.toml").write_text(MISTAKES, encoding="utf-8")
    database = tmp_path / "run.db"
    run = await okno(
        "--config", "okno.toml", "run", "--port", "0", database_url=sqlite_url(database), cwd=tmp_path
    )
    assert run.code == 2
    assert run.err_lines == [
        "okno run: okno.toml: [accounts.site] alowed_origins: unknown option (did you mean allowed_origins?) "
        "(and 3 more: see okno check-config)"
    ]
    assert not database.exists()
    (tmp_path / "value.toml").write_text(
        '[accounts.site]\nkind = "webchat"\nhours = "night"\n', encoding="utf-8"
    )
    value = await okno("--config", "value.toml", "run", database_url=sqlite_url(database), cwd=tmp_path)
    assert value.code == 2
    assert value.err_lines == ['okno run: value.toml: [accounts.site] hours: must be "business" or "always"']
    # An account table the settings themselves refuse: the file is named too.
    (tmp_path / "nokind.toml").write_text('[accounts.site]\ntitle = "x"\n', encoding="utf-8")
    nokind = await okno("--config", "nokind.toml", "check-config", database_url=None, cwd=tmp_path)
    assert nokind.code == 1
    assert nokind.lines == ["nokind.toml: invalid configuration: accounts.site.kind: Field required"]


async def test_an_account_with_history_keeps_its_kind_until_it_is_retired(tmp_path: Path) -> None:
    database = sqlite_url(tmp_path / "okno.db")
    (tmp_path / "api.toml").write_text('[accounts.shop]\nkind = "api"\ntoken = "t0ken"\n', encoding="utf-8")
    message = {"external_id": "1", "sender": {"email": "olga@mail.ru"}, "text": "Здравствуйте"}
    ingest = await okno(
        "--config",
        "api.toml",
        "ingest",
        "api",
        str(write_json(tmp_path / "m.json", message)),
        database_url=database,
        cwd=tmp_path,
    )
    assert ingest.code == 0, ingest.err
    (tmp_path / "mail.toml").write_text('[accounts.shop]\nkind = "email"\n', encoding="utf-8")
    check = await okno("--config", "mail.toml", "check-config", database_url=database, cwd=tmp_path)
    assert check.code == 1
    assert check.lines == [
        "mail.toml: [accounts.shop] kind: was 'api' and has history, so it cannot become 'email': run "
        "`okno accounts retire shop` (its history stays) to reuse the name, "
        "or give the new account another name"
    ]
    run = await okno("--config", "mail.toml", "run", "--port", "0", database_url=database, cwd=tmp_path)
    assert run.code == 2
    assert run.err_lines == [f"okno run: {check.lines[0]}"]
    retire = await okno("accounts", "retire", "shop", database_url=database, cwd=tmp_path)
    assert retire.code == 0, retire.err
    assert "its history stays under 'shop~retired-1'" in retire.out
    again = await okno("accounts", "retire", "shop", database_url=database, cwd=tmp_path)
    assert (again.code, again.err_lines) == (2, ["okno accounts: no channel account named 'shop'"])
    ok = await okno("--config", "mail.toml", "check-config", database_url=database, cwd=tmp_path)
    assert (ok.code, ok.lines) == (0, ["ok: mail.toml"]), ok.err
    with sqlite3.connect(tmp_path / "okno.db") as connection:
        rows = connection.execute(
            "SELECT a.name, a.kind, a.state, count(c.id) FROM channel_accounts a "
            "LEFT JOIN conversations c ON c.account_id = a.id GROUP BY a.id"
        ).fetchall()
    assert rows == [("shop~retired-1", "api", "retired", 1)]


async def test_okno_demo_never_replaces_a_database_it_did_not_create(tmp_path: Path) -> None:
    precious = tmp_path / "shop.db"
    with sqlite3.connect(precious) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)")
        connection.execute("INSERT INTO orders (total) VALUES (4200)")
    before = precious.read_bytes()
    run = await okno("demo", "--port", "0", "--db", str(precious), database_url=None, cwd=tmp_path)
    assert run.code == 2
    assert run.err_lines == [
        f"okno demo: --db {precious}: a database that okno demo did not create; not replacing it "
        "(choose another --db, or add --force to replace it anyway)"
    ]
    assert precious.read_bytes() == before


def test_a_database_the_demo_marked_is_replaced_without_force(tmp_path: Path) -> None:
    marked = tmp_path / "demo.db"
    _create_demo_database(marked)
    with sqlite3.connect(marked) as connection:  # filled by the demo's migrations and sample data
        connection.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY)")
    _remove_demo_database(marked, force=False)
    assert not marked.exists()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    with pytest.raises(CliError, match="did not create"):
        _remove_demo_database(other, force=False)
    _remove_demo_database(other, force=True)
    assert not other.exists()


async def test_two_okno_run_on_one_sqlite_file_the_second_refuses(tmp_path: Path) -> None:
    if web_layer_missing():
        pytest.skip("hub.web is not built yet")
    database = tmp_path / "run.db"
    env = {"OKNO_DATABASE_URL": sqlite_url(database)}
    async with running("run", "--port", "0", cwd=tmp_path, env=env) as (proc, banner):
        url = next(m.group(1) for line in banner if (m := URL_LINE.match(line)))
        second = await okno("run", "--port", "0", database_url=sqlite_url(database), cwd=tmp_path)
        assert second.code == 2
        assert second.err_lines == [
            f"okno run: the database {database} is in use by another okno process (pid {proc.pid}; "
            f"lock {database}.lock): one hub process per SQLite file — several processes need PostgreSQL"
        ]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}login") as response:
                assert response.status == 200  # the first one serves on
            async with http.get(f"{url}demo/site") as response:
                assert response.status == 404  # the demo's page is the demo's only
        await stop(proc, signal.SIGTERM, tmp_path)
    # Once the first is gone, the file is free again (the lock went with the process).
    free = await okno("check-config", database_url=sqlite_url(database), cwd=tmp_path)
    assert free.code == 0


async def test_the_demo_is_live_and_a_second_demo_touches_nothing(tmp_path: Path) -> None:
    if web_layer_missing():
        pytest.skip("hub.web is not built yet")
    database = tmp_path / "demo.db"
    with sqlite3.connect(database) as connection:  # a SQLite file the demo did not make: --force replaces it
        connection.execute("CREATE TABLE scratch (x)")
    port = free_port()
    args = ("demo", "--host", "127.0.0.1", "--port", str(port), "--db", str(database))
    async with running(*args, "--force", cwd=tmp_path) as (proc, banner):
        url = next(m.group(1) for line in banner if (m := URL_LINE.match(line)))
        assert any(f"{url}demo/site" in line for line in banner)
        # Its inode: a demo that got through would have replaced the file. (Not its mtime: the running demo
        # copies its write-ahead log into it in the background.)
        made = database.stat().st_ino
        # A second demo on the same port: refused before it touches the database.
        other = tmp_path / "other"
        other.mkdir()
        second = await okno(*args, database_url=None, cwd=other)
        assert second.code == 2
        assert len(second.err_lines) == 1 and second.err.startswith(
            f"okno demo: cannot listen on 127.0.0.1:{port}"
        )
        assert database.stat().st_ino == made
        # On another port but the same file: the first demo's lock refuses it.
        third = await okno("demo", "--port", "0", "--db", str(database), database_url=None, cwd=other)
        assert third.code == 2 and "is in use by another okno process" in third.err
        assert database.stat().st_ino == made
        await live_demo(url)
        await stop(proc, signal.SIGINT, tmp_path)
    # The file carries the demo's mark (SQLite's application_id): the next demo replaces it without --force.
    with database.open("rb") as fh:
        assert fh.read(72)[68:72] == b"OKDM"


async def live_demo(url: str) -> None:
    """The demo's web chat answers at any hour, its page is served, and a reply on a sample-only account
    fails once as "demo: not connected"."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{url}demo/site") as response:
            assert response.status == 200
            assert 'data-account="demo-webchat"' in await response.text()
        async with http.get(f"{url}webchat/demo-webchat/config") as response:
            config: Any = await response.json()
            assert config["online"] is True  # no agent online, any hour
        credentials = {"email": "admin@okno.example", "password": "demo-admin"}
        async with http.post(f"{url}api/v1/auth/login", json=credentials) as response:
            assert response.status == 200, await response.text()
            csrf = (await response.json()).get("csrf_token")
        headers = {"X-CSRF-Token": csrf} if csrf else {}
        async with http.get(f"{url}api/v1/conversations", params={"limit": "100"}) as response:
            items = (await response.json())["items"]
        telegram = next(c for c in items if c["channel"] == "telegram")
        replies = f"{url}api/v1/conversations/{telegram['id']}/replies"
        async with http.post(replies, json={"text": "Добрый день!"}, headers=headers) as response:
            assert response.status == 201, await response.text()
            reply_id = (await response.json())["id"]

        async def delivery() -> dict[str, Any] | None:
            async with http.get(f"{url}api/v1/conversations/{telegram['id']}") as answer:
                found = [m for m in (await answer.json())["messages"] if m["id"] == reply_id]
            return found[0] if found and found[0]["delivery_status"] == "failed" else None

        failed = await eventually(delivery, "the demo reply marked failed")
        assert failed["delivery_error"] == "demo: not connected"
