"""The mail servers of an e-mail account stopped and started under a hub process (`okno run`), seen
through the API as an operator sees them: while Dovecot is down the channel list shows the account
``retrying`` with the reason, a mail delivered meanwhile is ingested once it is back (and the account shows
``running``); while the SMTP server is down a reply stays queued with the last error on its message, and it
is sent once the server is back — each exactly once.

Uses the database under test (both backends), a Dovecot and an aiosmtpd server of its own. (The connector's
own outage handling is pinned in-process by tests/channels/email/test_channel_health.py and
test_integration.py; this is the whole hub, from the operator's side.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.channels.email.servers import Dovecot, MailServer, available
from tests.conftest import require_service
from tests.faults.harness import HubProcess, agent_token, hub_process
from tests.waiting import eventually

USERS = {"support": "support-secret", "customer": "customer-secret"}


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    require_service("dovecot", available(), "apt-get install dovecot-imapd dovecot-core")
    server = Dovecot(USERS)
    server.start()
    yield server
    server.remove()


@pytest.fixture
def smtp(dovecot: Dovecot) -> Iterator[MailServer]:
    server = MailServer(dovecot)
    server.start()
    yield server
    server.stop()


def mail(subject: str, text: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ольга Смирнова <customer@example.ru>"
    msg["To"] = "support@example.com"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.ru")
    msg.set_content(text)
    return msg.as_bytes()


def account(dovecot: Dovecot, smtp: MailServer) -> str:
    return (
        "[accounts.support]\n"
        'kind = "email"\nhost = "127.0.0.1"\n'
        f'port = {dovecot.port}\nsecurity = "plain"\nlogin = "support"\npassword_env = "OKNO_FAULTS_MAIL"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp.port}\nsmtp_security = "plain"\n'
        'from_address = "support@example.com"\n'
        "reconnect_max_seconds = 0.3\nconnect_attempts = 1000\n\n"
        "[outbox]\nbase_delay_seconds = 0.1\nmax_delay_seconds = 0.3\npoll_seconds = 0.1\n"
        "max_attempts = 1000\n"
    )


class Api:
    def __init__(self, http: aiohttp.ClientSession, hub: HubProcess, token: str) -> None:
        self.http, self.hub = http, hub
        self.headers = {"Authorization": f"Bearer {token}"}

    async def get(self, path: str) -> Any:
        async with self.http.get(f"{self.hub.url}{path}", headers=self.headers) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def channel(self) -> dict[str, Any]:
        [row] = (await self.get("/api/v1/channels"))["items"]
        return dict(row)

    async def inbound_texts(self) -> list[str]:
        conversations = (await self.get("/api/v1/conversations?limit=50"))["items"]
        texts = []
        for conversation in conversations:
            detail = await self.get(f"/api/v1/conversations/{conversation['id']}")
            texts += [m["text"] for m in detail["messages"] if m["direction"] == "in"]
        return sorted(texts)


async def test_mail_servers_restarted_show_on_the_channel_and_nothing_is_lost_or_sent_twice(
    database_url: str, engine: AsyncEngine, dovecot: Dovecot, smtp: MailServer, tmp_path: Path
) -> None:
    env = {"OKNO_FAULTS_MAIL": USERS["support"]}
    async with (
        hub_process(tmp_path / "hub", database_url, account(dovecot, smtp), env) as hub,
        aiohttp.ClientSession() as http,
    ):
        api = Api(http, hub, await agent_token(database_url))
        dovecot.deliver("support", mail("Заказ", "Где мой заказ?"))
        await eventually(lambda: _equal(api.inbound_texts(), ["Где мой заказ?"]), "the first mail ingested")
        assert (await api.channel())["state"] == "running"

        # IMAP down: the channel shows it, with the reason; a mail delivered meanwhile waits in the mailbox.
        await asyncio.to_thread(dovecot.stop)
        row = await eventually(lambda: _in_state(api, "retrying"), "the account shown retrying")
        assert f"127.0.0.1:{dovecot.port}" in row["detail"], row
        dovecot.deliver("support", mail("Ещё", "Пока сервер лежал"))
        await asyncio.to_thread(dovecot.start)
        row = await eventually(lambda: _in_state(api, "running"), "the account shown running again")
        assert row["detail"] is None
        await eventually(
            lambda: _equal(api.inbound_texts(), ["Где мой заказ?", "Пока сервер лежал"]),
            "the mail of the outage ingested",
        )

        # SMTP down: the reply stays queued, its message shows the last error; sent once the server is back.
        await asyncio.to_thread(smtp.stop)
        [conversation] = (await api.get("/api/v1/conversations?limit=50"))["items"]
        async with http.post(
            f"{hub.url}/api/v1/conversations/{conversation['id']}/replies",
            json={"text": "Заказ в пути"},
            headers=api.headers,
        ) as response:
            assert response.status == 201, await response.text()
            reply_id = (await response.json())["id"]

        async def reply() -> dict[str, Any]:
            detail = await api.get(f"/api/v1/conversations/{conversation['id']}")
            return next(m for m in detail["messages"] if m["id"] == reply_id)

        async def failed_attempt() -> dict[str, Any] | None:
            found = await reply()
            return found if found["delivery_error"] else None

        queued = await eventually(failed_attempt, "the reply's failed attempt shown")
        assert queued["delivery_status"] == "queued", queued
        await asyncio.to_thread(smtp.start)

        async def sent() -> dict[str, Any] | None:
            found = await reply()
            return found if found["delivery_status"] == "sent" else None

        await eventually(sent, "the reply sent once SMTP is back")
    delivered = [m for m in dovecot.messages("customer") if str(m["Subject"]).startswith("Re: Заказ")]
    assert len(delivered) == 1  # sent once


async def _equal(found: Any, expected: list[str]) -> bool:
    return bool(await found == expected)


async def _in_state(api: Api, state: str) -> dict[str, Any] | None:
    row = await api.channel()
    return row if row["state"] == state else None
