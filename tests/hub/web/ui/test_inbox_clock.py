"""The inbox clock's cached texts (hub.web.ui.inbox_view.Clock) are Babel's own, in every language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel import Locale, dates

from hub.web.ui import i18n
from hub.web.ui.inbox_view import Clock


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
@pytest.mark.parametrize("zone", ["Asia/Vladivostok", "America/New_York", "UTC"])
def test_cached_times_and_dates_are_babels_texts(lang: str, zone: str) -> None:
    clock = Clock(zone, lang)
    locale = Locale.parse(lang)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for step in range(0, 3 * 24 * 60, 7):  # every 7th minute of three days, seconds varying
        value = start + timedelta(minutes=step, seconds=step % 60)
        local = value.astimezone(ZoneInfo(zone))
        assert clock.time(value) == dates.format_time(local, "short", locale=locale)
        assert clock.short(value) == (
            clock.time(value)
            if local.date() == clock.today
            else dates.format_skeleton("MMMd", local.date(), locale=locale)
        )
