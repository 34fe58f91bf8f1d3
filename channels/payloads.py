"""Reading raw payloads the same way in every channel: JSON from bytes with a one-line reason on failure."""

from __future__ import annotations

import json
from typing import Any

from channels.base import PayloadError


def load_json(data: bytes) -> Any:
    """JSON from bytes (UTF-8, a BOM allowed); PayloadError with a one-line reason otherwise."""
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise PayloadError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise PayloadError("not valid JSON: nested too deeply") from None
