"""The phone channel: PBX call logs on the client card, missed-call callbacks and screen pops.

Sources (one per account, option ``source``): Asterisk AMI (live), Asterisk CDR CSV files (Master.csv
and cdr_custom layouts, followed as they grow), FreeSWITCH mod_json_cdr POSTs, a generic call-event
webhook in Zammad's CTI shape, and Kamailio acc records (flatstore files or the SQLite table). Every
source turns what it reads into :class:`inbox.items.CallEvent` items; :mod:`inbox.calls` merges them
into calls. ``okno ingest sip FILE`` reads CDR CSV, JSON CDR, AMI transcripts and flatstore files
through :func:`parse_file`.
"""

from __future__ import annotations

from collections.abc import Iterator

from channels.base import AccountContext, PayloadError
from channels.sip import json_cdr
from channels.sip.ami import parse_transcript
from channels.sip.cdr_csv import decode, parse_csv
from channels.sip.common import ParseContext, SipOptions
from channels.sip.connector import SipConnector
from channels.sip.kamailio_acc import looks_like_flatstore, parse_flatstore
from inbox.items import CallEvent

AMI_STARTS = ("Event:", "Response:", "Action:", "Asterisk Call Manager/")
NOT_A_CALL_LOG = (
    "not a call log: expected an Asterisk CDR CSV, a FreeSWITCH JSON CDR, an AMI transcript "
    "or Kamailio acc (flatstore) records"
)


def _json_documents(text: str, ctx: ParseContext) -> Iterator[CallEvent | PayloadError]:
    try:
        payload = json_cdr.decode_body(text.encode(), "")
    except PayloadError as exc:
        yield exc
        return
    documents = payload if isinstance(payload, list) else [payload]
    for index, document in enumerate(documents):
        try:
            yield json_cdr.parse(document, ctx)
        except PayloadError as exc:
            yield PayloadError(
                f"item {index}: {exc.reason}" if isinstance(payload, list) else exc.reason, exc.field
            )


def _looks_like_cdr(text: str, options: SipOptions) -> bool:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return bool(options.columns) or first.count(",") >= 15


def parse_file(
    data: bytes, name: str, *, account: AccountContext, region: str = "RU"
) -> Iterator[CallEvent | PayloadError]:
    """A call log file → call events, or a PayloadError (with a line number where there is one)."""
    try:
        options = SipOptions.of(account.options)
    except ValueError as exc:
        yield PayloadError(str(exc))
        return
    ctx = ParseContext.of(account.id, options)
    text = decode(data)
    stripped = text.lstrip()
    if not stripped:
        yield PayloadError("the file is empty")
    elif stripped[0] in "{[" or stripped.startswith("cdr="):
        yield from _json_documents(stripped, ctx)
    elif stripped.startswith(AMI_STARTS):
        yield from parse_transcript(text, ctx)
    elif looks_like_flatstore(stripped):
        yield from parse_flatstore(data, ctx, options.columns)
    elif _looks_like_cdr(text, options):
        yield from parse_csv(data, ctx, options.columns)
    else:
        yield PayloadError(NOT_A_CALL_LOG)


__all__ = ["SipConnector", "parse_file"]
