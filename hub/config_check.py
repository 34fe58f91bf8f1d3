"""Configuration mistakes found before anything starts: `okno check-config` lists them, `okno run` stops on
them (and a SIGHUP reload is refused on them).

Each mistake is one line naming the file, the account and the key, e.g.
``okno.toml: [accounts.site] alowed_origins: unknown option (did you mean allowed_origins?)``:

* an option its channel does not know — a typo must not pass for a default (``alowed_origins`` silently
  ignored would serve the widget to every origin);
* a ``kind`` that is no channel;
* a ``*_env`` key naming an environment variable that is not set (not checked on a disabled account);
* a ``reply_by_email`` that names no e-mail account;
* an option value the channel's own reader refuses (the same reader its connector uses at start).

The channel packages are imported only for the kinds configured (the Telegram one costs seconds).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import get_args, get_origin

from pydantic import BaseModel, ValidationError
from rapidfuzz import process
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.base import KNOWN_KINDS, AccountContext, registered
from hub.settings import AccountSettings, Settings

# Account fields that hold secrets (kept apart from the options, never shown by the API); any kind may
# have them, literally or as `NAME_env`.
SECRET_FIELDS = frozenset(
    {
        "token",
        "secret",
        "password",
        "smtp_password",
        "callback_token",
        "bot_token",
        "access_token",
        "api_key",
        "login_secret",
        "identity_secret",
    }
)
COMMON_FIELDS = frozenset({"kind", "team", "enabled"})


@dataclass(frozen=True, slots=True)
class Problem:
    """One configuration mistake: where (account and key) and what."""

    account: str | None
    key: str | None
    message: str

    def line(self, source: str) -> str:
        where = f"[accounts.{self.account}]" if self.account else "settings"
        key = f" {self.key}:" if self.key else ""
        return f"{source}: {where}{key} {self.message}"


class ConfigProblems(Exception):
    """The configuration has mistakes; ``str()`` is the first one as one line, with how many more."""

    def __init__(self, problems: list[Problem], source: str) -> None:
        self.problems = problems
        self.source = source
        first = problems[0].line(source)
        more = f" (and {len(problems) - 1} more: see okno check-config)" if len(problems) > 1 else ""
        super().__init__(first + more)

    def lines(self) -> list[str]:
        return [p.line(self.source) for p in self.problems]


def source_of(settings: Settings) -> str:
    """How lines name where the configuration came from."""
    return settings.config_file or "configuration (defaults and OKNO_* variables)"


# --------------------------------------------------------------------------------- options per channel


def _api_options() -> frozenset[str]:
    return frozenset({"callback_url"})


def _email_options() -> frozenset[str]:
    from channels.email.config import EmailOptions

    return frozenset(EmailOptions.model_fields)


def _telegram_options() -> frozenset[str]:
    from channels.telegram.connector import OPTIONS

    return OPTIONS


def _vk_options() -> frozenset[str]:
    from channels.vk.connector import OPTIONS

    return OPTIONS


def _webchat_options() -> frozenset[str]:
    from channels.webchat.config import WidgetOptions

    # reply_by_email is the hub's: which e-mail account answers the offline form (Hub.offline_form_mail)
    return frozenset(f.name for f in dataclasses.fields(WidgetOptions)) | {"reply_by_email"}


def _sip_options() -> frozenset[str]:
    from channels.sip.common import SipOptions

    return frozenset(SipOptions.model_fields)


KNOWN_OPTIONS: dict[str, Callable[[], frozenset[str]]] = {
    "api": _api_options,
    "email": _email_options,
    "telegram": _telegram_options,
    "vk": _vk_options,
    "webchat": _webchat_options,
    "sip": _sip_options,
}


def _pydantic_problem(name: str, exc: ValidationError) -> Problem:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or None
    return Problem(name, key, " ".join(str(err["msg"]).split()))


def _values_problem(name: str, account: AccountContext) -> Problem | None:
    """What the channel's own reader says about the option values (None: nothing)."""
    kind = account.kind
    options = dict(account.options)
    if kind == "api":
        url = options.get("callback_url")
        if url is not None and not (isinstance(url, str) and url.startswith(("https://", "http://"))):
            return Problem(name, "callback_url", "must be an http(s) URL")
    elif kind == "email":
        from channels.email.config import EmailOptions

        try:
            EmailOptions.model_validate(options)
        except ValidationError as exc:
            return _pydantic_problem(name, exc)
    elif kind == "sip":
        from channels.sip.common import SipOptions

        try:
            SipOptions.model_validate(options)
        except ValidationError as exc:
            return _pydantic_problem(name, exc)
    elif kind == "webchat":
        from channels.base import PayloadError
        from channels.webchat.config import widget_options

        try:
            widget_options(options)
        except PayloadError as exc:
            return Problem(name, exc.field, exc.reason)
    elif kind in ("telegram", "vk"):
        from channels.telegram.connector import TelegramConfigError
        from channels.telegram.connector import read_settings as telegram_settings
        from channels.vk.connector import VkConfigError
        from channels.vk.connector import read_settings as vk_settings

        try:
            (telegram_settings if kind == "telegram" else vk_settings)(account)
        except (TelegramConfigError, VkConfigError) as exc:
            return Problem(name, None, str(exc))
    return None


def _suggestion(key: str, known: Collection[str]) -> str:
    found = process.extractOne(key, sorted(known), score_cutoff=80)
    return f" (did you mean {found[0]}?)" if found else f" (known: {', '.join(sorted(known))})"


def _model_at(loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The settings model a location points into (`("routing", "teams", "Support")` → the team's model)."""
    model: type[BaseModel] = Settings
    parts = list(loc)
    while parts:
        field = model.model_fields.get(str(parts.pop(0)))
        if field is None:
            return None
        annotation = field.annotation
        if get_origin(annotation) is dict:  # `dict[str, X]`: the next part is a key of ours, not a field
            annotation = get_args(annotation)[1]
            if parts:
                parts.pop(0)
        found = [
            a for a in (annotation, *get_args(annotation)) if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        if not found:
            return None
        model = found[0]
    return model


def settings_errors(exc: ValidationError) -> list[str]:
    """Each mistake pydantic found in the settings, as ``key.path: what`` — an unknown key with the
    key it probably meant (`[database] url` → did you mean database_url?)."""
    lines = []
    for error in exc.errors():
        loc = error["loc"]
        where = ".".join(str(p) for p in loc) or "settings"
        what = " ".join(str(error["msg"]).split())
        if error["type"] == "extra_forbidden" and loc:
            model = _model_at(loc[:-1])
            known = set(model.model_fields) if model is not None else set()
            what = "unknown key" + (_suggestion(str(loc[-1]), known) if known else "")
        lines.append(f"{where}: {what}")
    return lines


def account_problems(name: str, config: AccountSettings, settings: Settings) -> list[Problem]:
    """The mistakes of one account table."""
    from hub.runtime import split_account

    if registered(config.kind):
        return []  # a kind registered at run time (a plugin's): its options are its own to check
    if config.kind not in KNOWN_KINDS:
        return [
            Problem(name, "kind", f"unknown channel kind {config.kind!r} (known: {', '.join(KNOWN_KINDS)})")
        ]
    known = KNOWN_OPTIONS[config.kind]()
    found: list[Problem] = []
    for key, value in (config.model_extra or {}).items():
        if key.endswith("_env") and key[:-4] in SECRET_FIELDS:
            if not isinstance(value, str) or not value:
                found.append(Problem(name, key, "must name an environment variable"))
            elif config.enabled and not os.environ.get(value):
                found.append(Problem(name, key, f"the environment variable {value} is not set"))
        elif key not in known and key not in SECRET_FIELDS:
            found.append(Problem(name, key, "unknown option" + _suggestion(key, known | SECRET_FIELDS)))
    if config.kind == "webchat":
        mail = config.option("reply_by_email")
        if mail is not None:
            target = settings.accounts.get(str(mail))
            if target is None or target.kind != "email":
                mail_accounts = sorted(n for n, a in settings.accounts.items() if a.kind == "email")
                have = ", ".join(mail_accounts) or "none configured"
                found.append(
                    Problem(
                        name, "reply_by_email", f"names no e-mail account {mail!r} (e-mail accounts: {have})"
                    )
                )
    if found or not config.enabled:
        return found
    options, secrets, _ = split_account(config)
    problem = _values_problem(
        name, AccountContext(id=0, name=name, kind=config.kind, options=options, secrets=secrets)
    )
    return [problem] if problem else []


def problems(settings: Settings) -> list[Problem]:
    """Every mistake of the configured accounts, in the order of the file."""
    found: list[Problem] = []
    for name, config in settings.accounts.items():
        found.extend(account_problems(name, config, settings))
    return found


def check(settings: Settings) -> None:
    """Raise :class:`ConfigProblems` if the configuration has mistakes."""
    found = problems(settings)
    if found:
        raise ConfigProblems(found, source_of(settings))


async def kind_problems(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> list[Problem]:
    """Accounts configured with another kind than their row has, which hold history (an unused account may
    change its kind). A database without the tables yet has none."""
    from inbox.channel_accounts import in_use
    from inbox.models import ChannelAccount

    found: list[Problem] = []
    try:
        async with sessionmaker() as session:
            rows = await session.scalars(
                select(ChannelAccount).where(ChannelAccount.name.in_(list(settings.accounts)))
            )
            for row in list(rows):
                kind = settings.accounts[row.name].kind
                if row.kind != kind and await in_use(session, row.id):
                    found.append(
                        Problem(
                            row.name,
                            "kind",
                            f"was {row.kind!r} and has history, so it cannot become {kind!r}: run "
                            f"`okno accounts retire {row.name}` (its history stays) to reuse the name, "
                            "or give the new account another name",
                        )
                    )
    except SQLAlchemyError:  # not migrated yet: nothing is in use
        return []
    return found
