"""FreeSWITCH ``mod_json_cdr``: one JSON document per call leg, POSTed when the leg hangs up.

The module POSTs to ``url?uuid=<leg uuid>``: raw JSON (``encode=false``, Content-Type
application/json), ``cdr=<url-encoded JSON>`` (``encode=true``, application/x-www-form-urlencoded) or
``cdr=<base64 JSON>`` (``encode=base64``); with ``encode-values`` (on by default) every value inside
``variables`` is URL-encoded as well. It retries on anything but a 2xx answer, so the hub answers
only after the record is committed. Configure the URL as ``https://hub/hooks/<account>/<token>``.

A bridged call gives an A-leg and a B-leg document (unless ``log-b-leg=false``); both are merged on
the A-leg's uuid (``originating_leg_uuid`` of the B-leg), each leg being one "record" event.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

from channels.base import PayloadError
from channels.sip.common import ParseContext, device_of, seconds
from inbox.items import CallEvent

BUSY = frozenset({"USER_BUSY"})
NOT_ANSWERED = frozenset(
    {"NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL", "CALL_REJECTED", "ALLOTTED_TIMEOUT", "LOSE_RACE"}
)


def decode_body(body: bytes, content_type: str) -> Any:
    """The JSON document of a mod_json_cdr POST, whichever ``encode`` setting sent it."""
    text = body.decode("utf-8", errors="replace").strip()
    if text.startswith("cdr="):
        value = parse_qs(text, keep_blank_values=True).get("cdr", [""])[0]
        if "base64" in content_type:
            try:
                value = base64.b64decode(value.replace(" ", "+").strip("\x00"), validate=False).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise PayloadError("cdr: not base64-encoded JSON") from None
        text = value.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = unquote(str(value)) if isinstance(value, str) and "%" in value else str(value)
    return text.strip() or None


def _epoch(variables: Mapping[str, Any], name: str) -> datetime | None:
    micro = _text(variables.get(f"{name}_uepoch"))
    whole = _text(variables.get(f"{name}_epoch"))
    try:
        if micro and int(micro) > 0:
            return datetime.fromtimestamp(int(micro) / 1_000_000, UTC)
        if whole and int(whole) > 0:
            return datetime.fromtimestamp(int(whole), UTC)
    except ValueError:
        raise PayloadError(f"not a unix time: {micro or whole!r}", f"variables.{name}_epoch") from None
    return None


def _profiles(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    flow = document.get("callflow")
    entries = flow if isinstance(flow, list) else [flow] if isinstance(flow, Mapping) else []
    return [
        e["caller_profile"]
        for e in entries
        if isinstance(e, Mapping) and isinstance(e.get("caller_profile"), Mapping)
    ]


def parse(document: Any, ctx: ParseContext) -> CallEvent:
    """One mod_json_cdr document (one leg) → a call record; PayloadError says what is missing."""
    if not isinstance(document, Mapping):
        raise PayloadError("expected a JSON object (a mod_json_cdr document)")
    variables = document.get("variables")
    if not isinstance(variables, Mapping):
        if "CallSid" in document or "CallStatus" in document:
            raise PayloadError(
                "a Twilio/TeXML call status callback, not a FreeSWITCH mod_json_cdr document: not supported"
            )
        raise PayloadError('not a FreeSWITCH mod_json_cdr document: no "variables" object', "variables")

    def var(name: str) -> str | None:
        return _text(variables.get(name))

    uuid = var("uuid") or _text(document.get("uuid"))
    if not uuid:
        raise PayloadError("the leg has no uuid", "variables.uuid")
    profiles = _profiles(document)
    latest = profiles[0] if profiles else {}
    is_b_leg = any("originator" in p for p in profiles) or bool(var("originating_leg_uuid"))
    call_id = (var("originating_leg_uuid") if is_b_leg else None) or var("call_uuid") or uuid

    caller = _text(latest.get("caller_id_number")) or var("caller_id_number") or var("sip_from_user")
    callee = (
        _text(latest.get("destination_number"))
        or var("destination_number")
        or var("sip_req_user")
        or var("sip_to_user")
    )
    started = _epoch(variables, "start")
    if started is None:
        raise PayloadError("the leg has no start time", "variables.start_epoch")
    answered = _epoch(variables, "answer")
    ended = _epoch(variables, "end")
    billsec = seconds(var("billsec"))
    cause = (var("hangup_cause") or "").upper()
    last_app = (var("last_app") or "").lower()
    if last_app == "voicemail" or var("voicemail_message_len"):
        disposition, answered = "voicemail", None
    elif answered is not None:
        disposition = "answered"
    elif cause in BUSY:
        disposition = "busy"
    elif cause in NOT_ANSWERED:
        disposition = "missed"
    else:
        disposition = "failed"
    wait = seconds(var("waitsec")) if disposition == "answered" else None
    direction = ctx.direction(caller, callee)
    if direction == "outbound":
        extension = caller
    else:
        extension = (
            var("dialed_user")
            or device_of(var("bridge_channel") or var("last_sent_callee_id_number"))
            or (callee if ctx.is_extension(callee) else None)
        )
    did = callee if direction == "inbound" and callee and not ctx.is_extension(callee) else None
    recording = var("recording_url")
    if recording is None and var("record_path") and var("record_name"):
        recording = f"{(var('record_path') or '').rstrip('/')}/{var('record_name')}"
    caller_name = _text(latest.get("caller_id_name")) or var("caller_id_name")
    meta = {
        k: v
        for k, v in {
            "hangup_cause": cause or None,
            "leg": "b" if is_b_leg else "a",
            "leg_uuid": uuid,
            "switchname": _text(document.get("switchname")),
        }.items()
        if v is not None
    }
    return CallEvent(
        account_id=ctx.account_id,
        call_id=call_id[:200],
        event_id=f"fs:{uuid}"[:200],
        stage="record",
        at=started,
        direction=direction,
        from_number=caller,
        to_number=callee,
        did=did,
        extension=extension,
        started_at=started,
        answered_at=answered,
        ended_at=ended or started,
        wait_seconds=wait,
        talk_seconds=billsec if disposition == "answered" else 0,
        disposition=disposition,  # type: ignore[arg-type]
        recording_url=ctx.recording(recording, call_id),
        caller_name=caller_name if caller_name and caller_name != caller else None,
        meta=meta,
        raw=document,
    )
