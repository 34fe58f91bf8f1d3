"""Reading a connector's account options (``[accounts.NAME]``): each problem is one line naming the option,
raised as the channel's own configuration error (``error``, e.g. ``TelegramConfigError``)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

ConfigError = Callable[[str], Exception]


def check_known(options: Mapping[str, Any], known: Collection[str], error: ConfigError) -> None:
    """Refuse options this channel does not know (a typo must not pass for a default)."""
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise error(f"unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")


def flag(options: Mapping[str, Any], name: str, default: bool, error: ConfigError) -> bool:
    """Option `name` as true or false (`default` when absent)."""
    value = options.get(name, default)
    if not isinstance(value, bool):
        raise error(f"option {name} must be true or false")
    return value


def number(
    options: Mapping[str, Any], name: str, default: int, low: int, high: int, error: ConfigError
) -> int:
    """Option `name` as a whole number from `low` to `high` (`default` when absent)."""
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise error(f"option {name} must be a whole number from {low} to {high}")
    return value
