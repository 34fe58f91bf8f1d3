"""The admin's "test connection" of an e-mail account, against a real Dovecot and SMTP server: IMAP login and
SELECT, SMTP EHLO and AUTH, each side worded by what happened and never with a secret."""

from __future__ import annotations

from typing import Any

from channels.base import AccountContext, check_connection
from channels.email import EmailConnector
from tests.channels.email.conftest import USERS
from tests.channels.email.servers import Dovecot, MailServer, free_port


def account(
    imap_port: int, smtp_port: int, password: str = USERS["support"], **options: Any
) -> AccountContext:
    return AccountContext(
        id=1,
        name="support",
        kind="email",
        options={
            "host": "127.0.0.1",
            "port": imap_port,
            "security": "plain",
            "login": "support",
            "smtp_port": smtp_port,
            "smtp_security": "plain",
            **options,
        },
        secrets={"password": password},
    )


async def checked(context: AccountContext) -> tuple[bool, str]:
    connector = EmailConnector(context)
    try:
        found = await check_connection(connector)
    finally:
        await connector.close()
    return found.ok, found.detail


async def test_a_working_account_logs_in_on_both_sides_and_says_what_it_saw(
    dovecot: Dovecot, smtp: MailServer
) -> None:
    dovecot.deliver("support", b"From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n")
    ok, detail = await checked(account(dovecot.port, smtp.port))
    assert ok, detail
    assert f"IMAP 127.0.0.1:{dovecot.port}: logged in as 'support', folder 'INBOX' holds 1 messages" in detail
    assert f"SMTP 127.0.0.1:{smtp.port}: answered EHLO, logged in as 'support'" in detail
    assert smtp.auth.logins == ["support"] and smtp.received == []  # logged in, nothing sent


async def test_refused_credentials_are_named_on_each_side_without_the_password(
    dovecot: Dovecot, smtp: MailServer
) -> None:
    ok, detail = await checked(account(dovecot.port, smtp.port, password="wrong-secret-42"))
    assert not ok
    assert "IMAP login refused for 'support' at 127.0.0.1" in detail
    assert "SMTP login refused by 127.0.0.1" in detail
    assert "wrong-secret-42" not in detail


async def test_an_unreachable_server_is_told_from_one_that_answered(
    dovecot: Dovecot, smtp: MailServer
) -> None:
    closed = free_port()
    ok, detail = await checked(account(closed, smtp.port, timeout=5))
    assert not ok
    assert f"IMAP 127.0.0.1:{closed} unreachable" in detail
    assert f"SMTP 127.0.0.1:{smtp.port}: answered EHLO" in detail  # the other side still checked


async def test_smtp_without_auth_is_checked_without_a_login_and_a_missing_folder_is_named(
    dovecot: Dovecot, mailboxes: Dovecot
) -> None:
    relay = MailServer(mailboxes, auth=False)
    relay.start()
    try:
        ok, detail = await checked(account(dovecot.port, relay.port, smtp_auth=False, folder="Нет такой"))
    finally:
        relay.stop()
    assert not ok
    assert "cannot open the IMAP folder 'Нет такой'" in detail
    assert f"SMTP 127.0.0.1:{relay.port}: answered EHLO, no login configured (smtp_auth off)" in detail
