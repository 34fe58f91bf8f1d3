"""Real mail servers for the e-mail tests: Dovecot (IMAP) and aiosmtpd (SMTP) delivering into its Maildirs.

* :class:`Dovecot` writes a throwaway configuration into a temporary directory — passwd-file users,
  Maildir, one IMAP listener on a free loopback port (and IMAPS with a test certificate if asked) — runs
  ``dovecot -F`` in the foreground and stops it by its PID. It can be restarted on the same port, and
  told to hide IDLE from its capabilities (to exercise polling).
* :class:`MailServer` is an aiosmtpd SMTP server (its own thread) that accepts mail for the Dovecot users
  (``user+anything@any.domain`` goes to ``user``) and writes it into their Maildir the way an MDA does
  (``tmp/`` then rename into ``new/``). Recipients named ``tempfail…`` get a 451, ``reject…`` a 550. It can
  be stopped and started again on the same port.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.waiting import eventually_sync, port_open_sync

NOBODY = 65534


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost (openssl, an EC key: fast)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _group_alive(group: int) -> bool:
    """Whether a process of this group still runs (zombies waiting for init to reap them do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(group) and fields[0] != "Z":
            return True
    return False


def available() -> bool:
    return shutil.which("dovecot") is not None


class Dovecot:
    """One throwaway Dovecot (see the module docstring)."""

    def __init__(
        self,
        users: dict[str, str],
        *,
        cert: tuple[Path, Path] | None = None,
        idle: bool = True,
    ) -> None:
        # Its own directory, not pytest's (0700): Dovecot's auth and mail processes run as other users.
        self.directory = Path(tempfile.mkdtemp(prefix="okno-dovecot-"))
        self.directory.chmod(0o755)
        self.users = users
        self.port = free_port()
        self.ssl_port = free_port() if cert else None
        if cert is not None:
            copied = (self.directory / "cert.pem", self.directory / "key.pem")
            for source, target in zip(cert, copied, strict=True):
                shutil.copyfile(source, target)
                target.chmod(0o644)
            cert = copied
        self.cert = cert
        self.idle = idle
        self.process: subprocess.Popen[bytes] | None = None
        self.root = os.geteuid() == 0
        self.uid = NOBODY if self.root else os.getuid()
        self.gid = NOBODY if self.root else os.getgid()
        self._write_config()

    def maildir(self, user: str) -> Path:
        return self.directory / "mail" / user / "Maildir"

    def _write_config(self) -> None:
        d = self.directory
        for sub in ("run", "state"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        lines = []
        for user, password in self.users.items():
            home = d / "mail" / user
            for sub in ("tmp", "new", "cur"):
                (home / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
            lines.append(f"{user}:{{PLAIN}}{password}:{self.uid}:{self.gid}::{home}::")
        (d / "users").write_text("\n".join(lines) + "\n")
        if self.root:
            for path in [d / "mail", *(d / "mail").rglob("*")]:
                os.chown(path, self.uid, self.gid)
        me = "" if self.root else pwd.getpwuid(os.getuid()).pw_name
        ssl_lines = (
            ["ssl = yes", f"ssl_cert = <{self.cert[0]}", f"ssl_key = <{self.cert[1]}"]
            if self.cert
            else ["ssl = no"]
        )
        capability = [] if self.idle else ["imap_capability = IMAP4rev1 LITERAL+ SASL-IR ID ENABLE UIDPLUS"]
        config = [
            f"base_dir = {d}/run",
            f"state_dir = {d}/state",
            f"log_path = {d}/dovecot.log",
            "protocols = imap",
            "listen = 127.0.0.1",
            *ssl_lines,
            "disable_plaintext_auth = no",
            "auth_mechanisms = plain login",
            "auth_failure_delay = 0",  # a refused login answers at once (the default waits 2 s)
            "first_valid_uid = 1",
            "mail_location = maildir:~/Maildir",
            *capability,
            *([f"default_internal_user = {me}", f"default_login_user = {me}"] if not self.root else []),
            "passdb {",
            "  driver = passwd-file",
            f"  args = scheme=PLAIN username_format=%u {d}/users",
            "}",
            "userdb {",
            "  driver = passwd-file",
            f"  args = username_format=%u {d}/users",
            "}",
            "service imap-login {",
            "  inet_listener imap {",
            "    address = 127.0.0.1",
            f"    port = {self.port}",
            "  }",
            "  inet_listener imaps {",
            "    address = 127.0.0.1",
            f"    port = {self.ssl_port or 0}",
            "  }",
            "}",
        ]
        (d / "dovecot.conf").write_text("\n".join(config) + "\n")

    def start(self) -> None:
        # Its own process group: stopping the master leaves its imap/log/stats children running, so the
        # whole group (this server's processes and no others) is stopped.
        self.process = process = subprocess.Popen(
            ["dovecot", "-F", "-c", str(self.directory / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            for port in (self.port, self.ssl_port) if self.ssl_port else (self.port,):
                port_open_sync(port, f"dovecot listening on {port}", alive=lambda: process.poll() is None)
        except AssertionError as exc:
            self.stop()
            raise AssertionError(f"{exc}: {self.log()}") from None

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        group = process.pid  # the session leader's pid is the group id
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)  # imap processes say BYE to their clients and exit
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.3)  # the master lingers for seconds over its children: not needed
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        process.wait()
        eventually_sync(lambda: not _group_alive(group), f"dovecot's processes (group {group}) gone")
        if process.stderr is not None:
            process.stderr.close()

    def remove(self) -> None:
        """Stop, and delete the directory with the mail in it."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.directory / "dovecot.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"

    def deliver(self, user: str, data: bytes) -> Path:
        """Put one mail into `user`'s Maildir as an MDA would."""
        maildir = self.maildir(user)
        name = f"{time.time():.6f}.{uuid.uuid4().hex}.okno-test"
        tmp = maildir / "tmp" / name
        tmp.write_bytes(data)
        if self.root:
            os.chown(tmp, self.uid, self.gid)
        target = maildir / "new" / name
        tmp.rename(target)
        return target

    def mail_files(self, user: str) -> list[Path]:
        maildir = self.maildir(user)
        return sorted([*(maildir / "new").iterdir(), *(maildir / "cur").iterdir()], key=lambda p: p.name)

    def messages(self, user: str) -> list[EmailMessage]:
        out = []
        for path in self.mail_files(user):
            msg = message_from_bytes(path.read_bytes(), policy=policy.default)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
        return out


@dataclass
class _Handler:
    dovecot: Dovecot
    received: list[Envelope] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _user(self, address: str) -> str:
        local = address.rpartition("@")[0] if "@" in address else address
        return local.split("+", 1)[0].lower()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        user = self._user(address)
        if user.startswith("tempfail"):
            return "451 4.7.1 Greylisted, please try again later"
        if user.startswith("reject") or user not in self.dovecot.users:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in local recipient table"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        with self.lock:
            self.received.append(envelope)
        for address in envelope.rcpt_tos:
            self.dovecot.deliver(self._user(address), data)
        return "250 2.0.0 Ok: queued"


class _Authenticator:
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users
        self.logins: list[str] = []

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if self.users.get(login) == password:
                self.logins.append(login)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


class MailServer:
    """An SMTP server delivering into `dovecot`'s Maildirs (see the module docstring)."""

    def __init__(
        self,
        dovecot: Dovecot,
        *,
        tls: tuple[Path, Path] | None = None,
        implicit_tls: bool = False,
        auth: bool = True,
    ) -> None:
        self.handler = _Handler(dovecot)
        self.auth = _Authenticator(dovecot.users)
        self.port = free_port()
        context = None
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
        kwargs: dict[str, Any] = {
            "hostname": "127.0.0.1",
            "port": self.port,
            "authenticator": self.auth,
            # aiosmtpd offers AUTH on a plain connection unless it requires TLS for it: requiring TLS
            # on a server without TLS is how it offers no AUTH at all (a relay that trusts its clients).
            "auth_require_tls": not auth,
            "decode_data": False,
            "ident": "okno-test-smtpd",
        }
        if implicit_tls:
            kwargs["ssl_context"] = context
        elif context is not None:
            kwargs["tls_context"] = context
        self._options = kwargs
        self.controller = Controller(self.handler, **kwargs)
        self._stopped = False

    @property
    def received(self) -> list[Envelope]:
        return self.handler.received

    def start(self) -> None:
        if self._stopped:  # a stopped Controller's loop is closed: a restart (same port) needs a new one
            self.controller = Controller(self.handler, **self._options)
            self._stopped = False
        self.controller.start()

    def stop(self) -> None:
        self._stopped = True
        with contextlib.suppress(Exception):
            self.controller.stop()
