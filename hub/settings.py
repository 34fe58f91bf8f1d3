"""Settings: `config/okno.toml` defaults, then the user's file (`--config` or OKNO_CONFIG), then the
environment (OKNO_DATABASE_URL, OKNO_PORT, OKNO_OUTBOX__MAX_ATTEMPTS, ...), the last one winning.

Channel accounts and their secrets come from configuration only. A secret can be named indirectly:
`token_env = "VAR"` reads the token from the environment variable VAR, so the file holds no secret.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hub import i18n
from inbox.business_hours import DAY_NAMES, BusinessHours, Calendars
from inbox.policy import InboxPolicy
from inbox.reports.figures import SlaBook, SlaTargets
from inbox.routing.rules import RuleError, parse_rules

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = ROOT / "config" / "okno.toml"
ACCOUNT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class MissingSecret(ValueError):
    pass


class AccountSettings(BaseModel):
    """One channel account. Fields beyond `kind` and `team` belong to its channel."""

    model_config = ConfigDict(extra="allow")
    kind: str
    team: str | None = None
    enabled: bool = True

    def option(self, name: str, default: Any = None) -> Any:
        return (self.model_extra or {}).get(name, default)

    def secret(self, name: str) -> str | None:
        """`name` from the account, or from the environment variable named by `name_env`."""
        value = self.option(name)
        if value:
            return str(value)
        var = self.option(f"{name}_env")
        if var:
            found = os.environ.get(str(var))
            if not found:
                raise MissingSecret(f"environment variable {var} (for {name}) is not set")
            return found
        return None


class IngestSettings(BaseModel):
    max_batch: int = Field(500, ge=1, le=10000)
    max_body_bytes: int = Field(1_048_576, ge=1024)


class OutboxSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a mistyped lease or timeout must not pass unseen

    max_attempts: int = Field(10, ge=1)
    base_delay_seconds: float = Field(5, gt=0)
    max_delay_seconds: float = Field(3600, gt=0)
    poll_seconds: float = Field(1.0, gt=0)
    # A claimed row is this process's for lease_seconds, renewed every third of it while its send runs:
    # a process killed mid-send leaves it to another within about lease_seconds.
    lease_seconds: float = Field(30.0, ge=1)
    send_timeout_seconds: float = Field(120.0, gt=0)  # one send's longest wait for the channel


class ClusterSettings(BaseModel):
    """`[cluster]`: several hub processes on one PostgreSQL database (see hub.holds)."""

    model_config = ConfigDict(extra="forbid")

    # How often a standby process tries to take the accounts held elsewhere, and the holder checks its
    # holds' connection: a killed holder's accounts move within about this long.
    hold_retry_seconds: float = Field(1.0, gt=0, le=60)
    # A check of that connection unanswered this long counts as a lost connection: every hold is let go.
    hold_timeout_seconds: float = Field(5.0, gt=0, le=120)


class TeamBusinessHoursSettings(BaseModel):
    """`[business_hours.teams."<name>"]`: a team's own hours; what it leaves out is the hub's."""

    model_config = ConfigDict(extra="forbid")
    timezone: str | None = None
    mon: str | None = None
    tue: str | None = None
    wed: str | None = None
    thu: str | None = None
    fri: str | None = None
    sat: str | None = None
    sun: str | None = None
    holidays: list[date] | None = None


class BusinessHoursSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timezone: str = "Europe/Moscow"
    mon: str = "09:00-18:00"
    tue: str = "09:00-18:00"
    wed: str = "09:00-18:00"
    thu: str = "09:00-18:00"
    fri: str = "09:00-18:00"
    sat: str = ""
    sun: str = ""
    holidays: list[date] = []
    teams: dict[str, TeamBusinessHoursSettings] = {}

    def build(self) -> BusinessHours:
        return BusinessHours.from_config(
            self.timezone, {d: getattr(self, d) for d in DAY_NAMES}, self.holidays
        )

    def build_team(self, name: str) -> BusinessHours:
        """The team's own hours, each field it does not set taken from the hub's."""
        own = self.teams[name]
        days = {d: getattr(own, d) if getattr(own, d) is not None else getattr(self, d) for d in DAY_NAMES}
        holidays = own.holidays if own.holidays is not None else self.holidays
        try:
            return BusinessHours.from_config(own.timezone or self.timezone, days, holidays)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"business_hours.teams.{name}: {exc}") from None

    def calendars(self) -> Calendars:
        return Calendars(self.build(), {name: self.build_team(name) for name in self.teams})


class TeamSlaSettings(BaseModel):
    """`[sla.teams."<name>"]`: a team's own SLA; what it leaves out is the hub's ``[sla]``."""

    model_config = ConfigDict(extra="forbid")
    first_response_minutes: int | None = Field(None, ge=1)
    next_response_minutes: int | None = Field(None, ge=1)
    resolution_minutes: int | None = Field(None, ge=1)
    business_hours: bool | None = None


class SlaSettings(BaseModel):
    """``[sla]``: the thresholds reports count hits and misses against (none set: no SLA columns)."""

    model_config = ConfigDict(extra="forbid")
    first_response_minutes: int | None = Field(None, ge=1)
    next_response_minutes: int | None = Field(None, ge=1)
    resolution_minutes: int | None = Field(None, ge=1)
    # Which clock the thresholds use: working time (true) or the wall clock.
    business_hours: bool = False
    teams: dict[str, TeamSlaSettings] = {}

    def targets(self) -> SlaTargets:
        def minutes(value: int | None) -> float | None:
            return None if value is None else value * 60.0

        return SlaTargets(
            first_response=minutes(self.first_response_minutes),
            reply=minutes(self.next_response_minutes),
            resolution=minutes(self.resolution_minutes),
            business_hours=self.business_hours,
        )


class UiSettings(BaseModel):
    """`[ui]`. `language`: the hub's own language — of what it writes by itself (callback tasks) and of
    pages for a browser that asks for none of ours ("ru" or "en")."""

    model_config = ConfigDict(extra="forbid")
    language: Literal["ru", "en"] = "ru"


class CompanySettings(BaseModel):
    """`[company]`: what reply templates may say about the company (`{{ company.name }}` …)."""

    model_config = ConfigDict(extra="forbid")
    name: str = ""
    phone: str = ""
    email: str = ""
    website: str = ""
    hours: str = ""  # opening hours as people should read them, e.g. "пн–пт 9:00–18:00"


class KnowledgeSettings(BaseModel):
    """`[knowledge]`: the reply-template knowledge base."""

    model_config = ConfigDict(extra="forbid")
    # Load the shipped starter templates (templates/replies/*.yaml) on the first start of a database.
    load_defaults: bool = True


class TeamRoutingSettings(BaseModel):
    """`[routing.teams.<name>]`: how a team hands out dialogs (see inbox.routing)."""

    model_config = ConfigDict(extra="forbid")
    strategy: Literal["round_robin", "least_busy", "manual"] = "round_robin"
    # Open dialogs a member holds at most, unless the agent has a capacity of their own.
    agent_capacity: int | None = Field(None, ge=0, le=10_000)
    # Minutes an assigned dialog may wait for a human reply before it goes to the next agent (empty: never).
    answer_timeout_minutes: float | None = Field(None, gt=0, le=7 * 24 * 60)


class RoutingSettings(BaseModel):
    """`[routing]`: dialogs handed out to agents by themselves (see README "Routing")."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    # The router also looks for work this often (work another process made possible, if no bus is shared).
    idle_seconds: float = Field(10.0, gt=0, le=3600)
    # An agent left "online" with no socket anywhere for this long becomes "offline".
    offline_after_minutes: float = Field(5, gt=0, le=24 * 60)
    teams: dict[str, TeamRoutingSettings] = {}
    # The team the first dialog of a new lead (a card its message creates) goes to instead of its
    # account's team; a routing rule that names a team still wins. Checked against the teams at start.
    new_clients_team: str | None = Field(None, min_length=1, max_length=120)
    # Hours after a lead's card gets its owner (the first agent to answer) that the owner's follow-up
    # task is due; 0: no follow-up task.
    lead_follow_up_hours: float = Field(24, ge=0, le=366 * 24)
    # A client card is VIP (the rules' condition `vip = true`) if it carries one of these tags or a
    # truthy custom field "vip".
    vip_tags: list[str] = Field(default_factory=lambda: ["vip"], max_length=50)
    # `[[routing.rules]]`, first match wins (see inbox.routing.rules). They seed the rules stored in the
    # database when it has none; afterwards admins edit them through the API.
    rules: list[dict[str, Any]] = []

    @field_validator("rules")
    @classmethod
    def _rules_parse(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            parse_rules(value)
        except RuleError as exc:
            raise ValueError(f"routing.{exc}") from None
        return value


class LogSettings(BaseModel):
    """`[log]`: how log lines are written (the level is `log_level`)."""

    model_config = ConfigDict(extra="forbid")
    # "text": human-readable lines; "json": one JSON object per line, with request and item ids.
    format: Literal["text", "json"] = "text"


class MetricsSettings(BaseModel):
    """`[metrics]`: who may read `/metrics` (and the details of `/readyz`). A caller on the loopback
    whose request no proxy forwarded, if `allow_loopback`; anyone presenting `Authorization: Bearer
    <token>`. The token belongs in the environment: OKNO_METRICS__TOKEN."""

    model_config = ConfigDict(extra="forbid")
    token: str = Field("", max_length=512)
    allow_loopback: bool = True
    # Requests per minute per IP address to /metrics and /readyz (429 with Retry-After beyond).
    requests_per_minute: int = Field(120, ge=1, le=100_000)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ROLES = ("agent", "supervisor", "admin")


class ProxySettings(BaseModel):
    """`[proxy]`: the reverse proxies (nginx, a load balancer) in front of the hub. A request whose peer
    address is in `trusted` has its client address taken from `X-Forwarded-For` (the rightmost address
    that is not itself a trusted proxy); from any other peer the header is ignored. Empty (the default):
    no header is believed, the peer is the client."""

    model_config = ConfigDict(extra="forbid")
    trusted: list[str] = Field(default_factory=list, max_length=100)

    @field_validator("trusted")
    @classmethod
    def _trusted_parse(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(
                    f"proxy.trusted: {network!r} is not a CIDR network (e.g. 127.0.0.1/32, 10.0.0.0/8)"
                ) from None
        return value

    def networks(self) -> tuple[Network, ...]:
        return _parse_networks(tuple(self.trusted))


class SecuritySettings(BaseModel):
    """`[security]`. `allowed_networks`: per role, the CIDR networks its agents may log in and work
    from (checked against the peer address of the connection). A role not named, or named with an empty
    list, may work from anywhere. The public widget, webhooks and the API channel's inbound route are
    never restricted. The log-in rate limits are per process, or shared by all on Redis with ``bus_url``
    (see hub/login.py for why they are keyed so)."""

    model_config = ConfigDict(extra="forbid")
    allowed_networks: dict[str, list[str]] = {}
    # Every log-in attempt from one IP address (request.remote; X-Forwarded-For is not trusted).
    login_attempts_per_minute_per_ip: int = Field(20, ge=1, le=100_000)
    # Failed log-ins to one account from one IP; a success clears them.
    login_failures_per_minute_per_account: int = Field(5, ge=1, le=100_000)
    # Failed log-ins to one account from all IPs together (a looser cap against distributed guessing).
    login_failures_per_minute_per_account_all_ips: int = Field(30, ge=1, le=100_000)

    @field_validator("allowed_networks")
    @classmethod
    def _networks_parse(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for role, networks in value.items():
            if role not in ROLES:
                raise ValueError(f"security.allowed_networks.{role}: not a role (use {', '.join(ROLES)})")
            for network in networks:
                try:
                    ipaddress.ip_network(network, strict=False)
                except ValueError:
                    raise ValueError(
                        f"security.allowed_networks.{role}: {network!r} is not a CIDR network "
                        "(e.g. 10.0.0.0/8, 2001:db8::/32)"
                    ) from None
        return value

    def networks(self, role: str) -> tuple[Network, ...]:
        """The networks `role` may work from; empty: from anywhere."""
        return _parse_networks(tuple(self.allowed_networks.get(role, ())))


@functools.lru_cache(maxsize=64)
def _parse_networks(networks: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in networks)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OKNO_", env_nested_delimiter="__", extra="forbid")

    database_url: str = "sqlite+aiosqlite:///var/okno.db"
    # SQLite: how long a transaction waits for another process's write lock before answering 503.
    sqlite_busy_timeout_seconds: float = Field(30.0, gt=0, le=3600)
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str = ""
    default_region: str = "RU"
    first_response_sla_minutes: int = Field(60, ge=1)
    log_level: str = "INFO"
    log: LogSettings = LogSettings()
    metrics: MetricsSettings = MetricsSettings()
    attachments_dir: str = "var/attachments"
    # Empty: events stay in this process. "redis://host:6379/0": shared by every hub process.
    bus_url: str = ""
    # With bus_url: the Redis key prefix of the rate limits the processes share (one per hub deployment).
    rate_limit_prefix: str = Field("okno:rl", pattern=r"^[A-Za-z0-9_.:-]+$")
    ingest: IngestSettings = IngestSettings()
    outbox: OutboxSettings = OutboxSettings()
    cluster: ClusterSettings = ClusterSettings()
    business_hours: BusinessHoursSettings = BusinessHoursSettings()
    sla: SlaSettings = SlaSettings()
    security: SecuritySettings = SecuritySettings()
    proxy: ProxySettings = ProxySettings()
    routing: RoutingSettings = RoutingSettings()
    ui: UiSettings = UiSettings()
    company: CompanySettings = CompanySettings()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    accounts: dict[str, AccountSettings] = {}

    # Set by `load()`; not read from any source.
    config_file: str | None = None

    @field_validator("accounts")
    @classmethod
    def _account_names(cls, value: dict[str, AccountSettings]) -> dict[str, AccountSettings]:
        for name in value:
            if not ACCOUNT_NAME.fullmatch(name):
                raise ValueError(f"account name {name!r}: use lower-case letters, digits, '-' and '_'")
        return value

    @field_validator("business_hours")
    @classmethod
    def _hours_parse(cls, value: BusinessHoursSettings) -> BusinessHoursSettings:
        value.calendars()
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        user_file = os.environ.get("OKNO_CONFIG")
        if user_file:
            sources.append(TomlConfigSettingsSource(settings_cls, Path(user_file)))
        if DEFAULTS_FILE.exists():
            sources.append(TomlConfigSettingsSource(settings_cls, DEFAULTS_FILE))
        return tuple(sources)

    def sla_targets(self) -> SlaTargets:
        """The reports' SLA: ``[sla]``, with the first response's threshold defaulting to
        ``first_response_sla_minutes`` (the due time conversations already carry)."""
        targets = self.sla.targets()
        if targets.first_response is None:
            targets = replace(targets, first_response=self.first_response_sla_minutes * 60.0)
        return targets

    def sla_book(self) -> SlaBook:
        """The reports' SLA with the teams' own (``[sla.teams."<name>"]``): each threshold a team leaves
        out is the hub's."""
        default = self.sla_targets()
        teams = {}
        for name, own in self.sla.teams.items():
            teams[name] = SlaTargets(
                first_response=_minutes(own.first_response_minutes, default.first_response),
                reply=_minutes(own.next_response_minutes, default.reply),
                resolution=_minutes(own.resolution_minutes, default.resolution),
                business_hours=default.business_hours if own.business_hours is None else own.business_hours,
            )
        return SlaBook(default, teams)

    def calendars(self) -> Calendars:
        """The hub's business hours with the teams' own (``[business_hours.teams."<name>"]``)."""
        return self.business_hours.calendars()

    def team_names(self) -> dict[str, list[str]]:
        """The teams named by per-team sections, by section: each must exist when the hub starts."""
        return {
            "business_hours.teams": list(self.business_hours.teams),
            "sla.teams": list(self.sla.teams),
        }

    def policy(self) -> InboxPolicy:
        calendars = self.calendars()
        return InboxPolicy(
            default_region=self.default_region,
            business_hours=calendars.default,
            team_hours=calendars.teams,
            first_response_sla=timedelta(minutes=self.first_response_sla_minutes),
            attachments_dir=Path(self.attachments_dir),
            gettext=i18n.translation(self.ui.language).gettext,
            lead_follow_up=timedelta(hours=hours) if (hours := self.routing.lead_follow_up_hours) else None,
        )


def _minutes(value: int | None, default: float | None) -> float | None:
    return default if value is None else value * 60.0


def load(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from defaults, `config_file` (or OKNO_CONFIG) and the environment."""
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        previous = os.environ.get("OKNO_CONFIG")
        os.environ["OKNO_CONFIG"] = str(path)
        try:
            settings = Settings(**overrides)
        finally:
            if previous is None:
                os.environ.pop("OKNO_CONFIG", None)
            else:
                os.environ["OKNO_CONFIG"] = previous
    else:
        settings = Settings(**overrides)
    settings.config_file = str(config_file or os.environ.get("OKNO_CONFIG") or "") or None
    return settings
