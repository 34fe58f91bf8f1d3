"""Asterisk Manager Interface: a small asyncio client of our own, and the tracker that turns the AMI
event stream into call events.

Why our own client: panoramisk, the usual asyncio AMI library, has been unmaintained since 2021, and
what Okno needs from AMI is small — log in, read events, send a Ping now and then. The protocol is plain
text (``Key: Value`` lines, a blank line ends a message, the server greets with one
``Asterisk Call Manager/x.y`` line), so it is written here on asyncio streams, with nothing blocking
the loop and no dependency to keep alive.

The tracker follows calls by their ``Linkedid`` (the Uniqueid of the oldest channel of a call; older
versions without it: the caller's Uniqueid, with the dialled channels tied to it by ``Dial``
events): ``Newchannel`` of the caller → "ring" (the call exists, the card is matched),
``DialBegin`` (``Dial`` SubEvent Begin) → "ring" on the dialled extension (the screen pop),
``DialEnd`` ANSWER / ``BridgeEnter`` / legacy ``Link`` and ``Bridge`` → "answer", the caller's
``Hangup`` → "hangup" (disposition from the last DialStatus, else the hangup cause), and ``Cdr``
(cdr_manager) → the whole record. Event ids are made of each event's content, so events seen again
after a reconnect (or a replayed transcript) change nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import ClassVar

from channels.base import ChannelAuthError, PayloadError
from channels.sip.cdr_csv import record_from_row
from channels.sip.common import Direction, ParseContext, device_of, event_id
from inbox.items import CallEvent

log = logging.getLogger(__name__)


class AmiError(ConnectionError):
    """The AMI link failed or said something we cannot follow (a reconnect may help)."""


@dataclass(frozen=True, slots=True)
class AmiMessage:
    """One AMI message: its ``Key: Value`` lines in order (keys compared without case)."""

    fields: tuple[tuple[str, str], ...]

    def get(self, key: str, default: str | None = None) -> str | None:
        wanted = key.lower()
        for name, value in self.fields:
            if name.lower() == wanted:
                return value
        return default

    @property
    def event(self) -> str | None:
        return self.get("Event")

    @property
    def response(self) -> str | None:
        return self.get("Response")

    def to_dict(self) -> dict[str, str]:
        return dict(self.fields)


def parse_message(lines: list[str]) -> AmiMessage | None:
    fields: list[tuple[str, str]] = []
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            fields.append((name.strip(), value.strip()))
    return AmiMessage(tuple(fields)) if fields else None


def split_transcript(text: str) -> Iterator[AmiMessage]:
    """The messages of a captured AMI session (CRLF or LF, a greeting line allowed)."""
    block: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.strip():
            if line.startswith("Asterisk Call Manager/"):
                continue
            block.append(line)
            continue
        message = parse_message(block)
        block = []
        if message is not None:
            yield message
    message = parse_message(block)
    if message is not None:
        yield message


def encode_action(name: str, fields: dict[str, str]) -> bytes:
    lines = [f"Action: {name}", *(f"{k}: {v}" for k, v in fields.items())]
    for line in lines:
        if "\r" in line or "\n" in line:
            raise ValueError("AMI fields cannot contain line breaks")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class AmiClient:
    """One AMI connection: ``connect()`` (greeting and login), then ``events()`` until the link drops.

    While no message arrives for ``ping_seconds`` the client sends a Ping; a link that stays silent for
    another ``ping_seconds`` is taken for dead (``AmiError``). A refused login raises ChannelAuthError.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        events: str = "call,cdr",
        connect_timeout: float = 10.0,
        ping_seconds: float = 20.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self.events_filter = events
        self.connect_timeout = connect_timeout
        self.ping_seconds = ping_seconds
        self.banner: str | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lines: list[str] = []  # a message being read (kept across a read that timed out)
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[AmiMessage]] = {}

    async def connect(self) -> None:
        async with asyncio.timeout(self.connect_timeout):
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            greeting = (await self._reader.readline()).decode("utf-8", "replace").strip()
            if not greeting.startswith("Asterisk Call Manager"):
                raise AmiError(f"not an AMI server (it said {greeting[:80]!r})")
            self.banner = greeting
            action_id = self._next_id()
            await self._send(
                "Login",
                {
                    "Username": self.username,
                    "Secret": self._secret,
                    "Events": self.events_filter,
                    "ActionID": action_id,
                },
            )
            while True:
                message = await self._read_message()
                if message.get("ActionID") == action_id or message.response is not None:
                    break
        if (message.response or "").lower() != "success":
            raise ChannelAuthError(f"AMI login refused: {message.get('Message') or message.response}")

    def _next_id(self) -> str:
        return f"okno-{next(self._ids)}"

    async def _send(self, name: str, fields: dict[str, str]) -> None:
        if self._writer is None:
            raise AmiError("not connected")
        self._writer.write(encode_action(name, fields))
        await self._writer.drain()

    async def _read_message(self) -> AmiMessage:
        if self._reader is None:
            raise AmiError("not connected")
        while True:
            raw = await self._reader.readline()
            if not raw:
                raise AmiError("the AMI server closed the connection")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line.strip():
                self._lines.append(line)
                continue
            message = parse_message(self._lines)
            self._lines = []
            if message is not None:
                return message

    async def action(self, name: str, **fields: str) -> AmiMessage:
        """Send an action and wait for its response (while ``events()`` is being read)."""
        action_id = self._next_id()
        future: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = future
        try:
            await self._send(name, {**fields, "ActionID": action_id})
            async with asyncio.timeout(self.ping_seconds):
                return await future
        finally:
            self._pending.pop(action_id, None)

    async def events(self) -> AsyncGenerator[AmiMessage, None]:
        """Events as they come; responses are matched to their actions, Pings keep the link checked."""
        silent = 0
        while True:
            try:
                async with asyncio.timeout(self.ping_seconds):
                    message = await self._read_message()
            except TimeoutError:
                silent += 1
                if silent > 1:
                    raise AmiError(
                        f"no answer from the AMI server for {2 * self.ping_seconds:.0f} s"
                    ) from None
                await self._send("Ping", {"ActionID": self._next_id()})
                continue
            silent = 0
            if message.response is not None:
                future = self._pending.get(message.get("ActionID") or "")
                if future is not None and not future.done():
                    future.set_result(message)
                continue
            if message.event is not None:
                yield message

    async def logoff(self) -> None:
        """Say goodbye (best effort, no answer awaited): a PBX logs a plain disconnect as unexpected."""
        with contextlib.suppress(AmiError, ConnectionError, OSError):
            await self._send("Logoff", {"ActionID": self._next_id()})

    async def close(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.cancel()
        self._pending.clear()
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


# ------------------------------------------------------------------------------------------ the tracker

DIAL_STATUS = {
    "BUSY": "busy",
    "NOANSWER": "missed",
    "CANCEL": "missed",
    "CONGESTION": "failed",
    "CHANUNAVAIL": "failed",
    "DONTCALL": "missed",
    "TORTURE": "missed",
    "INVALIDARGS": "failed",
}
# Q.850 hangup causes of a call nobody answered.
CAUSES = {
    "17": "busy",
    "16": "missed",
    "18": "missed",
    "19": "missed",
    "21": "missed",
    "1": "failed",
    "3": "failed",
    "27": "failed",
    "34": "failed",
    "38": "failed",
    "41": "failed",
}


@dataclass(slots=True)
class _Call:
    call_id: str
    origin: str  # the caller channel's Uniqueid
    caller: str | None = None
    callee: str | None = None
    direction: Direction = "inbound"
    channel: str | None = None
    answered: bool = False
    dial_status: str | None = None
    extension: str | None = None
    channels: set[str] = field(default_factory=set)


class AmiCallTracker:
    """AMI events → call events. Keeps a bounded memory of live calls and of recent channels."""

    def __init__(
        self,
        ctx: ParseContext,
        *,
        clock: Callable[[], datetime | None] = lambda: datetime.now(UTC),
        max_calls: int = 5000,
    ) -> None:
        self.ctx = ctx
        self.clock = clock
        self.max_calls = max_calls
        self.calls: OrderedDict[str, _Call] = OrderedDict()
        self.call_of: OrderedDict[str, str] = OrderedDict()  # channel Uniqueid → call id (also after hangup)
        self.ignored: dict[str, int] = {}  # events without a handler, by name (for the transcript report)

    def feed(self, message: AmiMessage) -> list[CallEvent]:
        name = (message.event or "").lower()
        handler = self._handlers.get(name)
        if handler is None:
            self.ignored[message.event or "?"] = self.ignored.get(message.event or "?", 0) + 1
            return []
        return handler(self, message)

    # helpers ------------------------------------------------------------------------------------------

    def _time(self, message: AmiMessage) -> datetime | None:
        stamp = message.get("Timestamp")
        if stamp:
            try:
                return datetime.fromtimestamp(float(stamp), UTC)
            except ValueError:
                pass
        return self.clock()

    def _remember(self, uniqueid: str, call_id: str) -> None:
        self.call_of[uniqueid] = call_id
        self.call_of.move_to_end(uniqueid)
        while len(self.call_of) > self.max_calls * 4:
            self.call_of.popitem(last=False)

    def _call_id(self, message: AmiMessage, uid_key: str = "Uniqueid") -> str | None:
        uniqueid = message.get(uid_key) or ""
        return message.get("Linkedid") or self.call_of.get(uniqueid) or uniqueid or None

    def _state(self, call_id: str, message: AmiMessage) -> _Call:
        """The live call, or one rebuilt from this event (the link dropped while it started)."""
        call = self.calls.get(call_id)
        if call is None:
            caller = message.get("CallerIDNum")
            callee = message.get("Exten")
            call = _Call(
                call_id,
                origin=call_id,
                caller=caller,
                callee=callee,
                direction=self.ctx.direction(caller, callee),
                channel=message.get("Channel"),
            )
            self.calls[call_id] = call
            while len(self.calls) > self.max_calls:
                self.calls.popitem(last=False)
        return call

    def _event(self, message: AmiMessage, call: _Call, stage: str, **fields: object) -> CallEvent:
        at = self._time(message)
        inbound = call.direction == "inbound"
        did = call.callee if inbound and call.callee and not self.ctx.is_extension(call.callee) else None
        return CallEvent(
            account_id=self.ctx.account_id,
            call_id=call.call_id[:200],
            event_id=event_id("ami", *message.fields),
            stage=stage,  # type: ignore[arg-type]
            at=at,
            direction=call.direction,
            from_number=call.caller,
            to_number=call.callee,
            did=did,
            raw=message.to_dict(),
            **fields,  # type: ignore[arg-type]
        )

    def _dialled_extension(self, call: _Call, dest_channel: str | None, fallback: str | None) -> str | None:
        if call.direction == "outbound":
            return device_of(call.channel) or call.caller
        return device_of(dest_channel) or fallback

    # handlers -----------------------------------------------------------------------------------------

    def _newchannel(self, message: AmiMessage) -> list[CallEvent]:
        uniqueid = message.get("Uniqueid")
        if not uniqueid:
            return []
        linked = message.get("Linkedid")
        call_id = linked or self.call_of.get(uniqueid) or uniqueid
        if not linked and call_id == uniqueid and (message.get("ChannelState") or "").strip() == "0":
            return []  # before Asterisk 12: a leg the PBX opens to dial out; its Dial event ties it to a call
        self._remember(uniqueid, call_id)
        if call_id != uniqueid or call_id in self.calls:
            if call_id in self.calls:
                self.calls[call_id].channels.add(uniqueid)
            return []
        call = self._state(call_id, message)
        call.channels.add(uniqueid)
        at = self._time(message)
        name = message.get("CallerIDName")
        meta = {"context": message.get("Context"), "channel": message.get("Channel")}
        return [
            self._event(
                message,
                call,
                "ring",
                started_at=at,
                extension=device_of(call.channel) if call.direction == "outbound" else None,
                caller_name=name if name and name not in ("<unknown>", call.caller) else None,
                meta={k: v for k, v in meta.items() if v},
            )
        ]

    def _dial_begin(
        self, message: AmiMessage, dest_uid: str | None, dest_channel: str | None, fallback: str | None
    ) -> list[CallEvent]:
        call_id = self._call_id(message)
        if call_id is None:
            return []
        call = self._state(call_id, message)
        if dest_uid:
            self._remember(dest_uid, call_id)
            call.channels.add(dest_uid)
        extension = self._dialled_extension(call, dest_channel, fallback)
        if extension and call.direction != "outbound":
            call.extension = extension
        return [self._event(message, call, "ring", extension=extension)]

    def _dial_end(self, message: AmiMessage, status: str, dest_channel: str | None) -> list[CallEvent]:
        call_id = self._call_id(message)
        if call_id is None:
            return []
        call = self._state(call_id, message)
        if status == "ANSWER":
            if call.answered:
                return []
            call.answered = True
            extension = self._dialled_extension(call, dest_channel, call.extension)
            return [self._event(message, call, "answer", extension=extension)]
        call.dial_status = status
        return []

    def _on_dialbegin(self, message: AmiMessage) -> list[CallEvent]:
        return self._dial_begin(
            message,
            message.get("DestUniqueid"),
            message.get("DestChannel"),
            message.get("DestCallerIDNum") or message.get("DestExten"),
        )

    def _on_dialend(self, message: AmiMessage) -> list[CallEvent]:
        status = (message.get("DialStatus") or "").upper()
        return self._dial_end(message, status, message.get("DestChannel"))

    def _on_dial(self, message: AmiMessage) -> list[CallEvent]:
        """Asterisk 1.4-11: ``Dial`` with SubEvent Begin/End (1.4: no SubEvent, Source/SrcUniqueID)."""
        sub = (message.get("SubEvent") or "Begin").lower()
        uid_key = "UniqueID" if message.get("UniqueID") else "SrcUniqueID"
        normalized = AmiMessage((("Uniqueid", message.get(uid_key) or ""), *message.fields))
        if sub == "end":
            status = (message.get("DialStatus") or "").upper()
            return self._dial_end(normalized, status, message.get("Destination"))
        return self._dial_begin(normalized, message.get("DestUniqueID"), message.get("Destination"), None)

    def _answered(self, message: AmiMessage, call_id: str | None, channel: str | None) -> list[CallEvent]:
        if call_id is None:
            return []
        call = self._state(call_id, message)
        if call.answered:
            return []
        call.answered = True
        extension = call.extension if call.direction != "outbound" else None
        if channel and channel != call.channel and call.direction != "outbound":
            extension = device_of(channel) or extension
        return [self._event(message, call, "answer", extension=extension)]

    def _on_bridgeenter(self, message: AmiMessage) -> list[CallEvent]:
        try:
            members = int(message.get("BridgeNumChannels") or "0")
        except ValueError:
            members = 0
        if members < 2:
            return []
        return self._answered(message, self._call_id(message), message.get("Channel"))

    def _on_link(self, message: AmiMessage) -> list[CallEvent]:
        if message.event == "Bridge" and (message.get("Bridgestate") or "Link").lower() != "link":
            return []
        first = message.get("Uniqueid1") or ""
        call_id = self.call_of.get(first) or first or None
        return self._answered(message, call_id, message.get("Channel2"))

    def _on_hangup(self, message: AmiMessage) -> list[CallEvent]:
        uniqueid = message.get("Uniqueid") or ""
        call_id = self._call_id(message)
        if call_id is None:
            return []
        call = self.calls.get(call_id)
        if call is not None:
            call.channels.discard(uniqueid)
        if uniqueid != call_id and (call is None or call.channels):
            return []  # a dialled leg ended; the call goes on
        call = self._state(call_id, message)
        self.calls.pop(call_id, None)
        disposition: str | None = None
        if not call.answered:
            cause = (message.get("Cause") or "").strip()
            disposition = DIAL_STATUS.get(call.dial_status or "") or CAUSES.get(cause) or "missed"
        meta = {"cause": message.get("Cause"), "cause_txt": message.get("Cause-txt")}
        return [
            self._event(
                message,
                call,
                "hangup",
                ended_at=self._time(message),
                disposition=disposition,
                meta={k: v for k, v in meta.items() if v},
            )
        ]

    def _on_cdr(self, message: AmiMessage) -> list[CallEvent]:
        row = {
            "accountcode": message.get("AccountCode") or "",
            "src": message.get("Source") or "",
            "dst": message.get("Destination") or "",
            "dcontext": message.get("DestinationContext") or "",
            "clid": message.get("CallerID") or "",
            "channel": message.get("Channel") or "",
            "dstchannel": message.get("DestinationChannel") or "",
            "lastapp": message.get("LastApplication") or "",
            "lastdata": message.get("LastData") or "",
            "start": message.get("StartTime") or "",
            "answer": message.get("AnswerTime") or "",
            "end": message.get("EndTime") or "",
            "duration": message.get("Duration") or "",
            "billsec": message.get("BillableSeconds") or "",
            "disposition": message.get("Disposition") or "",
            "uniqueid": message.get("UniqueID") or "",
            "userfield": message.get("UserField") or "",
            "recordingfile": message.get("RecordingFile") or "",
        }
        record = record_from_row(row, self.ctx, "")
        uniqueid = row["uniqueid"]
        call_id = self.call_of.get(uniqueid) or uniqueid or record.call_id
        return [
            replace(
                record,
                call_id=call_id[:200],
                event_id=event_id("ami", *message.fields),
                raw=message.to_dict(),
            )
        ]

    _handlers: ClassVar[dict[str, Callable[[AmiCallTracker, AmiMessage], list[CallEvent]]]] = {
        "newchannel": _newchannel,
        "dialbegin": _on_dialbegin,
        "dialend": _on_dialend,
        "dial": _on_dial,
        "bridgeenter": _on_bridgeenter,
        "link": _on_link,
        "bridge": _on_link,
        "hangup": _on_hangup,
        "cdr": _on_cdr,
    }


def parse_transcript(text: str, ctx: ParseContext) -> Iterator[CallEvent | PayloadError]:
    """A captured AMI session → its call events (times from Timestamp fields, where there are any)."""
    tracker = AmiCallTracker(ctx, clock=lambda: None)
    found = 0
    seen: list[str] = []
    for message in split_transcript(text):
        if message.event is None:
            continue
        try:
            items = tracker.feed(message)
        except (PayloadError, ValueError) as exc:
            yield PayloadError(f"{message.event} event: {exc}")
            continue
        if message.event not in seen:
            seen.append(message.event)
        found += len(items)
        yield from items
    if not found:
        shown = ", ".join(seen[:6]) + (", …" if len(seen) > 6 else "")
        yield PayloadError(f"an AMI transcript without call events ({shown or 'no events at all'})")
