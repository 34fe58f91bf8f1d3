"""An e-mail account's settings, read from its configuration (options and secrets) and checked once.

```toml
[accounts.support]
kind = "email"
host = "imap.example.com"          # IMAP
port = 993                         # default: 993 for ssl, 143 otherwise
security = "ssl"                   # ssl | starttls | plain
login = "support@example.com"
password_env = "SUPPORT_MAIL_PASSWORD"
folder = "INBOX"
smtp_host = "smtp.example.com"     # default: host
smtp_port = 465                    # default: 465 for ssl, 587 for starttls, 25 for plain
smtp_security = "ssl"              # default: starttls
smtp_auth = true                   # false: send without logging in (a relay that trusts our address)
smtp_login = "support@example.com" # default: login
smtp_password_env = "SMTP_PASS"    # default: password
from_address = "support@example.com"  # default: login, if it is an address
from_name = "Support"              # shown after the agent's name: "Анна (Support)"
secret_env = "SUPPORT_REPLY_KEY"   # signs reply tokens; default: the password
```

Unknown option names are refused (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import ssl
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from channels.base import AccountContext
from channels.email.threading import ReplyTokens

Security = Literal["ssl", "starttls", "plain"]
MIB = 1024 * 1024


class EmailConfigError(ValueError):
    """The account's configuration cannot work; the message names the option."""


class EmailOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # IMAP (receiving)
    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    security: Security = "ssl"
    login: str | None = None
    folder: str = Field("INBOX", min_length=1)
    tls_verify: bool = True
    ca_file: str | None = None
    timeout: float = Field(30.0, gt=0)
    idle: bool = True
    idle_renew_seconds: float = Field(25 * 60, gt=0, lt=29 * 60)  # servers may drop IDLE after 30 min
    poll_seconds: float = Field(60.0, gt=0)
    fetch_batch: int = Field(25, ge=1, le=500)
    first_sync: Literal["all", "new"] = "all"
    reconnect_max_seconds: float = Field(60.0, gt=0)
    connect_attempts: int = Field(5, ge=1)
    # SMTP (sending)
    smtp_host: str | None = None
    smtp_port: int | None = Field(None, ge=1, le=65535)
    smtp_security: Security = "starttls"
    smtp_auth: bool = True
    smtp_login: str | None = None
    smtp_timeout: float = Field(60.0, gt=0)
    helo_name: str | None = None
    from_address: str | None = None
    from_name: str | None = None
    subject_tag: bool = True
    honor_reply_to: bool = True
    reply_token_in_address: bool = True
    # Parsing
    max_attachment_bytes: int = Field(25 * MIB, ge=0)
    max_message_bytes: int = Field(50 * MIB, ge=1024)

    @model_validator(mode="after")
    def _from_address(self) -> EmailOptions:
        if self.from_address is not None and "@" not in self.from_address:
            raise ValueError("from_address must be an e-mail address")
        if self.smtp_login is not None and not self.smtp_login.strip():
            # An empty login used to fall back to the IMAP login; say how to send without one instead.
            raise ValueError("smtp_login is empty: leave it out to use login, or set smtp_auth = false")
        return self


class EmailSettings:
    """Options plus secrets of one account, with the defaults that depend on other options resolved."""

    def __init__(self, account: AccountContext) -> None:
        try:
            options = EmailOptions.model_validate(dict(account.options))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "options"
            message = "unknown option" if err["type"] == "extra_forbidden" else err["msg"]
            raise EmailConfigError(f"account {account.name!r}: {where}: {message}") from None
        self.account = account
        self.options = options
        secrets = account.secrets
        self.password = secrets.get("password")
        self.smtp_password = secrets.get("smtp_password") or self.password
        key = secrets.get("secret") or self.password
        self.tokens = ReplyTokens(key.encode(), account.id) if key else None
        self._tls: ssl.SSLContext | None = None

    def tls_context(self) -> ssl.SSLContext:
        """The TLS context of this account's connections, built once: loading the CA store reads many
        files, which must not happen on the event loop at every reconnect."""
        if self._tls is None:
            context = ssl.create_default_context(cafile=self.options.ca_file)
            if not self.options.tls_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._tls = context
        return self._tls

    # -- IMAP ----------------------------------------------------------------------------------------
    def imap(self) -> tuple[str, int, Security, str, str]:
        """host, port, security, login, password — or EmailConfigError naming what is missing."""
        o = self.options
        missing = [n for n, v in (("host", o.host), ("login", o.login), ("password", self.password)) if not v]
        if missing:
            raise EmailConfigError(
                f"account {self.account.name!r} cannot receive mail: set {', '.join(missing)}"
            )
        assert o.host and o.login and self.password
        port = o.port or (993 if o.security == "ssl" else 143)
        return o.host, port, o.security, o.login, self.password

    # -- SMTP ----------------------------------------------------------------------------------------
    @property
    def from_address(self) -> str | None:
        o = self.options
        if o.from_address:
            return o.from_address
        if o.login and "@" in o.login:
            return o.login
        return None

    def smtp(self) -> tuple[str, int, Security, str | None, str | None]:
        """host, port, security, login, password (login None: no authentication, as with smtp_auth off)."""
        o = self.options
        host = o.smtp_host or o.host
        if not host:
            raise EmailConfigError(f"account {self.account.name!r} cannot send mail: set smtp_host")
        security = o.smtp_security
        port = o.smtp_port or {"ssl": 465, "starttls": 587, "plain": 25}[security]
        if not o.smtp_auth:
            return host, port, security, None, None
        login = o.smtp_login or o.login
        return host, port, security, login if self.smtp_password else None, self.smtp_password
