"""The database cannot be used now: down, restarting, locked by another process past the busy timeout, or out
of space. Nothing was stored, and the same request may succeed later — a 503 with Retry-After for an HTTP
caller, a retry for a connector — never a 422 (the item is fine) and never a 500 with a stack (it is no bug).

:func:`unavailable_reason` tells such an error from the others by what the driver says (SQLAlchemy's
interface and pool time-out errors, a lost connection, a refused or reset socket, a full disk, SQLite's
BUSY/LOCKED/IOERR/FULL/CANTOPEN, a PostgreSQL SQLSTATE of class 08 "connection exception" or 57 "operator
intervention"), without importing a driver. Anything else (a constraint, a schema mismatch) stays a bug.
"""

from __future__ import annotations

import errno
import logging
import sqlite3

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

RETRY_AFTER_SECONDS = 5  # what a caller is told to wait before trying again
SQLITE_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CANTOPEN")
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class StoreUnavailable(RuntimeError):
    """The database could not take the work now; nothing of it was stored. `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the database is unavailable, nothing was stored; try again later ({reason})")
        self.reason = reason


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    stack: list[BaseException | None] = [exc]
    while stack and len(seen) < 10:
        current = stack.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        stack += [getattr(current, "orig", None), current.__cause__]
    return seen


def _describe(exc: BaseException) -> str:
    reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = " ".join(str(reason).split())[:300]
    if isinstance(reason, sqlite3.Error) and getattr(reason, "sqlite_errorname", None):
        text = f"{text} ({reason.sqlite_errorname})"  # SQLITE_IOERR_WRITE says more than "disk I/O error"
    return f"{reason.__class__.__name__}: {text}" if text else reason.__class__.__name__


def unavailable_reason(exc: BaseException) -> str | None:
    """Why the database is unavailable, if `exc` says it is (see the module docstring); else None."""
    if isinstance(exc, StoreUnavailable):
        return exc.reason
    for link in _chain(exc):
        if _says_unavailable(link):
            return _describe(link)
    return None


def _says_unavailable(link: BaseException) -> bool:
    if isinstance(link, sqlite3.Error):
        return str(getattr(link, "sqlite_errorname", "")).startswith(SQLITE_TRANSIENT)
    if isinstance(link, DBAPIError):
        if link.connection_invalidated:
            return True
        # PostgreSQL's operational and interface errors (a closed connection); SQLite's are judged by code.
        return isinstance(link, OperationalError | InterfaceError) and not isinstance(
            link.orig, sqlite3.Error
        )
    if isinstance(link, PoolTimeout | ConnectionError):
        return True
    if isinstance(link, OSError):
        return link.errno in DISK_FULL
    state = getattr(link, "sqlstate", None)
    return isinstance(state, str) and state[:2] in ("08", "57")


def as_unavailable(exc: BaseException) -> StoreUnavailable | None:
    """`exc` as a :class:`StoreUnavailable`, if it says the database is unavailable."""
    if isinstance(exc, StoreUnavailable):
        return exc
    reason = unavailable_reason(exc)
    return StoreUnavailable(reason) if reason is not None else None


def log_failure(logger: logging.Logger, what: str, exc: BaseException) -> None:
    """A background pass failed: one warning line when the database is unavailable (an outage, no bug),
    else the traceback."""
    reason = unavailable_reason(exc)
    if reason is not None:
        logger.warning("%s: database unavailable: %s", what, reason)
    else:
        logger.error(what, exc_info=exc)
