"""`okno demo`: the sample data (built directly into the test database), and the real command serving it."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.base import KNOWN_KINDS
from hub.demo import DEMO_LOGINS, SALES, SUPPORT, load_demo
from inbox.agents import authenticate
from inbox.contacts import list_duplicates
from inbox.models import Agent, Call, ChannelAccount, Conversation, Message, Outbox, Task, Team
from inbox.policy import InboxPolicy
from tests.waiting import resolved, within

ROOT = Path(__file__).resolve().parents[2]
URL_LINE = re.compile(r"^Okno is running at (http://\S+/)")


async def test_demo_data_has_conversations_on_every_channel_kind(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    data = await load_demo(sessionmaker, InboxPolicy())
    assert set(data.channel_kinds) == set(KNOWN_KINDS)
    async with sessionmaker() as session:
        rows = await session.execute(
            select(ChannelAccount.kind, func.count(Conversation.id))
            .join(Conversation, Conversation.account_id == ChannelAccount.id)
            .group_by(ChannelAccount.kind)
        )
        per_kind: dict[str, int] = {kind: count for kind, count in rows}
        assert set(per_kind) == set(KNOWN_KINDS)
        assert all(count >= 2 for count in per_kind.values()), per_kind  # a Russian and an English one
        texts = list(await session.scalars(select(Message.body_text).where(Message.direction == "in")))
        assert any(re.search("[а-яё]", t) for t in texts)
        assert any(t.startswith(("Hello", "Hi")) for t in texts)
        teams = set(await session.scalars(select(Team.name)))
        assert {SUPPORT, SALES} <= teams


async def test_demo_people_can_log_in_with_the_printed_passwords(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    data = await load_demo(sessionmaker, InboxPolicy())
    assert sorted(login.role for login in data.logins) == ["admin", "agent", "agent", "supervisor"]
    async with sessionmaker() as session:
        for login in DEMO_LOGINS:
            agent = await authenticate(session, login.email, login.password)
            assert agent is not None, login.email
            assert agent.role == login.role
            assert sorted(t.name for t in agent.teams) == sorted(login.teams)
        assert await session.scalar(select(func.count()).select_from(Agent)) == len(DEMO_LOGINS)


async def test_demo_history_has_replies_a_note_a_duplicate_pair_and_a_callback(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    data = await load_demo(sessionmaker, InboxPolicy())
    results = data.results
    # The e-mail follow-up threads into the first message's conversation.
    assert results["invoice"].conversation_id == results["invoice-2"].conversation_id
    # A returning Telegram sender continues the same dialog.
    assert results["tariff"].conversation_id == results["tariff-2"].conversation_id
    async with sessionmaker() as session:
        directions = list(await session.scalars(select(Message.direction)))
        assert directions.count("out") >= 3
        assert directions.count("note") >= 1
        outbox = list(await session.scalars(select(Outbox.status)))
        assert outbox and set(outbox) == {"sent"}  # the sample history was "delivered"
        statuses = set(await session.scalars(select(Conversation.status)))
        assert {"open", "resolved"} <= statuses
        pairs = await list_duplicates(session)
        assert len(pairs) == 1
        names = {pairs[0].a.name, pairs[0].b.name}
        assert names == {"Мария Соколова"}
        sources = {pairs[0].a.source_channel, pairs[0].b.source_channel}
        assert sources == {"email", "sip"}
        task = await session.scalar(select(Task).where(Task.kind == "callback"))
        assert task is not None and task.status == "open"
        kate = next(login.email for login in DEMO_LOGINS if login.name == "Kate Miller")
        assert task.assignee_id == data.agents[kate]  # the card's owner
        call = await session.get_one(Call, task.call_id)
        assert call.disposition == "missed"
        assert call.contact_id == task.contact_id == results["voicemail"].contact_id


async def test_demo_api_account_is_the_given_one(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(ValueError, match="API account"):
        await load_demo(sessionmaker, InboxPolicy(), api_account="elsewhere")
    data = await load_demo(sessionmaker, InboxPolicy(), api_account="demo-api")
    async with sessionmaker() as session:
        account = await session.get_one(ChannelAccount, data.accounts["demo-api"])
        assert account.kind == "api"
        conv = await session.get_one(Conversation, data.results["api-address"].conversation_id)
        assert conv.account_id == account.id


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@asynccontextmanager
async def running(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[asyncio.subprocess.Process, list[str]]]:
    """`python -m hub ARGS` until its banner has printed "Press Ctrl+C"; yields the process and the banner.

    Its stderr (logs, access log) goes to a file, so a full pipe can never stall the server.
    """
    with (cwd / "stderr.log").open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hub",
            *args,
            cwd=cwd,
            env={**cli_env(), **(env or {})},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
        assert proc.stdout is not None
        banner: list[str] = []
        try:
            async with within("the server's banner (Press Ctrl+C)"):
                while not banner or not banner[-1].startswith("Press Ctrl+C"):
                    line = await proc.stdout.readline()
                    if not line:
                        log = (cwd / "stderr.log").read_text(errors="replace")
                        pytest.fail(f"the server exited early ({await proc.wait()}): {log[-2000:]}")
                    banner.append(line.decode().rstrip("\n"))
            yield proc, banner
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


def web_layer_missing() -> bool:
    return importlib.util.find_spec("hub.web.app") is None


async def stop(proc: asyncio.subprocess.Process, sig: signal.Signals, cwd: Path) -> None:
    # No pause first: the outbox finishes its pass and account-state writes are shielded on shutdown.
    proc.send_signal(sig)
    code = await resolved(proc.wait(), f"the server to exit on {sig.name}")
    log = (cwd / "stderr.log").read_text(errors="replace")
    assert code == 0, log[-2000:]
    assert "Traceback" not in log


async def test_okno_demo_serves_the_login_page_and_the_api(tmp_path: Path) -> None:
    if web_layer_missing():
        pytest.skip("hub.web is not built yet")
    db = tmp_path / "demo.db"
    db.write_bytes(b"")  # a previous (empty) demo database is replaced
    async with running("demo", "--port", "0", "--host", "127.0.0.1", "--db", str(db), cwd=tmp_path) as (
        proc,
        banner,
    ):
        url = next(m.group(1) for line in banner if (m := URL_LINE.match(line)))
        token_line = banner.index(next(line for line in banner if "token for this run" in line)) + 1
        token = banner[token_line].strip()
        text = "\n".join(banner)
        for login in DEMO_LOGINS:
            assert login.email in text and login.password in text
        admin = next(login for login in DEMO_LOGINS if login.role == "admin")
        # unsafe=True: keep cookies from an IP-address host (the session cookie of 127.0.0.1).
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"{url}login") as response:
                assert response.status == 200
                assert "text/html" in response.headers["Content-Type"]
            credentials = {"email": admin.email, "password": admin.password}
            async with http.post(f"{url}api/v1/auth/login", json=credentials) as response:
                assert response.status == 200, await response.text()
            async with http.get(f"{url}api/v1/conversations", params={"limit": "100"}) as response:
                assert response.status == 200, await response.text()
                body: Any = await response.json()
            channels = {c["channel"] for c in body["items"]}
            assert channels == set(KNOWN_KINDS)
            message = {
                "external_id": "t-1",
                "sender": {"name": "Test", "email": "t@example.com"},
                "text": "Hi",
            }
            post = f"{url}api/v1/channels/demo-api/messages"
            async with http.post(
                post, json=message, headers={"Authorization": f"Bearer {token}"}
            ) as response:
                assert response.status == 201, await response.text()
                assert (await response.json())["duplicate"] is False
            async with http.post(post, json=message, headers={"Authorization": "Bearer wrong"}) as response:
                assert response.status == 401
        await stop(proc, signal.SIGINT, tmp_path)


async def test_okno_demo_refuses_to_replace_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("my notes", encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        "demo",
        "--db",
        str(precious),
        cwd=tmp_path,
        env=cli_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await resolved(proc.communicate(), "okno demo to refuse the file")
    assert proc.returncode == 2
    assert "not a SQLite database" in err.decode()
    assert precious.read_text(encoding="utf-8") == "my notes"


async def test_okno_run_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    if web_layer_missing():
        pytest.skip("hub.web is not built yet")
    env = {"OKNO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'run.db'}"}
    async with running("run", "--port", "0", cwd=tmp_path, env=env) as (proc, banner):
        url = next(m.group(1) for line in banner if (m := URL_LINE.match(line)))
        async with aiohttp.ClientSession() as http, http.get(f"{url}login") as response:
            assert response.status == 200
        await stop(proc, signal.SIGTERM, tmp_path)
    assert (tmp_path / "run.db").exists()  # migrated on start


async def test_the_demo_has_a_month_of_history_for_the_reports(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    from datetime import timedelta

    from inbox.business_hours import BusinessHours
    from inbox.models import utcnow
    from inbox.reports.build import ReportRequest, build_report
    from inbox.reports.figures import SlaTargets

    await load_demo(sessionmaker, InboxPolicy())
    today = utcnow().date()
    month = ReportRequest(
        name="first_response", start=today - timedelta(days=30), end=today, timezone="UTC", by="day"
    )
    async with sessionmaker() as session:
        report = await build_report(session, month, sla=SlaTargets(), hours=BusinessHours.always())
    days_with_answers = [row for row in report.rows if row["count"]]
    assert sum(row["count"] for row in report.rows) >= 30 and len(days_with_answers) >= 15

    # The phone line's month: calls in working hours, some missed and most of those called back; the
    # leads came through the three advertised numbers, and some of them became clients.
    calls = ReportRequest(
        name="calls", start=today - timedelta(days=30), end=today, timezone="UTC", by="hour"
    )
    leads = ReportRequest(
        name="leads", start=today - timedelta(days=30), end=today, timezone="UTC", by="source"
    )
    async with sessionmaker() as session:
        by_hour = (await build_report(session, calls, sla=SlaTargets(), hours=BusinessHours.always())).rows
        by_source = (await build_report(session, leads, sla=SlaTargets(), hours=BusinessHours.always())).rows
    answered, missed = sum(r["answered"] for r in by_hour), sum(r["missed"] for r in by_hour)
    assert answered >= 60 and missed >= 5 and sum(r["callbacks"] for r in by_hour) >= 3
    assert len([r for r in by_hour if r["count"]]) >= 8
    sources = {r["group"]: r for r in by_source}
    assert {"Сайт", "Яндекс Директ", "Авито"} <= set(sources)
    assert sum(r["became_clients"] for r in by_source) > 0
