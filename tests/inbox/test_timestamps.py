"""Timestamps from outside are RFC 3339 strings with a time zone: a number is not a date."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from inbox.timestamps import parse_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31T12:00:00Z", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31t15:00:00+03:00", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31 12:00:00.5-00:30", datetime(2026, 1, 31, 12, 30, 0, 500_000, tzinfo=UTC)),
        ("2026-01-31T12:00:00.123456789Z", datetime(2026, 1, 31, 12, 0, 0, 123_456, tzinfo=UTC)),
    ],
)
def test_an_rfc_3339_time_with_a_zone_is_read_as_utc(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (0, "string"),
        (1_700_000_000, "string"),
        (1.5, "string"),
        (True, "string"),
        ("1700000000", "RFC 3339"),
        ("0", "RFC 3339"),
        ("", "RFC 3339"),
        ("2026-01-31T12:00:00", "timezone"),
        ("2026-01-31T12:00", "timezone"),
        ("2026-01-31", "RFC 3339"),
        ("2026-02-30T12:00:00Z", "not a valid date-time"),
        ("2026-01-31T12:00:00+24:00", "not a valid date-time"),
        ("0001-01-01T00:00:00+01:00", "not a valid date-time"),  # before year 1 in UTC
        ("２０２６-01-31T12:00:00Z", "RFC 3339"),  # full-width digits are no digits here
    ],
)
def test_anything_else_is_refused_saying_why(value: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_timestamp(value)
