"""A generic call-event webhook in the shape of Zammad's generic CTI API, so PBX scripts written for
Zammad work unchanged: POST ``/hooks/<account>/<token>`` with

* ``event``: ``newCall`` | ``answer`` | ``hangup``; ``callId`` (unique per call, up to 250 characters)
* ``from``, ``to``: the numbers; ``direction``: ``in`` | ``out``
* ``user`` / ``user[]``: the agents involved (newCall in: whose phones ring; out: who calls)
* ``answeringNumber``: who answered (an extension, an e-mail or a name)
* ``cause`` (hangup): ``normalClearing`` (talked), ``busy``, ``cancel`` (caller gave up),
  ``noAnswer`` (rejected), ``congestion``, ``notFound``, ``unavailable``, ``forwarded``

as JSON, a form (``application/x-www-form-urlencoded``) or multipart form data. The answer is ``{}``
once the event is committed. The token in the path is checked before the body is read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from channels.base import PayloadError
from channels.sip.common import ParseContext, event_id
from inbox.items import CallEvent

CAUSES: dict[str, tuple[str | None, bool]] = {  # cause → (disposition, forwarded)
    "normalclearing": ("answered", False),
    "busy": ("busy", False),
    "cancel": ("missed", False),
    "noanswer": ("missed", False),
    "congestion": ("failed", False),
    "notfound": ("failed", False),
    "unavailable": ("failed", False),
    "abort": ("failed", False),
    "forwarded": (None, True),
}
EVENTS = ("newCall", "answer", "hangup")


def _one(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _users(fields: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for name in ("user", "user[]"):
        value = fields.get(name)
        values: Sequence[Any] = value if isinstance(value, list | tuple) else [value] if value else []
        for item in values:
            text = str(item).strip()
            if text and text not in found:
                found.append(text)
    return found


def parse(fields: Mapping[str, Any], ctx: ParseContext, at: datetime) -> list[CallEvent]:
    """One CTI request → its call events (a newCall ringing several users gives one per user)."""
    kind = _one(fields, "event")
    if kind not in EVENTS:
        raise PayloadError(f"expected one of {', '.join(EVENTS)}", "event")
    call_id = _one(fields, "callId")
    if call_id is None or len(call_id) > 250:
        raise PayloadError("required, up to 250 characters", "callId")
    raw_direction = (_one(fields, "direction") or "in").lower()
    if raw_direction not in ("in", "out"):
        raise PayloadError("expected in or out", "direction")
    caller, callee = _one(fields, "from"), _one(fields, "to")
    users = _users(fields)
    answering = _one(fields, "answeringNumber")
    if ctx.is_extension(caller) and ctx.is_extension(callee):
        direction = "internal"
    else:
        direction = "inbound" if raw_direction == "in" else "outbound"
    common: dict[str, Any] = {
        "account_id": ctx.account_id,
        "call_id": call_id[:200],
        "at": at,
        "direction": direction,
        "from_number": caller,
        "to_number": callee,
        "did": callee if direction == "inbound" and callee and not ctx.is_extension(callee) else None,
        "raw": dict(fields),
    }
    own_extension = caller if direction == "outbound" and ctx.is_extension(caller) else None
    if kind == "newCall":
        if direction == "inbound" and users:
            return [
                CallEvent(
                    event_id=event_id("cti", call_id, kind, user), stage="ring", extension=user, **common
                )
                for user in users
            ]
        extension = own_extension or (users[0] if users else None)
        return [
            CallEvent(event_id=event_id("cti", call_id, kind), stage="ring", extension=extension, **common)
        ]
    if kind == "answer":
        extension = answering or (users[0] if direction == "inbound" and users else own_extension)
        return [
            CallEvent(event_id=event_id("cti", call_id, kind), stage="answer", extension=extension, **common)
        ]
    cause = _one(fields, "cause")
    disposition, forwarded = CAUSES.get((cause or "").lower(), (None, False))
    if cause and (cause or "").lower() not in CAUSES:
        raise PayloadError(f"unknown cause {cause!r}", "cause")
    return [
        CallEvent(
            event_id=event_id("cti", call_id, kind),
            stage="hangup",
            extension=answering or own_extension,
            disposition=disposition,  # type: ignore[arg-type]
            forwarded=forwarded,
            meta={"cause": cause} if cause else {},
            **common,
        )
    ]
