"""The VK tests' account context on the fake VK API (its fixtures are in tests/channels/conftest.py)."""

from __future__ import annotations

from typing import Any

from channels.base import AccountContext
from tests.channels.messenger_harness import account_context
from tests.channels.vk.fake_vk_api import FakeVkApi


def context(api: FakeVkApi, account_id: int = 1, **options: Any) -> AccountContext:
    """Account "vk" of community ``api.group_id`` on `api`; `options` may give ``cursor``, ``secret``."""
    return account_context(
        api, "vk", "vk", account_id, **{"api_base": f"{api.url}/method", "group_id": api.group_id, **options}
    )
