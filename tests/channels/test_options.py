"""Account options read alike by every connector: each problem is one line naming the option, raised as the
channel's own configuration error."""

from __future__ import annotations

from typing import Any

import pytest

from channels.options import check_known, flag, number
from channels.telegram.connector import TelegramConfigError
from channels.vk.connector import VkConfigError


@pytest.mark.parametrize("error", [TelegramConfigError, VkConfigError])
def test_option_problems_are_one_line_naming_the_option_as_the_channels_error(error: type[Exception]) -> None:
    options: dict[str, Any] = {"mode": "x", "modee": 1, "allow_groups": "yes", "wait": 99, "limit": True}
    with pytest.raises(error) as unknown:
        check_known(options, {"mode", "allow_groups", "wait", "limit"}, error)
    assert str(unknown.value) == "unknown option(s) modee (known: allow_groups, limit, mode, wait)"
    with pytest.raises(error, match=r"^option allow_groups must be true or false$"):
        flag(options, "allow_groups", False, error)
    for name in ("wait", "limit"):  # out of range, and a boolean is no number
        with pytest.raises(error, match=f"^option {name} must be a whole number from 1 to 90$"):
            number(options, name, 25, 1, 90, error)


def test_absent_options_take_their_defaults_and_valid_ones_their_value() -> None:
    options = {"download_files": False, "wait": 30}
    assert flag(options, "download_files", True, VkConfigError) is False
    assert flag(options, "allow_groups", False, VkConfigError) is False
    assert number(options, "wait", 25, 1, 90, VkConfigError) == 30
    assert number(options, "poll_timeout", 25, 0, 50, VkConfigError) == 25
    check_known(options, {"download_files", "wait"}, VkConfigError)  # nothing unknown: no error
