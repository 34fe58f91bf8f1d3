"""``GET /webchat/{account}/ws``: the visitor's WebSocket.

Frames are JSON objects with a ``type``. The widget opens with ``hello`` (its token, if it has one,
and for a site's logged-in user ``identifier`` + ``identifier_hash``); the hub answers ``hello`` with a
valid token (a new visitor's, when none or a forged or expired one was given; a renewed one past half
its life), the history of the conversations this visitor started, and who answers. Too many new
visitors from one IP → ``error`` {code: "rate_limited", retry_after} and the socket closes. A wrong
``identifier_hash`` → ``error`` {code: "identity_refused", field} after the hello; the visitor goes on
unidentified. Then:

* ``message`` {id, text} → stored through the one ingest path, answered ``ack`` {id, message} after the
  commit. The id is the widget's own: a message sent again (the ack was lost) is acknowledged again,
  never stored twice. What cannot be taken ends one of two ways:

  - the visitor's own doing, which the widget shows and keeps the message for: no text → ``error``
    {code: "invalid", field: "text"}, too long → ``error`` {code: "too_long"}, too fast → ``error``
    {code: "rate_limited", retry_after} (the widget retries). Nothing is stored: the visitor still has
    the words. So it is when the database cannot take it now (down, locked, full): ``error`` {code:
    "unavailable", retry_after}, and the widget sends it again.
  - a message frame the parser refuses (an id or text no widget of ours sends: not text, a NUL
    character, a malformed id) or one the inbox refuses: kept in the quarantine (the frame's id and
    text as received, the visitor's id, page and pre-chat answers, as ``okno ingest webchat`` reads
    them, so ``okno quarantine retry`` can take it after a fix) and answered ``error`` {code:
    "refused", field}. Such frames count against the visitor's message rate like any message.

  Frames that are no message (not JSON, an unknown ``type``) carry nothing a visitor wrote: ``error``
  {code: "invalid" / "unknown_type"} only.
* ``typing`` {on} → agents see the visitor typing (at most one hint per 2 s; the rest is dropped); an
  agent typing comes back as ``typing`` {on, name}.
* ``profile`` {name, email, phone} → the pre-chat form; e-mail and phone are kept on the visitor's card
  with the next message as typed (unverified) details, never matched to another card.
  ``seen`` {ids} → the replies shown: "delivered" for the agent.
* From the hub: ``message`` {message} for every new message of the visitor's conversations (an agent's
  reply, or what the visitor wrote in another tab), ``agent`` {name} when someone takes the dialog.

The socket serves only its visitor's conversations (see :mod:`inbox.visitor_history`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from sqlalchemy.orm import selectinload

from channels.base import PayloadError
from channels.webchat import Profile, WidgetOptions, profile, visitor_message
from channels.webchat.identify import verified_identity
from channels.webchat.parse import CLIENT_ID, MAX_URL, client_id, message_text
from channels.webchat.tokens import current, new_visitor_id, sign
from hub.runtime import ConfiguredAccount, Hub
from hub.web.context import RATE_LIMITS, db, db_read, hub_of, publish
from hub.web.errors import bad_request
from hub.web.webchat.history import visitor_text, widget_messages
from hub.web.webchat.keys import KEYS, VisitorKeys
from hub.web.webchat.limits import LIMITS, WebchatLimits
from hub.web.webchat.relay import RELAY, VisitorRelay
from hub.web.webchat.routes import account_of, announce, check_origin
from inbox import visitor_history
from inbox.bus import Event
from inbox.ingest import IngestError
from inbox.items import IdentityRef, InboundMessage, Refused
from inbox.models import Message
from inbox.unavailable import RETRY_AFTER_SECONDS, StoreUnavailable

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

HEARTBEAT_SECONDS = 25.0
HELLO_TIMEOUT = 15.0
PUMP_STOP_GRACE = 60.0  # how long a closing socket lets its relay finish the read under way
MAX_FRAME_BYTES = 64 * 1024
MAX_SOCKETS_PER_VISITOR = 10
MESSAGE_EVENTS = frozenset({"message.created", "message.delivery"})
VISITOR_SOCKETS = web.AppKey("okno_webchat_sockets", weakref.WeakSet[web.WebSocketResponse])


class Visit:
    """One visitor socket: who it serves, what it watches, what it already pushed."""

    def __init__(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        account: ConfiguredAccount,
        options: WidgetOptions,
        visitor_id: str,
    ) -> None:
        self.request = request
        self.hub: Hub = hub_of(request)
        self.ws = ws
        self.account_id = account.context.id
        self.options = options
        self.visitor_id = visitor_id
        self.conversations: set[int] = set()
        # The new conversations this socket's own messages opened: it has shown their messages (the ack),
        # so its own ``webchat.conversation`` event needs no read (the visitor's other sockets do read).
        self.opened: set[int] = set()
        self.pushed: set[int] = set()
        self.person = Profile()
        self.verified: tuple[IdentityRef, ...] = ()  # what the site signed for its logged-in user
        self.page: str | None = None
        self.events: asyncio.Queue[Event] = asyncio.Queue(maxsize=1000)
        self._lost = False  # events were dropped (a stalled socket): the next relay reads everything
        self._idle = asyncio.Event()  # set while the pump waits for an event (no database work under way)
        self._idle.set()
        # Clear while a message of this socket's is being stored: its own message.created waits for the
        # ack (which marks it pushed) instead of being read back and echoed as a `message` frame.
        self._no_submit = asyncio.Event()
        self._no_submit.set()
        self._send_lock = asyncio.Lock()
        self._typing_on = False

    # -- the relay's side ------------------------------------------------------------------------------

    def poke(self, event: Event) -> None:
        if self.events.full():  # a stalled socket: its next sync reads everything from the database
            self.events.get_nowait()
            self._lost = True
        self.events.put_nowait(event)

    async def pump(self) -> None:
        """Relay events → frames, until the socket closes: what queued up meanwhile is relayed together
        (one read of the database for all of it)."""
        while not self.ws.closed:
            events = [await self.events.get()]
            while not self.events.empty():
                events.append(self.events.get_nowait())
            self._idle.clear()
            try:
                # Shielded: the pump may be cancelled while a relay reads the database.
                await hub_of(self.request).finishing.run(self._relay(events))
            finally:
                self._idle.set()

    async def stop_pump(self, pump: asyncio.Task[None]) -> None:
        """Stop the pump between events: cancelling it inside a database read would leave the connection
        (on SQLite, the write lock) held until garbage collection, stalling every other writer."""
        try:
            async with asyncio.timeout(PUMP_STOP_GRACE):
                # Checked and cancelled in one step: a wait that returned may have let the pump take the
                # next event into a read before the cancel (seen under load as a leaked connection).
                while not self._idle.is_set():
                    await self._idle.wait()
                pump.cancel()
        except TimeoutError:  # a read stuck that long is cut anyway
            pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump

    async def _relay(self, events: list[Event]) -> None:
        """Typing hints as they come; then the new assignee's name once; then the messages: those the
        events name (a message stored or released), or everything not shown yet when an event names none
        (a new conversation of the visitor's) or some were lost."""
        assigned, everything, named = False, False, set()
        for event in events:
            message_id = event.data.get("message_id")
            if event.type == "conversation.typing":
                if event.data.get("from") == "agent":
                    on, name = bool(event.data.get("on")), event.data.get("name")
                    await self.send({"type": "typing", "on": on, "name": name})
            elif event.type == "conversation.assigned":
                assigned = True
            elif event.type in MESSAGE_EVENTS and isinstance(message_id, int):
                named.add(message_id)
            elif event.type == "webchat.conversation" and event.conversation_id in self.opened:
                continue
            else:
                everything = True
        if assigned:
            await self.send_agent()
        if self._lost:
            self._lost, everything = False, True
        if (everything or named - self.pushed) and not self._no_submit.is_set():
            # This socket's own message is being stored: the ack pushes it. A full sync must wait too —
            # the first message's new conversation (no message named) arriving while the second is
            # stored would read the second back and echo it (seen under load).
            await self._no_submit.wait()
        if everything:
            await self.sync()
        elif named - self.pushed:
            await self.sync(named - self.pushed)

    # -- frames out ------------------------------------------------------------------------------------

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._send_lock:
            if not self.ws.closed:
                await self.ws.send_str(json.dumps(frame, ensure_ascii=False))

    async def hello(self, token: str) -> None:
        async with db_read(self.request) as session:
            convs = await visitor_history.conversations_of(session, self.account_id, self.visitor_id)
            self.conversations.update(c.id for c in convs)
            messages = await visitor_history.messages_of(session, self.conversations)
            shown = await widget_messages(session, messages, self.visitor_id)
            agent = await visitor_history.current_agent(session, convs)
        self.pushed.update(m.id for m in messages)
        await self.send({"type": "hello", "token": token, "messages": shown, "agent": agent})

    async def sync(self, ids: set[int] | None = None) -> None:
        """Push the messages of the visitor's conversations this socket has not shown yet: those of `ids`
        the visitor may see, or (None) any of the latest 50."""
        async with db_read(self.request) as session:
            if ids is None:
                messages = await visitor_history.messages_of(session, self.conversations, limit=50)
            else:
                messages = await visitor_history.messages_by_id(session, self.conversations, ids)
            fresh = [m for m in messages if m.id not in self.pushed]
            shown = await widget_messages(session, fresh, self.visitor_id)
        if fresh and not self._no_submit.is_set():
            # A message of this socket's was stored while this read waited for the database (it may be
            # among `fresh`): its ack comes first and marks it pushed, so it is not echoed.
            await self._no_submit.wait()
        for message, frame in zip(fresh, shown, strict=True):
            if message.id in self.pushed:
                continue
            self.pushed.add(message.id)
            await self.send({"type": "message", "message": frame})

    async def send_agent(self) -> None:
        async with db_read(self.request) as session:
            convs = await visitor_history.conversations_of(session, self.account_id, self.visitor_id)
            name = await visitor_history.current_agent(session, convs)
        await self.send({"type": "agent", "name": name})

    async def error(self, code: str, message: str, **extra: Any) -> None:
        if extra.get("id", "") is None:  # a frame without a usable id of the widget's: none to echo
            del extra["id"]
        await self.send({"type": "error", "code": code, "message": message, **extra})

    # -- frames in -------------------------------------------------------------------------------------

    async def handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message":
            await self.on_message(frame)
        elif kind == "typing":
            await self.on_typing(bool(frame.get("on")))
        elif kind == "profile":
            try:
                self.person = profile(frame, region=self.hub.settings.default_region)
            except PayloadError as exc:
                await self.error("invalid", exc.reason, field=exc.field)
                return
            await self.send({"type": "profile", "ok": True})
        elif kind == "seen":
            await self.on_seen(frame.get("ids"))
        elif kind == "ping":
            await self.send({"type": "pong"})
        else:
            await self.error("unknown_type", "frame types: message, typing, profile, seen, ping")

    async def on_message(self, frame: dict[str, Any]) -> None:
        raw_id, raw_text = frame.get("id"), frame.get("text")
        cid = raw_id if isinstance(raw_id, str) and CLIENT_ID.fullmatch(raw_id) else None
        # The visitor's own mistakes: told, never kept (the widget still has the message).
        if raw_text is None or (isinstance(raw_text, str) and not raw_text.strip()):
            await self.error("invalid", "must not be empty", field="text", id=cid)
            return
        if isinstance(raw_text, str) and len(raw_text) > self.options.max_message_chars:
            reason = f"is longer than {self.options.max_message_chars} characters"
            await self.error("too_long", reason, field="text", id=cid)
            return
        verdict = await self.request.app[LIMITS].message(
            self.account_id, self.visitor_id, self.options.messages_per_minute
        )
        if not verdict.allowed:
            await self.error(
                "rate_limited",
                "too many messages: wait a little",
                id=cid,
                retry_after=round(max(verdict.retry_after, 0.5), 1),
            )
            return
        try:
            cid = client_id(raw_id)
            text = message_text(raw_text, self.options.max_message_chars)
        except PayloadError as exc:
            # A message frame no widget of ours sends (an id or text the parser refuses): what the
            # visitor wrote is kept in the quarantine, and the socket says so.
            await self.quarantine(
                frame, cid, exc.reason if exc.field is None else f"{exc.field}: {exc.reason}"
            )
            await self.error("refused", exc.reason, field=exc.field, id=cid)
            return
        item = visitor_message(
            account_id=self.account_id,
            visitor_id=self.visitor_id,
            client_message_id=cid,
            text=text,
            person=self.person,
            page=self.page,
            verified=self.verified,
        )
        self._no_submit.clear()
        try:
            await self._submit(frame, cid, item)
        finally:
            self._no_submit.set()

    async def _submit(self, frame: dict[str, Any], cid: str, item: InboundMessage) -> None:
        """Store the visitor's message and acknowledge it (after the commit) with the message as shown."""
        try:
            result = await self.hub.ingest.submit(item)  # a new message: the dispatch's own handler
        except IngestError as exc:
            # Accepted from the visitor, refused by the inbox: kept in the quarantine too.
            await self.quarantine(frame, cid, str(exc))
            await self.error("refused", str(exc), id=cid)
            return
        except StoreUnavailable as exc:  # nothing stored: the widget sends it again after retry_after
            log.warning("web-chat message %s not stored: %s", cid, exc.reason)
            message = "the message could not be stored now: it is sent again shortly"
            await self.error("unavailable", message, id=cid, retry_after=RETRY_AFTER_SECONDS)
            return
        if result.conversation_id not in self.conversations:
            self.opened.add(result.conversation_id)
            self.request.app[RELAY].watch(self, result.conversation_id)
            await announce(self.request, self.account_id, self.visitor_id, result.conversation_id)
        shown: dict[str, Any] | None
        if result.duplicate:  # sent again: the message as it was stored (maybe from a file)
            async with db_read(self.request) as session:
                stored = await session.get(
                    Message, result.message_id, options=[selectinload(Message.attachments)]
                )
                listed = await widget_messages(session, [stored] if stored else [], self.visitor_id)
            shown = listed[0] if listed else None
        else:  # just stored from this frame, at the time the ingest hands back (no files, no agent)
            assert result.created_at is not None
            shown = visitor_text(result.message_id, cid, item.text, result.created_at)
        self.pushed.add(result.message_id)
        await self.send({"type": "ack", "id": cid, "message": shown})

    async def quarantine(self, frame: dict[str, Any], cid: str | None, reason: str) -> None:
        """Keep a visitor's message the hub could not take, in the layout `okno ingest webchat` (and so
        `okno quarantine retry`) reads: the frame's id and text as received, with the visitor's id, page and
        pre-chat answers."""
        entry = {"visitor_id": self.visitor_id, "id": frame.get("id"), "text": frame.get("text")}
        entry |= {"page": self.page, "name": self.person.name}
        entry |= {"email": self.person.email, "phone": self.person.phone}
        raw = json.dumps(entry, ensure_ascii=False, default=str).encode()
        position = f"visitor {self.visitor_id} {cid or '?'}"
        await self.hub.sink(Refused(self.account_id, raw, f"visitor message: {reason}", position))

    async def on_typing(self, on: bool) -> None:
        # At most one "on" per TYPING_EVERY seconds, and an "off" only after an "on" went out (so agents
        # never keep seeing a visitor typing): a hint, not data, so the rest is dropped silently.
        if not self.conversations or (not on and not self._typing_on):
            return
        if on and not await self.request.app[LIMITS].typing(self.account_id, self.visitor_id):
            return
        self._typing_on = on
        async with db_read(self.request) as session:
            events = await visitor_history.visitor_typing(session, self.conversations, on)
        await publish(self.request, events)

    async def on_seen(self, ids: Any) -> None:
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            await self.error("invalid", "ids must be a list of message ids", field="ids")
            return
        async with db(self.request) as session:
            events = await visitor_history.mark_delivered(session, self.conversations, ids)
            await session.commit()
        await publish(self.request, events)


async def _identify(
    request: web.Request, ws: web.WebSocketResponse, account: ConfiguredAccount, options: WidgetOptions
) -> tuple[str, str, dict[str, Any]] | None:
    """Wait for the widget's hello; the visitor id, the token to hand back, and the hello frame.

    A hello without a valid token is a new visitor, limited per IP.
    """
    try:
        message = await ws.receive(timeout=HELLO_TIMEOUT)
    except TimeoutError:
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"no hello")
        return None
    if message.type != WSMsgType.TEXT:
        return None
    try:
        frame = json.loads(message.data)
    except ValueError:
        frame = None
    if not isinstance(frame, dict) or frame.get("type") != "hello":
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"expected a hello frame")
        return None
    key = await request.app[KEYS].key(account)
    limits: WebchatLimits = request.app[LIMITS]
    account_id = account.context.id
    now = limits.wall()
    found = current(key, account_id, frame.get("token"), now=now, lifetime=options.token_lifetime)
    if found is not None:
        return found[0], found[1], frame
    verdict = await limits.new_visitor(account_id, request.remote, options.new_visitors_per_minute)
    if not verdict.allowed:
        retry_after = round(verdict.retry_after, 1)
        error = {"type": "error", "code": "rate_limited", "message": "too many new chats from this address"}
        await ws.send_str(json.dumps({**error, "retry_after": retry_after}))
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too many new chats")
        return None
    visitor_id = new_visitor_id()
    return visitor_id, sign(key, account_id, visitor_id, now), frame


@routes.get("/webchat/{account:[a-z0-9][a-z0-9_-]{0,63}}/ws")
async def visitor_socket(request: web.Request) -> web.WebSocketResponse:
    account, options = account_of(request)
    check_origin(request, options, "this site may not use this widget")
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=MAX_FRAME_BYTES)
    if not ws.can_prepare(request).ok:
        raise bad_request("expected a WebSocket upgrade request")
    await ws.prepare(request)
    request.app[VISITOR_SOCKETS].add(ws)
    relay: VisitorRelay = request.app[RELAY]
    finishing = hub_of(request).finishing  # database work runs to its end even if the socket is cut
    identified = await finishing.run(_identify(request, ws, account, options))
    if identified is None:
        await ws.close()
        return ws
    visitor_id, token, hello = identified
    visit = Visit(request, ws, account, options, visitor_id)
    if isinstance(hello.get("page"), str):
        visit.page = hello["page"][:MAX_URL]
    await finishing.run(visit.hello(token))
    try:
        signed = verified_identity(
            hello, secret=account.context.secrets.get("identity_secret"), account_name=account.context.name
        )
    except PayloadError as exc:
        await visit.error("identity_refused", exc.reason, field=exc.field)
    else:
        visit.verified = (signed,) if signed is not None else ()
    if relay.add(visit) > MAX_SOCKETS_PER_VISITOR:
        relay.remove(visit)
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too many open chats")
        return ws
    pump = asyncio.create_task(visit.pump(), name=f"okno-webchat-{visitor_id[:6]}")
    try:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                frame = json.loads(message.data)
            except ValueError:
                frame = None
            if not isinstance(frame, dict):
                await visit.error("invalid", "frames must be JSON objects")
                continue
            await finishing.run(visit.handle(frame))
    except (ConnectionError, RuntimeError) as exc:  # the visitor went away mid-send
        log.debug("visitor socket ended: %s", exc)
    finally:
        relay.remove(visit)
        await visit.stop_pump(pump)
        request.app[VISITOR_SOCKETS].discard(ws)
    return ws


def install(app: web.Application, hub: Hub) -> None:
    """The relay, the key store and the socket registry of the web chat, started and stopped with `app`."""
    app[RELAY] = VisitorRelay(hub.bus)
    app[KEYS] = VisitorKeys(hub.sessionmaker)
    app[LIMITS] = WebchatLimits(app[RATE_LIMITS])
    app[VISITOR_SOCKETS] = weakref.WeakSet()

    async def start(app: web.Application) -> None:
        await app[RELAY].start()

    async def close_sockets(app: web.Application) -> None:
        sockets: weakref.WeakSet[web.WebSocketResponse] = app[VISITOR_SOCKETS]
        for socket in list(sockets):
            await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    async def stop(app: web.Application) -> None:
        await app[RELAY].stop()

    app.on_startup.append(start)
    app.on_shutdown.append(close_sockets)
    app.on_cleanup.append(stop)
