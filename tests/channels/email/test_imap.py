"""Receiving over IMAP from a real Dovecot: IDLE, polling, the cursor, reconnects, TLS, limits."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.base import AccountContext, ChannelAuthError, InboundItem, MemoryCursor
from channels.email.connector import EmailConnector
from channels.email.imap import ImapCursor, ImapError, encode_mailbox
from inbox.ingest import IngestQueue
from inbox.items import InboundMessage, Refused
from inbox.models import ChannelAccount, Message
from tests.channels.email.conftest import USERS
from tests.channels.email.servers import Dovecot, MailServer, available, free_port
from tests.conftest import require_service
from tests.waiting import eventually


def mail(n: int, *, size: int = 0, sender: str = "olga@example.ru") -> bytes:
    padding = ("x" * 76 + "\r\n") * (size // 78) if size else ""
    return (
        f"From: Ольга <{sender}>\r\nTo: support@example.com\r\nSubject: Письмо {n}\r\n"
        f"Message-ID: <mail-{n}@example.ru>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Текст {n}\r\n{padding}"
    ).encode()


async def smtp_send(server: MailServer, data: bytes, to: str = "support@example.com") -> None:
    await aiosmtplib.send(
        data,
        sender="olga@example.ru",
        recipients=[to],
        hostname="127.0.0.1",
        port=server.port,
        local_hostname="client",
    )


class Recorder:
    """A sink that keeps what it was given (optionally failing first), as the hub's sink would commit it."""

    def __init__(self, fail_first: int = 0) -> None:
        self.items: list[InboundMessage] = []
        self.refused: list[Refused] = []
        self.fail_first = fail_first

    async def __call__(self, item: InboundItem) -> object:
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("database unavailable")
        if isinstance(item, Refused):
            self.refused.append(item)
            return None
        assert isinstance(item, InboundMessage)
        self.items.append(item)
        return None

    @property
    def ids(self) -> list[str]:
        return [i.external_id for i in self.items]


def context(server: Dovecot, cursor: MemoryCursor | None = None, **options: Any) -> AccountContext:
    password = options.pop("password", USERS["support"])
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": "plain",
        "login": "support",
        "from_address": "support@example.com",
        "reconnect_max_seconds": 1.0,
    }
    base.update(options)
    return AccountContext(
        id=1,
        name="support",
        kind="email",
        options=base,
        secrets={"password": password},
        cursor=cursor or MemoryCursor(),
    )


class Running:
    """A connector's receive loop running in a task, stopped (and awaited) at the end."""

    def __init__(self, account: AccountContext, sink: Callable[[InboundItem], Awaitable[object]]) -> None:
        self.connector = EmailConnector(account)
        self.task = asyncio.create_task(self.connector.run(sink))

    @property
    def state(self) -> str:
        return self.connector.state

    async def idle(self) -> None:
        """Until the server has accepted IDLE: everything in the mailbox is handed in."""
        await eventually(
            lambda: (self.connector.ready.is_set() and self.state == "idle") or self.task.done(),
            "the receiver to enter IDLE",
        )
        if self.task.done():
            self.task.result()

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.connector.close()


@pytest.fixture
async def running() -> AsyncIterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(account: AccountContext, sink: Callable[[InboundItem], Awaitable[object]]) -> Running:
        run = Running(account, sink)
        started.append(run)
        return run

    yield start
    for run in started:
        await run.stop()


async def test_mail_sent_over_smtp_reaches_the_sink_through_idle(
    dovecot: Dovecot, smtp: MailServer, running: Callable[..., Running]
) -> None:
    sink = Recorder()
    run = running(context(dovecot), sink)
    await run.idle()
    await smtp_send(smtp, mail(1))
    await eventually(lambda: len(sink.items) == 1, "the mail")
    [item] = sink.items
    assert (item.external_id, item.subject, item.text) == ("mail-1@example.ru", "Письмо 1", "Текст 1")
    assert item.sender.name == "Ольга" and item.meta["imap"] == {"folder": "INBOX", "uid": 1}
    stats = run.connector.stats
    assert stats is not None and stats.polls == 0 and stats.connections == 1


async def test_backlog_is_read_in_chunks_and_a_restart_resumes_after_the_cursor(
    dovecot: Dovecot, running: Callable[..., Running]
) -> None:
    for n in range(1, 6):
        dovecot.deliver("support", mail(n))
    cursor = MemoryCursor()
    sink = Recorder()
    first = running(context(dovecot, cursor, fetch_batch=2), sink)
    await first.idle()
    assert sink.ids == [f"mail-{n}@example.ru" for n in range(1, 6)]
    assert json.loads(cursor.value or "")["uid"] == 5
    await first.stop()

    for n in (6, 7):
        dovecot.deliver("support", mail(n))
    second = running(context(dovecot, cursor, fetch_batch=2), sink)
    await eventually(lambda: len(sink.items) == 7, "the two new mails")
    await second.idle()
    assert sink.ids == [f"mail-{n}@example.ru" for n in range(1, 8)]  # nothing twice, nothing skipped
    stats = second.connector.stats
    assert stats is not None and stats.fetched == 2


async def test_renumbered_folder_is_read_again_without_duplicating_stored_mail(
    dovecot: Dovecot,
    running: Callable[..., Running],
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
) -> None:
    account = ChannelAccount(name="support", kind="email")
    session.add(account)
    await session.commit()
    queue = IngestQueue(sessionmaker)
    await queue.start()
    try:
        for n in (1, 2):
            dovecot.deliver("support", mail(n))
        cursor = MemoryCursor()
        first = running(context(dovecot, cursor), queue.submit)
        await first.idle()
        await first.stop()
        stored = ImapCursor.load(cursor.value)
        assert stored is not None
        cursor.value = ImapCursor(stored.folder, stored.uidvalidity + 1, stored.uid).dump()

        again = running(context(dovecot, cursor), queue.submit)
        await again.idle()
        stats = again.connector.stats
        assert stats is not None and stats.fetched == 2  # read again …
        count = await session.scalar(select(func.count()).select_from(Message))
        assert count == 2  # … and recognized by Message-ID
        assert ImapCursor.load(cursor.value) == stored
    finally:
        await queue.stop()


async def test_first_sync_new_skips_the_existing_backlog(
    dovecot: Dovecot, smtp: MailServer, running: Callable[..., Running]
) -> None:
    dovecot.deliver("support", mail(1))
    sink = Recorder()
    run = running(context(dovecot, first_sync="new"), sink)
    await run.idle()
    await smtp_send(smtp, mail(2))
    await eventually(lambda: len(sink.items) == 1, "the new mail")
    assert sink.ids == ["mail-2@example.ru"]


@pytest.fixture
def dovecot_without_idle() -> Iterator[Dovecot]:
    require_service("dovecot", available(), "apt-get install dovecot-imapd dovecot-core")
    server = Dovecot(USERS, idle=False)
    server.start()
    yield server
    server.remove()


async def test_server_without_idle_is_polled(
    dovecot_without_idle: Dovecot, running: Callable[..., Running]
) -> None:
    sink = Recorder()
    run = running(context(dovecot_without_idle, poll_seconds=0.1), sink)
    await eventually(lambda: run.state == "polling", "polling")
    dovecot_without_idle.deliver("support", mail(1))
    await eventually(lambda: len(sink.items) == 1, "the polled mail")
    stats = run.connector.stats
    assert stats is not None and stats.polls >= 1 and stats.idle_renewals == 0


async def test_idle_is_renewed_and_keeps_receiving(
    dovecot: Dovecot, smtp: MailServer, running: Callable[..., Running]
) -> None:
    sink = Recorder()
    run = running(context(dovecot, idle_renew_seconds=0.2), sink)
    await eventually(
        lambda: (run.connector.stats.idle_renewals if run.connector.stats else 0) >= 3, "three IDLE renewals"
    )
    await smtp_send(smtp, mail(1))
    await eventually(lambda: len(sink.items) == 1, "the mail after renewals")
    assert run.connector.stats is not None and run.connector.stats.connections == 1


async def test_server_restart_mid_session_loses_nothing_and_fetches_nothing_twice(
    dovecot: Dovecot, smtp: MailServer, running: Callable[..., Running]
) -> None:
    sink = Recorder()
    run = running(context(dovecot), sink)
    await run.idle()
    await smtp_send(smtp, mail(1))
    await eventually(lambda: len(sink.items) == 1, "the first mail")
    await asyncio.to_thread(dovecot.stop)
    await smtp_send(smtp, mail(2))  # arrives while the IMAP server is down
    await asyncio.to_thread(dovecot.start)
    await eventually(lambda: len(sink.items) == 2, "the mail that arrived during the restart")
    await run.idle()
    await smtp_send(smtp, mail(3))
    await eventually(lambda: len(sink.items) == 3, "a mail after the restart")
    assert sink.ids == ["mail-1@example.ru", "mail-2@example.ru", "mail-3@example.ru"]
    stats = run.connector.stats
    assert stats is not None and stats.connections == 2 and stats.fetched == 3


async def test_refused_login_stops_with_an_auth_error(dovecot: Dovecot) -> None:
    connector = EmailConnector(context(dovecot, password="wrong"))
    with pytest.raises(ChannelAuthError, match="IMAP login refused for 'support'"):
        await connector.run(Recorder())
    await connector.close()


async def test_temporary_login_failure_is_retried_not_reported_as_bad_credentials(dovecot: Dovecot) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: the passwd-file is made unreadable for Dovecot's auth process")
    (dovecot.directory / "users").chmod(0o600)  # Dovecot answers "NO [UNAVAILABLE] Temporary ..."
    connector = EmailConnector(context(dovecot, connect_attempts=1))
    with pytest.raises(ImapError, match=r"failed for now: \[UNAVAILABLE\]"):
        await connector.run(Recorder())
    await connector.close()


async def test_unreachable_server_fails_after_the_configured_attempts() -> None:
    server = Dovecot(USERS)  # configured, never started: nothing listens on its port
    try:
        connector = EmailConnector(context(server, connect_attempts=2, reconnect_max_seconds=0.05))
        with pytest.raises(ImapError, match=f"cannot connect to 127.0.0.1:{server.port}"):
            await connector.run(Recorder())
        await connector.close()
    finally:
        server.remove()


async def test_a_misconfigured_account_says_which_option(running: Callable[..., Running]) -> None:
    bad = AccountContext(id=1, name="support", kind="email", options={"host": "x", "folderr": "INBOX"})
    connector = EmailConnector(bad)  # constructing never fails: the supervisor reports the error
    with pytest.raises(ValueError, match="account 'support': folderr: unknown option"):
        await connector.run(Recorder())


@pytest.fixture
def dovecot_tls(certificate: tuple[Path, Path]) -> Iterator[Dovecot]:
    require_service("dovecot", available(), "apt-get install dovecot-imapd dovecot-core")
    server = Dovecot(USERS, cert=certificate)
    server.start()
    yield server
    server.remove()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
async def test_tls_connections(
    dovecot_tls: Dovecot,
    certificate: tuple[Path, Path],
    running: Callable[..., Running],
    security: str,
) -> None:
    port = dovecot_tls.ssl_port if security == "ssl" else dovecot_tls.port
    sink = Recorder()
    run = running(context(dovecot_tls, security=security, port=port, ca_file=str(certificate[0])), sink)
    await run.idle()
    dovecot_tls.deliver("support", mail(1))
    await eventually(lambda: len(sink.items) == 1, "the mail over TLS")


async def test_tls_with_an_unknown_certificate_is_refused(dovecot_tls: Dovecot) -> None:
    connector = EmailConnector(
        context(dovecot_tls, security="ssl", port=dovecot_tls.ssl_port, connect_attempts=1)
    )
    with pytest.raises(ImapError, match="CERTIFICATE_VERIFY_FAILED"):
        await connector.run(Recorder())
    await connector.close()


async def test_mail_over_the_size_limit_is_taken_with_its_headers_only(
    dovecot: Dovecot, running: Callable[..., Running]
) -> None:
    dovecot.deliver("support", mail(1, size=8000))
    dovecot.deliver("support", mail(2))
    sink = Recorder()
    run = running(context(dovecot, max_message_bytes=4096), sink)
    await run.idle()
    big, small = sink.items
    assert big.subject == "Письмо 1" and big.text.startswith("[the message is ")
    assert big.text.endswith("over the limit of 4096: only its headers were fetched]")
    assert [(a.filename, a.refused is not None) for a in big.attachments] == [("message.eml", True)]
    assert small.text == "Текст 2"


async def test_mail_that_cannot_be_taken_goes_to_the_sink_refused_and_the_cursor_moves_on(
    dovecot: Dovecot, running: Callable[..., Running]
) -> None:
    unreadable = b"Subject: no sender\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n"
    dovecot.deliver("support", unreadable)
    dovecot.deliver("support", mail(2))
    cursor = MemoryCursor()
    sink = Recorder()
    run = running(context(dovecot, cursor), sink)
    await run.idle()
    assert sink.ids == ["mail-2@example.ru"]
    [refused] = sink.refused  # kept with its bytes and where it was, not only logged
    assert refused.raw == unreadable and refused.account_id == 1
    assert refused.reason == "no sender: the mail has no From header"
    uidvalidity = json.loads(cursor.value or "")["uidvalidity"]
    assert refused.position == f"INBOX UIDVALIDITY {uidvalidity} UID 1"
    assert run.connector.stats is not None and run.connector.stats.refused == 1
    assert json.loads(cursor.value or "")["uid"] == 2


async def test_a_failing_sink_leaves_the_cursor_so_the_mail_comes_again(dovecot: Dovecot) -> None:
    dovecot.deliver("support", mail(1))
    cursor = MemoryCursor()
    connector = EmailConnector(context(dovecot, cursor))
    with pytest.raises(RuntimeError, match="database unavailable"):
        await connector.run(Recorder(fail_first=1))
    await connector.close()
    assert json.loads(cursor.value or "")["uid"] == 0

    sink = Recorder()
    again = Running(context(dovecot, cursor), sink)
    try:
        await again.idle()
    finally:
        await again.stop()
    assert sink.ids == ["mail-1@example.ru"]


async def test_folder_with_a_cyrillic_name(dovecot: Dovecot, running: Callable[..., Running]) -> None:
    folder = dovecot.maildir("support") / ("." + encode_mailbox("Входящие").strip('"'))
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True)
    if os.geteuid() == 0:
        for path in (folder, *folder.iterdir()):
            os.chown(path, dovecot.uid, dovecot.gid)
    (folder / "new" / "1.okno-test").write_bytes(mail(1))
    sink = Recorder()
    run = running(context(dovecot, folder="Входящие"), sink)
    await run.idle()
    assert sink.ids == ["mail-1@example.ru"]
    assert sink.items[0].meta["imap"]["folder"] == "Входящие"


async def test_missing_folder_is_a_configuration_error(dovecot: Dovecot) -> None:
    connector = EmailConnector(context(dovecot, folder="Nope"))
    with pytest.raises(ValueError, match="cannot open the IMAP folder 'Nope'"):
        await connector.run(Recorder())
    await connector.close()


def test_mailbox_names_are_encoded_for_the_wire() -> None:
    assert encode_mailbox("INBOX") == '"INBOX"'
    assert encode_mailbox("Входящие") == '"&BBIERQQ+BDQETwRJBDgENQ-"'
    assert encode_mailbox('A&B "x"') == '"A&-B \\"x\\""'
    assert free_port() > 0
