"""Logging: the human-readable lines (the default) or one JSON object per line (``[log] format = "json"``,
or ``OKNO_LOG__FORMAT=json``), and the ids that tie a line to what it was about.

Two context variables carry those ids through the code that runs for one piece of work:

* ``request_id``: one HTTP request — the caller's ``X-Request-Id`` when it is a sensible one (at most 64
  letters, digits, ``.``, ``_``, ``-``), else a new one; answered back in ``X-Request-Id``
  (:func:`hub.web.access_log.request_ids`), and on the access-log line of the request.
* ``item_id``: one inbound item from its hand-in until it is committed (``in-…``), or one outbox row
  while its connector sends it (``out-<outbox id>``); see :mod:`hub.metrics`, which sets it.

A JSON line holds ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, the ids that are set, and
``exception`` (the traceback) when there is one. Secrets stay out as they do in the text lines: the access
log's URLs are redacted before any formatter sees them (:mod:`hub.web.access_log`).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import secrets
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final, Literal

LogFormat = Literal["text", "json"]

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("okno_request_id", default=None)
ITEM_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("okno_item_id", default=None)
# What a caller may choose as its request id: short, and nothing a log reader could trip on.
GIVEN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def new_id(prefix: str = "") -> str:
    """A short random id (64 bits, hex)."""
    return f"{prefix}{secrets.token_hex(8)}"


def request_id_from(header: str | None) -> str:
    """The caller's request id if it is a sensible one, else a new one."""
    if header is not None and GIVEN_ID.fullmatch(header):
        return header
    return new_id()


@contextlib.contextmanager
def bound(var: contextvars.ContextVar[str | None], value: str | None) -> Iterator[None]:
    """`var` set to `value` for the block (and what it awaits), restored after."""
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring for its keys)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            line["request_id"] = request_id
        item_id = ITEM_ID.get()
        if item_id is not None:
            line["item_id"] = item_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter(kind: LogFormat) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else logging.Formatter(TEXT_FORMAT)


def configure(level: str, kind: LogFormat = "text") -> None:
    """The root logger at `level`, writing `kind` lines to stderr (replacing earlier handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(kind))
    logging.basicConfig(level=level, handlers=[handler], force=True)
