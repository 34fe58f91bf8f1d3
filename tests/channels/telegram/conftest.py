"""The Telegram tests' account context on the fake Bot API (fixtures: tests/channels/conftest.py)."""

from __future__ import annotations

from typing import Any

from channels.base import AccountContext
from tests.channels.messenger_harness import account_context
from tests.channels.telegram.fake_bot_api import FakeBotApi


def context(api: FakeBotApi, account_id: int = 1, **options: Any) -> AccountContext:
    """Account "tg" on `api`; `options` may also give ``cursor`` and ``secret``."""
    return account_context(api, "tg", "telegram", account_id, **{"api_base": api.url, **options})
