"""Business-hours arithmetic for reports."""

from datetime import UTC, datetime

import pytest

from inbox.business_hours import BusinessHours

WEEKDAYS = {d: "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")}


def test_friday_night_to_monday_morning_counts_only_working_time() -> None:
    hours = BusinessHours.from_config("UTC", WEEKDAYS)
    friday_evening = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
    monday_morning = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert hours.seconds_between(friday_evening, monday_morning) == 2 * 3600


def test_timezone_is_respected() -> None:
    hours = BusinessHours.from_config("Europe/Moscow", WEEKDAYS)  # UTC+3
    start = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # 08:00 Moscow
    end = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 10:00 Moscow
    assert hours.seconds_between(start, end) == 3600
    assert not hours.is_open(start)
    assert hours.is_open(end)


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        BusinessHours.from_config("UTC", {"mon": "18:00-09:00"})
    with pytest.raises(ValueError, match="unknown day"):
        BusinessHours.from_config("UTC", {"funday": "09:00-10:00"})
