"""Timestamps that come from outside: RFC 3339 strings with a time zone, and nothing else.

pydantic's own datetime parsing is lax: it takes ``0`` or ``"1700000000"`` as seconds since 1970 and
a naive ``"2026-01-31T12:00"`` as a time of no zone. A number is not a date and a time of no zone is a
guess, so :data:`Timestamp` accepts only a string such as ``2026-01-31T12:00:00Z`` or
``2026-01-31T15:00:00.5+03:00`` and gives an aware datetime in UTC. Its JSON Schema is
``{"type": "string", "format": "date-time"}``: the document and the check are this one type.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema

RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
FORMAT_HINT = "e.g. 2026-01-31T12:00:00Z"


def parse_timestamp(value: Any) -> datetime:
    """An RFC 3339 date-time string → an aware UTC datetime; ValueError says what is wrong."""
    if isinstance(value, datetime):  # built in code, not read from input
        if value.tzinfo is None:
            raise ValueError(f"needs a timezone ({FORMAT_HINT})")
        return value.astimezone(UTC)
    if not isinstance(value, str):
        raise ValueError(f"must be an RFC 3339 date-time string ({FORMAT_HINT})")
    if not RFC3339.fullmatch(value):
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?", value, re.ASCII):
            raise ValueError(f"needs a timezone ({FORMAT_HINT})")
        raise ValueError(f"must be an RFC 3339 date-time with a time zone ({FORMAT_HINT})")
    text = value.upper().replace("Z", "+00:00")
    if "." in text:  # Python keeps microseconds: cut a longer fraction (RFC 3339 allows any)
        head, _, rest = text.partition(".")
        digits = rest[: len(rest) - 6]
        text = f"{head}.{digits[:6]:0<6}{rest[-6:]}"
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"is not a valid date-time ({FORMAT_HINT})") from None


Timestamp = Annotated[
    datetime,
    PlainValidator(parse_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
