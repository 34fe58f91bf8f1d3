"""A report's rows as CSV for spreadsheets: what `okno report --format csv` prints and the API answers."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any


def to_csv(rows: Sequence[dict[str, Any]], delimiter: str = ",") -> str:
    """One row per group, UTF-8 with a BOM (Excel opens it as UTF-8), a header from the first row."""
    out = io.StringIO()
    out.write("\ufeff")
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return out.getvalue()
