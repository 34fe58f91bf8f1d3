"""A web-chat account's options (from its `[accounts.NAME]` table), checked and with defaults.

[accounts.site]
kind = "webchat"
title = "Поддержка"                 # the widget's header
greeting = "Здравствуйте! Чем помочь?"
color = "#2f6fde"                    # the accent colour (#rgb or #rrggbb)
language = "ru"                      # "ru" or "en"; the visitor's browser language otherwise
prechat = false                      # ask name and e-mail or phone before the first message
hours = "business"                   # "business": the hub's business hours; "always"
require_agent_online = true          # nobody online → the offline form
allowed_origins = ["https://shop.example"]   # sites that may embed it; empty: any
max_message_chars = 4000
messages_per_minute = 20
secret_env = "OKNO_SITE_SECRET"      # key of visitor tokens; generated and kept if not given
identity_secret_env = "OKNO_SITE_IDENTITY_SECRET"  # verifies identifier_hash of logged-in users
new_visitors_per_minute = 20         # new visitors (sockets without a valid token) per minute per IP
offline_per_minute = 5               # offline-form posts per minute per IP
visitor_token_days = 90              # a visitor token's life; renewed on use past half of it
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from channels.base import PayloadError

COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


@dataclass(frozen=True, slots=True)
class WidgetOptions:
    title: str | None = None
    greeting: str | None = None
    color: str = "#2f6fde"
    language: Literal["ru", "en"] | None = None
    prechat: bool = False
    hours: Literal["business", "always"] = "business"
    require_agent_online: bool = True
    allowed_origins: tuple[str, ...] = ()
    max_message_chars: int = 4000
    messages_per_minute: int = 20
    new_visitors_per_minute: int = 20
    offline_per_minute: int = 5
    visitor_token_days: int = 90

    @property
    def token_lifetime(self) -> float:
        return self.visitor_token_days * 86400.0

    def public(self) -> dict[str, Any]:
        """What the widget may know (no origins, no limits it cannot enforce itself). A title or greeting
        left out is None here: the hub fills in its default in the visitor's language."""
        return {
            "title": self.title,
            "greeting": self.greeting,
            "color": self.color,
            "language": self.language,
            "prechat": self.prechat,
            "max_message_chars": self.max_message_chars,
        }

    def origin_allowed(self, origin: str | None) -> bool:
        return not self.allowed_origins or (origin is not None and origin.rstrip("/") in self.allowed_origins)


def _text(options: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = options.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise PayloadError(f"must be text of at most {limit} characters", name)
    return value


def _flag(options: Mapping[str, Any], name: str, default: bool) -> bool:
    value = options.get(name, default)
    if not isinstance(value, bool):
        raise PayloadError("must be true or false", name)
    return value


def _count(options: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = options.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise PayloadError(f"must be a whole number from {low} to {high}", name)
    return value


def widget_options(options: Mapping[str, Any]) -> WidgetOptions:
    """The options of one account; :class:`PayloadError` names a wrong one."""
    color = options.get("color", "#2f6fde")
    if not isinstance(color, str) or not COLOR.fullmatch(color):
        raise PayloadError("must be a colour like #2f6fde", "color")
    language = options.get("language")
    if language not in (None, "ru", "en"):
        raise PayloadError('must be "ru" or "en"', "language")
    hours = options.get("hours", "business")
    if hours not in ("business", "always"):
        raise PayloadError('must be "business" or "always"', "hours")
    origins = options.get("allowed_origins", [])
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        raise PayloadError('must be a list like ["https://shop.example"]', "allowed_origins")
    return WidgetOptions(
        title=_text(options, "title", 80),
        greeting=_text(options, "greeting", 500),
        color=color,
        language=language,
        prechat=_flag(options, "prechat", False),
        hours=hours,
        require_agent_online=_flag(options, "require_agent_online", True),
        allowed_origins=tuple(o.rstrip("/") for o in origins),
        max_message_chars=_count(options, "max_message_chars", 4000, 1, 20_000),
        messages_per_minute=_count(options, "messages_per_minute", 20, 1, 600),
        new_visitors_per_minute=_count(options, "new_visitors_per_minute", 20, 1, 100_000),
        offline_per_minute=_count(options, "offline_per_minute", 5, 1, 10_000),
        visitor_token_days=_count(options, "visitor_token_days", 90, 1, 3650),
    )
