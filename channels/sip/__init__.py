"""The phone channel: PBX call logs on the client card, missed-call callbacks and screen pops.

Sources (one per account, option ``source``): Asterisk AMI (live), Asterisk CDR CSV files (Master.csv
and cdr_custom layouts, followed as they grow), FreeSWITCH mod_json_cdr POSTs, a generic call-event
webhook in Zammad's CTI shape, and Kamailio acc records (flatstore files or the SQLite table). Every
source turns what it reads into :class:`inbox.items.CallEvent` items; :mod:`inbox.calls` merges them
into calls. ``okno ingest sip FILE`` reads CDR CSV, JSON CDR, AMI transcripts and flatstore files
through :func:`parse_file`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from channels.base import AccountContext, PayloadError
from channels.sip import json_cdr
from channels.sip.ami import parse_transcript
from channels.sip.cdr_csv import CdrReader, decode, parse_csv
from channels.sip.common import ParseContext, SipOptions
from channels.sip.connector import SipConnector
from channels.sip.kamailio_acc import looks_like_flatstore, parse_flatstore, parse_line, to_event
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


def reparse(
    raw: bytes, position: str | None, *, account: AccountContext, region: str = "RU"
) -> list[CallEvent]:
    """A quarantined item through today's parser and the account's options of today: a CDR line by the
    account's CDR reader, an acc line or row by the acc parser, anything else as `okno ingest` reads it.
    The first refusal is raised (PayloadError)."""
    options = SipOptions.of(account.options)
    ctx = ParseContext.of(account.id, options)
    found: CallEvent | PayloadError | None
    if options.source == "cdr_csv":
        found = CdrReader(ctx, tuple(options.columns) if options.columns else None).line(decode(raw), 1)
    elif options.source == "kamailio_acc" and raw.lstrip().startswith(b"{"):
        found = to_event(json.loads(raw), ctx)  # a db_sqlite row, kept as JSON (a flatstore line never is)
    elif options.source == "kamailio_acc":
        found = parse_line(decode(raw), ctx, options.columns)
    else:
        items = list(parse_file(raw, position or "quarantine", account=account, region=region))
        refusal = next((i for i in items if isinstance(i, PayloadError)), None)
        if refusal is not None:
            raise refusal
        return [i for i in items if isinstance(i, CallEvent)]
    if isinstance(found, PayloadError):
        raise found
    if found is None:
        raise PayloadError("nothing to take in it (a header, a blank line, or a transaction of no call)")
    return [found]


__all__ = ["SipConnector", "parse_file", "reparse"]
