"""Fixtures for the e-mail tests: Maildirs, a throwaway Dovecot serving them, and an SMTP server delivering
into them (see servers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.channels.email.servers import Dovecot, MailServer, available, make_certificate
from tests.conftest import require_service

FIXTURES = Path(__file__).parent / "fixtures"
USERS = {"support": "support-secret", "customer": "customer-secret"}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def mailboxes() -> Iterator[Dovecot]:
    """The users' Maildirs and Dovecot's configuration, not started (SMTP-only tests need no IMAP)."""
    server = Dovecot(USERS)
    yield server
    server.remove()


@pytest.fixture
def dovecot(mailboxes: Dovecot) -> Dovecot:
    require_service("dovecot", available(), "apt-get install dovecot-imapd dovecot-core")
    mailboxes.start()
    return mailboxes


@pytest.fixture
def smtp(mailboxes: Dovecot) -> Iterator[MailServer]:
    server = MailServer(mailboxes)
    server.start()
    yield server
    server.stop()
