"""What every SIP source shares: the account's options, telling extensions from outside numbers,
device names from channel names, PBX-local times, and stable event ids.

Numbers stay raw here (the domain normalizes them to E.164 with the hub's default region); this module
only decides the direction of a call: an *extension* is a short all-digit number (up to
``extension_max_digits``, 5 by default) or a device name with letters ("client1"); anything else
is an outside number. Inbound = outside → us, outbound = extension → outside, internal = extension →
extension.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Direction = Literal["inbound", "outbound", "internal"]
Source = Literal["ami", "cdr_csv", "json_cdr", "cti", "kamailio_acc"]
SOURCES: tuple[Source, ...] = ("ami", "cdr_csv", "json_cdr", "cti", "kamailio_acc")
UTC_ZONE = ZoneInfo("UTC")


class SipOptions(BaseModel):
    """The options of a ``kind = "sip"`` account (secrets such as ``secret`` and ``token`` are apart)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Source | None = None
    # Asterisk AMI
    host: str = "127.0.0.1"
    port: int = Field(5038, ge=1, le=65535)
    username: str | None = None
    events: str = "call,cdr"
    ping_seconds: float = Field(20.0, gt=0)
    connect_timeout_seconds: float = Field(10.0, gt=0)
    reconnect_min_seconds: float = Field(1.0, gt=0)
    reconnect_max_seconds: float = Field(60.0, gt=0)
    # Files: a CDR CSV file, a Kamailio flatstore directory or acc SQLite database
    path: str | None = None
    columns: list[str] | None = None
    poll_seconds: float = Field(2.0, gt=0)
    from_start: bool = True
    tables: list[str] = Field(default_factory=lambda: ["acc", "missed_calls"])
    # Reading numbers and times
    timezone: str = "UTC"
    extension_max_digits: int = Field(5, ge=1, le=15)
    recording_url_template: str | None = None
    # Read by the domain (inbox.calls.CallSettings) through the hub
    did_sources: dict[str, str] = Field(default_factory=dict)
    callback_due_minutes: float = Field(30, ge=0)

    @field_validator("tables", "columns")
    @classmethod
    def _names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or ():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", name):
                raise ValueError(f"{name!r} is not a column or table name")
        if value is not None and not value:
            raise ValueError("give at least one name")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use a name like Europe/Moscow)") from None
        return value

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> SipOptions:
        """Validated options; a ValueError names the offending option."""
        try:
            return cls.model_validate(dict(options))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "options"
            raise ValueError(f"sip account option {where}: {err['msg']}") from None


@dataclass(frozen=True, slots=True)
class ParseContext:
    """What a parser needs to know about the account: its id, the PBX's clock, its numbering plan."""

    account_id: int
    zone: ZoneInfo = UTC_ZONE
    extension_max_digits: int = 5
    recording_url_template: str | None = None

    @classmethod
    def of(cls, account_id: int, options: SipOptions) -> ParseContext:
        return cls(
            account_id=account_id,
            zone=ZoneInfo(options.timezone),
            extension_max_digits=options.extension_max_digits,
            recording_url_template=options.recording_url_template,
        )

    def is_extension(self, number: str | None) -> bool:
        return is_extension(number, self.extension_max_digits)

    def direction(self, caller: str | None, callee: str | None) -> Direction:
        return classify(caller, callee, self.extension_max_digits)

    def local_time(self, text: str | None) -> datetime | None:
        return parse_time(text, self.zone)

    def recording(self, value: str | None, call_id: str) -> str | None:
        """A recording link: kept if it is a URL, else put into ``recording_url_template``."""
        if not value or not value.strip():
            return None
        value = value.strip()
        if re.match(r"^[a-z][a-z0-9+.-]*://", value, re.IGNORECASE):
            return value
        if self.recording_url_template:
            return self.recording_url_template.format(file=value, call_id=call_id)
        return value


_DIGITS = re.compile(r"\d+")
_PHONE_CHARS = re.compile(r"[\s()\-.]")


def is_extension(number: str | None, max_digits: int = 5) -> bool:
    """A short all-digit number or a device name; outside numbers are longer digit strings."""
    if number is None:
        return False
    text = _PHONE_CHARS.sub("", number.strip())
    if not text or text.lower() in ("anonymous", "unknown", "restricted", "private", "s"):
        return False
    if text.startswith("+"):
        return False
    if _DIGITS.fullmatch(text):
        return len(text) <= max_digits
    return bool(re.fullmatch(r"[A-Za-z][\w.\-]*", text))


def classify(caller: str | None, callee: str | None, max_digits: int = 5) -> Direction:
    caller_inside = is_extension(caller, max_digits)
    callee_inside = is_extension(callee, max_digits)
    if caller_inside and callee_inside:
        return "internal"
    if caller_inside:
        return "outbound"
    return "inbound"


def device_of(channel: str | None) -> str | None:
    """The device of a channel name: "PJSIP/100-0000002a" → "100", "Local/101@from-queue-00a1;1" → "101",
    "sofia/internal/1001@10.10.10.204" → "1001"."""
    if not channel or "/" not in channel:
        return None
    resource = channel.rsplit("/", 1)[1] if channel.lower().startswith("sofia/") else channel.split("/", 1)[1]
    resource = resource.split(";", 1)[0]
    # "100@from-queue" keeps what precedes the "@"; "100-0000002a" loses the channel's sequence number
    resource = resource.split("@", 1)[0] if "@" in resource else re.sub(r"-[0-9a-fA-F]+$", "", resource)
    return resource or None


def parse_time(text: str | None, zone: ZoneInfo = UTC_ZONE) -> datetime | None:
    """A PBX time: "2023-07-26 01:51:32" (local to `zone`), an ISO time with offset, or unix seconds."""
    if text is None:
        return None
    value = text.strip()
    if not value or value in ("0", "0.0"):
        return None
    if re.fullmatch(r"\d{9,11}(\.\d+)?", value):
        return datetime.fromtimestamp(float(value), UTC)
    try:
        moment = datetime.fromisoformat(value.replace("/", "-"))
    except ValueError:
        raise ValueError(f"not a time: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def seconds(text: str | int | float | None) -> int | None:
    """Whole seconds from a CDR field ("31", "31.5", 31), None when empty."""
    if text is None:
        return None
    if isinstance(text, int | float):
        return max(0, round(text))
    value = text.strip()
    if not value:
        return None
    try:
        return max(0, round(float(value)))
    except ValueError:
        raise ValueError(f"not a number of seconds: {value!r}") from None


def event_id(prefix: str, *parts: object) -> str:
    """A stable id for an event made of its content: the same event seen twice gets the same id."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:24]
    return f"{prefix}:{digest}"


def plus(seconds_: int | None, moment: datetime | None) -> datetime | None:
    if moment is None or seconds_ is None:
        return None
    return moment + timedelta(seconds=seconds_)
