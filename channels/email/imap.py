"""Receiving over IMAP (aioimaplib): fetch what is new since the stored cursor, then IDLE or poll.

* :meth:`ImapConnection.open` is the one connection factory: TCP, TLS (``ssl``) or STARTTLS (which
  aioimaplib lacks, so it is done here with ``loop.start_tls``), LOGIN. A refused login raises
  :class:`ChannelAuthError`.
* Every command races the connection's loss: a server that goes away is noticed at once, not after a
  command timeout.
* :class:`ImapReceiver` keeps the cursor — folder, UIDVALIDITY and the last UID handed in, as JSON in
  the account's cursor store — and advances it only after the sink has returned for every mail up to it,
  so a restart neither fetches again what was stored nor skips what arrived meanwhile. A changed
  UIDVALIDITY means the server renumbered the folder: it is fetched again, and the ingest path's
  idempotency (Message-ID per account) keeps that from duplicating anything.
* New mail is awaited with IDLE, renewed every ``idle_renew_seconds`` (default 25 min; servers may
  drop an IDLE after 30), or by polling every ``poll_seconds`` where the server has no IDLE.
* A dropped connection is re-opened with backoff; after ``connect_attempts`` failed connections in a row
  the receive loop fails, so the supervisor shows the account as retrying (and keeps trying). While it
  reconnects by itself, the receiver reports the problem on its :class:`LinkHealth` from the first
  failed attempt (and that all is well once a session is open), so the account shows ``retrying`` for
  the whole outage.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import re
import ssl
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import aioimaplib  # type: ignore[import-untyped]

from channels.base import ChannelAuthError, CursorStore, LinkHealth, PayloadError, Sink
from channels.email.config import EmailConfigError, EmailSettings
from channels.email.parse import ParseOptions, parse
from inbox.ingest import IngestError
from inbox.items import InboundAttachment, InboundMessage, Refused

log = logging.getLogger(__name__)

T = TypeVar("T")

_FETCH_START = re.compile(rb"^\d+ FETCH \(")
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_CODE = re.compile(rb"\[(UIDVALIDITY|UIDNEXT) (\d+)\]")
_EXISTS = re.compile(rb"^(\d+) EXISTS")
RECONNECT_ERRORS = (OSError, TimeoutError, ssl.SSLError)  # and ImapError: the connection, not the account


# RFC 5530 response codes that mean "the server's trouble, try again", not "wrong credentials".
TEMPORARY_CODES = ("[UNAVAILABLE]", "[SERVERBUG]", "[INUSE]", "[LIMIT]")


class ImapError(Exception):
    """The server failed us (an error answer, a timeout, a lost connection): reconnect."""


class ImapDisconnected(ImapError):
    pass


def encode_mailbox(name: str) -> str:
    """A folder name as IMAP wants it on the wire: modified UTF-7 (RFC 3501 5.1.3), quoted."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    encoded = "".join(out)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def _cancel(*tasks: asyncio.Future[Any]) -> None:
    """Cancel `tasks` and let them finish, without swallowing a cancellation of the caller."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=5)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: a library task's late error is not "never retrieved"


def _text(response: Any) -> str:
    lines = [bytes(line) for line in getattr(response, "lines", []) if isinstance(line, bytes | bytearray)]
    return (lines[-1].decode("utf-8", "replace") if lines else "").strip() or "no details"


@dataclass(frozen=True, slots=True)
class Mailbox:
    uidvalidity: int
    uidnext: int | None
    exists: int


@dataclass(frozen=True, slots=True)
class ImapCursor:
    folder: str
    uidvalidity: int
    uid: int

    def dump(self) -> str:
        return json.dumps({"folder": self.folder, "uidvalidity": self.uidvalidity, "uid": self.uid})

    @classmethod
    def load(cls, raw: str | None) -> ImapCursor | None:
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return cls(str(data["folder"]), int(data["uidvalidity"]), int(data["uid"]))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring an unreadable IMAP cursor %r", raw[:100])
            return None


class ImapConnection:
    """One logged-in IMAP connection, every command raced against the connection's loss."""

    def __init__(self, client: Any, lost: asyncio.Event, timeout: float) -> None:
        self._client = client
        self._lost = lost
        self.timeout = timeout

    @classmethod
    async def open(cls, settings: EmailSettings) -> ImapConnection:
        host, port, security, login, password = settings.imap()
        timeout = settings.options.timeout
        lost = asyncio.Event()

        def on_lost(exc: Exception | None) -> None:
            lost.set()

        context = settings.tls_context() if security != "plain" else None
        if security == "ssl":
            client = aioimaplib.IMAP4_SSL(host=host, port=port, timeout=timeout, ssl_context=context)
            client.protocol.conn_lost_cb = on_lost
        else:
            client = aioimaplib.IMAP4(host=host, port=port, timeout=timeout, conn_lost_cb=on_lost)
        connection = cls(client, lost, timeout)
        try:
            await connection._call(client.wait_hello_from_server())
            if security == "starttls":
                assert context is not None
                await connection._starttls(context, host)
            if "LOGINDISABLED" in client.protocol.capabilities:
                raise ChannelAuthError(
                    f"{host}:{port} refuses to log in without TLS: use security = 'ssl' or 'starttls'"
                )
            response = await connection._call(client.login(login, password))
            if response.result != "OK":
                text = _text(response)
                if any(code in text for code in TEMPORARY_CODES):
                    raise ImapError(f"IMAP login at {host} failed for now: {text}")
                raise ChannelAuthError(f"IMAP login refused for {login!r} at {host}: {text}")
        except BaseException:
            await connection.close()
            raise
        return connection

    async def _starttls(self, context: ssl.SSLContext, host: str) -> None:
        protocol = self._client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise ImapError(f"{host} does not offer STARTTLS")
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        response = await self._call(protocol.execute(command))
        if response.result != "OK":
            raise ImapError(f"STARTTLS refused: {_text(response)}")
        loop = asyncio.get_running_loop()
        transport = await self._call(
            loop.start_tls(protocol.transport, protocol, context, server_hostname=host)
        )
        protocol.transport = transport
        await self._call(protocol.capability())  # capabilities may change once encrypted

    @property
    def has_idle(self) -> bool:
        return "IDLE" in self._client.protocol.capabilities

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    async def _call(self, awaitable: Awaitable[T], limit: float | None = -1.0) -> T:
        """Await `awaitable` unless the connection is lost first, or `limit` seconds pass (-1: default)."""
        limit = self.timeout if limit == -1.0 else limit
        task = asyncio.ensure_future(awaitable)
        if self._lost.is_set():
            await _cancel(task)
            raise ImapDisconnected("the IMAP connection is closed")
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            done, _ = await asyncio.wait({task, lost}, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            lost.cancel()
            raise
        finally:
            lost.cancel()
        if task in done:
            try:
                return task.result()
            except aioimaplib.AioImapException as exc:
                raise ImapError(f"{exc.__class__.__name__}: {exc}") from exc
        await _cancel(task)
        if self._lost.is_set():
            raise ImapDisconnected("the IMAP server closed the connection")
        raise ImapError(f"no answer from the IMAP server within {limit:.0f} s")

    async def _ok(self, awaitable: Awaitable[Any], what: str, limit: float | None = -1.0) -> Any:
        response = await self._call(awaitable, limit)
        if response.result != "OK":
            raise ImapError(f"{what} failed: {_text(response)}")
        return response

    async def select(self, folder: str) -> Mailbox:
        response = await self._call(self._client.select(encode_mailbox(folder)))
        if response.result != "OK":
            raise EmailConfigError(f"cannot open the IMAP folder {folder!r}: {_text(response)}")
        codes: dict[bytes, int] = {}
        exists = 0
        for line in response.lines:
            if not isinstance(line, bytes):
                continue
            for name, value in _CODE.findall(line):
                codes[name] = int(value)
            found = _EXISTS.match(line)
            if found:
                exists = int(found.group(1))
        if b"UIDVALIDITY" not in codes:
            raise ImapError(f"the server gave no UIDVALIDITY for {folder!r}")
        return Mailbox(codes[b"UIDVALIDITY"], codes.get(b"UIDNEXT"), exists)

    async def uids_after(self, last: int) -> list[int]:
        """UIDs greater than `last`, ascending ("UID n:*" also matches the highest UID, hence the filter)."""
        response = await self._ok(self._client.uid_search(f"UID {last + 1}:*", charset=None), "UID SEARCH")
        uids: set[int] = set()
        for line in response.lines[:-1]:
            if isinstance(line, bytes):
                uids.update(int(word) for word in line.split() if word.isdigit())
        return sorted(u for u in uids if u > last)

    async def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        response = await self._ok(
            self._client.uid("fetch", ",".join(map(str, uids)), "(UID RFC822.SIZE)"), "UID FETCH", None
        )
        found: dict[int, int] = {}
        for line in response.lines:
            if isinstance(line, bytes) and _FETCH_START.match(line):
                uid, size = _UID.search(line), _SIZE.search(line)
                if uid and size:
                    found[int(uid.group(1))] = int(size.group(1))
        return found

    async def fetch(self, uids: Sequence[int], part: str = "BODY.PEEK[]") -> dict[int, bytes]:
        """The literal `part` of each message, by UID (messages expunged meanwhile are missing)."""
        response = await self._ok(
            self._client.uid("fetch", ",".join(map(str, uids)), f"(UID {part})"), "UID FETCH", None
        )
        found: dict[int, bytes] = {}
        lines = list(response.lines)
        index = 0
        while index < len(lines):
            line = lines[index]
            index += 1
            if not isinstance(line, bytes) or not _FETCH_START.match(line):
                continue
            uid = _UID.search(line)
            data: bytes | None = None
            if index < len(lines) and isinstance(lines[index], bytearray):
                data = bytes(lines[index])
                index += 1
                if uid is None and index < len(lines) and isinstance(lines[index], bytes):
                    uid = _UID.search(lines[index])  # "UID n" after the literal
            if uid is not None and data is not None:
                found[int(uid.group(1))] = data
        return found

    async def noop(self) -> None:
        await self._ok(self._client.noop(), "NOOP")

    async def idle(self, renew: float, started: asyncio.Event | None = None) -> bool:
        """Wait in IDLE: True when the server reports new mail, False when it is time to renew.
        `started` is set once the server has accepted IDLE (it pushes news from then on)."""
        idle = await self._call(self._client.idle_start(timeout=renew))
        if started is not None:
            started.set()
        changed = False
        while True:
            try:
                push = await self._call(self._client.wait_server_push(timeout=renew + 60), None)
            except TimeoutError:
                break
            if push == aioimaplib.STOP_WAIT_SERVER_PUSH:
                break
            lines = [bytes(p) for p in push if isinstance(p, bytes | bytearray)]
            if any(line.startswith(b"BYE") for line in lines):
                raise ImapDisconnected(
                    "the IMAP server is closing the connection: " + lines[0].decode("utf-8", "replace")
                )
            if any(_EXISTS.match(line) for line in lines):
                changed = True
                break
        self._client.idle_done()
        await self._ok(idle, "IDLE")
        return changed

    async def close(self) -> None:
        """Drop the connection and every task the library started; idempotent."""
        client = self._client
        waiter = getattr(client, "_idle_waiter", None)
        if waiter is not None:
            waiter.cancel()
        protocol = client.protocol
        tasks = [t for t in (*client.tasks, *protocol.tasks, client._client_task) if not t.done()]
        for task in tasks:
            task.cancel()
        transport = protocol.transport
        if transport is not None:
            # abort, not close: a TLS close() waits for the peer's close_notify (up to 30 s) before the
            # socket underneath is closed, and a connection we drop has nothing left to say.
            transport.abort()
        self._lost.set()
        await _cancel(*tasks)


async def check_imap(settings: EmailSettings) -> str:
    """The "test connection" of the receiving side: log in and SELECT the folder, then close (no LOGOUT:
    closing is enough). What happened in one line; :class:`ChannelAuthError` when the login is refused,
    :class:`EmailConfigError` for a missing option or a folder that cannot be opened, :class:`ImapError`
    or an OS error when the server cannot be reached or does not answer."""
    host, port, _, login, _ = settings.imap()
    folder = settings.options.folder
    try:
        connection = await ImapConnection.open(settings)
    except RECONNECT_ERRORS as exc:
        raise ImapError(f"IMAP {host}:{port} unreachable: {exc.__class__.__name__}: {exc}") from None
    except ImapError as exc:
        raise ImapError(f"IMAP {host}:{port}: {exc}") from None
    try:
        box = await connection.select(folder)
    finally:
        await connection.close()
    return f"IMAP {host}:{port}: logged in as {login!r}, folder {folder!r} holds {box.exists} messages"


@dataclass(slots=True)
class ReceiverStats:
    """Counters for the UI, the logs and tests."""

    connections: int = 0
    fetched: int = 0
    ingested: int = 0
    refused: int = 0
    idle_renewals: int = 0
    polls: int = 0


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ImapReceiver:
    """The receive loop of one account (see the module docstring)."""

    def __init__(
        self,
        settings: EmailSettings,
        cursor: CursorStore,
        sink: Sink,
        ready: asyncio.Event | None = None,
        health: LinkHealth | None = None,
    ) -> None:
        self.settings = settings
        self.health = health if health is not None else LinkHealth()
        # Set while receiving: in IDLE (accepted by the server) or polling; cleared when the link is lost.
        self.ready = ready if ready is not None else asyncio.Event()
        self.options = settings.options
        self._cursor_store = cursor
        self._sink = sink
        self._parse_options = ParseOptions(
            max_attachment_bytes=settings.options.max_attachment_bytes, tokens=settings.tokens
        )
        self._connection: ImapConnection | None = None
        self.stats = ReceiverStats()
        self.cursor: ImapCursor | None = None
        self.state = "stopped"  # connecting | fetching | idle | polling | reconnecting | stopped

    def _delay(self, failures: int) -> float:
        base = min(self.options.reconnect_max_seconds, 0.5 * 2.0 ** max(0, failures - 1))
        return base * random.uniform(0.75, 1.0)

    async def run(self) -> None:
        host, port, *_ = self.settings.imap()
        failures = 0
        while True:
            self.state = "connecting"
            try:
                connection = await ImapConnection.open(self.settings)
            except (*RECONNECT_ERRORS, ImapError) as exc:
                failures += 1
                problem = f"cannot connect to {host}:{port}: {exc.__class__.__name__}: {exc}"
                self.health.report(problem)
                if failures >= self.options.connect_attempts:
                    raise ImapError(problem) from exc
                log.info("IMAP %s:%s: %s; trying again", host, port, exc)
                self.state = "reconnecting"
                await asyncio.sleep(self._delay(failures))
                continue
            failures = 0
            self.stats.connections += 1
            self._connection = connection
            try:
                await self._session(connection)
            except (*RECONNECT_ERRORS, ImapError) as exc:
                self.ready.clear()
                self.health.report(f"the connection to {host}:{port} ended: {exc}; reconnecting")
                log.info("IMAP %s:%s connection ended (%s); reconnecting", host, port, exc)
                self.state = "reconnecting"
                await asyncio.sleep(self._delay(1))
            finally:
                self.ready.clear()
                # No LOGOUT: it would queue behind a pending IDLE; servers take a closed connection as one.
                self._connection = None
                await connection.close()

    async def close(self) -> None:
        self.state = "stopped"
        self.ready.clear()
        if self._connection is not None:
            await self._connection.close()

    async def _start_cursor(self, connection: ImapConnection, box: Mailbox) -> ImapCursor:
        folder = self.options.folder
        stored = ImapCursor.load(await self._cursor_store.load())
        if stored is not None and stored.folder == folder and stored.uidvalidity == box.uidvalidity:
            return stored
        if stored is not None and stored.folder == folder:
            log.warning(
                "IMAP folder %r was renumbered (UIDVALIDITY %s → %s): reading it again;"
                " mail already stored is recognized by its Message-ID",
                folder,
                stored.uidvalidity,
                box.uidvalidity,
            )
        start = 0
        if stored is None and self.options.first_sync == "new":
            if box.uidnext is not None:
                start = box.uidnext - 1
            else:
                uids = await connection.uids_after(0)
                start = uids[-1] if uids else 0
        cursor = ImapCursor(folder, box.uidvalidity, start)
        await self._cursor_store.save(cursor.dump())
        return cursor

    async def _session(self, connection: ImapConnection) -> None:
        box = await connection.select(self.options.folder)
        self.health.report(None)  # logged in with the folder open: receiving
        self.cursor = await self._start_cursor(connection, box)
        use_idle = self.options.idle and connection.has_idle
        if self.options.idle and not use_idle:
            log.info("IMAP server has no IDLE: polling every %s s", self.options.poll_seconds)
        while True:
            self.state = "fetching"
            await self._drain(connection)
            if use_idle:
                self.state = "idle"
                if not await connection.idle(self.options.idle_renew_seconds, self.ready):
                    self.stats.idle_renewals += 1
            else:
                self.state = "polling"
                self.ready.set()
                await asyncio.sleep(self.options.poll_seconds)
                self.stats.polls += 1
                await connection.noop()

    async def _drain(self, connection: ImapConnection) -> None:
        """Hand in everything after the cursor, a chunk at a time, advancing the cursor after each."""
        assert self.cursor is not None
        while True:
            uids = await connection.uids_after(self.cursor.uid)
            if not uids:
                return
            for chunk in _chunks(uids, self.options.fetch_batch):
                sizes = await connection.sizes(chunk)
                limit = self.options.max_message_bytes
                small = [u for u in chunk if sizes.get(u, 0) <= limit]
                large = [u for u in chunk if sizes.get(u, 0) > limit]
                bodies = await connection.fetch(small) if small else {}
                heads = await connection.fetch(large, "BODY.PEEK[HEADER]") if large else {}
                self.stats.fetched += len(bodies) + len(heads)
                parsed = await asyncio.to_thread(self._parse_chunk, chunk, bodies, heads, sizes)
                await self._hand_in(parsed)
                self.cursor = replace(self.cursor, uid=max(chunk))
                await self._cursor_store.save(self.cursor.dump())

    def _parse_chunk(
        self, uids: Sequence[int], bodies: dict[int, bytes], heads: dict[int, bytes], sizes: dict[int, int]
    ) -> list[tuple[int, InboundMessage | Refused]]:
        """Parse a fetched chunk (in a worker thread: large mail must not stall the event loop)."""
        assert self.cursor is not None
        out: list[tuple[int, InboundMessage | Refused]] = []
        for uid in uids:
            data = bodies.get(uid, heads.get(uid))
            if data is None:
                continue  # expunged between SEARCH and FETCH
            try:
                item = parse(data, account_id=self.settings.account.id, options=self._parse_options)
            except PayloadError as exc:
                out.append((uid, self._refused(uid, data, exc.reason)))
                continue
            meta = {**item.meta, "imap": {"folder": self.cursor.folder, "uid": uid}}
            if uid in heads:
                size = sizes.get(uid, 0)
                refused = f"the message is {size} bytes, over the limit of {self.options.max_message_bytes}"
                item = replace(
                    item,
                    text=f"[{refused}: only its headers were fetched]",
                    attachments=(InboundAttachment("message.eml", "message/rfc822", size, refused=refused),),
                )
            out.append((uid, replace(item, meta=meta)))
        return out

    def _refused(self, uid: int, data: bytes, reason: str) -> Refused:
        """A mail that cannot be taken, with where it is: kept in the quarantine, never only logged."""
        assert self.cursor is not None
        position = f"{self.cursor.folder} UIDVALIDITY {self.cursor.uidvalidity} UID {uid}"
        return Refused(self.settings.account.id, data, reason, position)

    async def _hand_in(self, parsed: list[tuple[int, InboundMessage | Refused]]) -> None:
        """Give the chunk to the sink together (the ingest queue commits them as one batch); a mail the
        parser or the ingest path refuses goes to the sink as :class:`Refused` before the cursor moves."""
        for uid, item in parsed:
            if isinstance(item, Refused):
                self.stats.refused += 1
                log.warning("mail UID %s in %r refused: %s", uid, self.options.folder, item.reason)
        results = await asyncio.gather(*(self._sink(item) for _, item in parsed), return_exceptions=True)
        failure: BaseException | None = None
        late: list[Refused] = []
        for (uid, item), result in zip(parsed, results, strict=True):
            if isinstance(result, IngestError) and isinstance(item, InboundMessage):
                self.stats.refused += 1
                log.warning("mail UID %s in %r refused: %s", uid, self.options.folder, result)
                raw = item.raw if isinstance(item.raw, bytes) else b""
                late.append(self._refused(uid, raw, str(result)))
            elif isinstance(result, BaseException):
                failure = failure or result
            elif isinstance(item, InboundMessage):
                self.stats.ingested += 1
        if failure is not None:
            raise failure  # the cursor stays: the chunk is fetched again (and deduplicated) after a restart
        for refused in late:
            await self._sink(refused)
