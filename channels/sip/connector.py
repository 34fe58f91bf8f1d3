"""The SIP channel's connector: one account = one source of call events (account option ``source``).

* ``ami``: a live Asterisk Manager Interface link (``host``, ``port``, ``username`` and the secret
  ``secret``), reconnected with backoff (``reconnect_min_seconds`` doubling up to
  ``reconnect_max_seconds``) whenever it drops; a refused login is an auth failure.
* ``cdr_csv``: an Asterisk CDR CSV file (``path``; ``columns`` for cdr_custom layouts), imported and
  followed as it grows (``poll_seconds``).
* ``kamailio_acc``: Kamailio acc records, ``path`` being a flatstore directory or a db_sqlite file.
* ``json_cdr``: FreeSWITCH mod_json_cdr POSTs, and ``cti``: the generic call-event webhook. Both
  arrive at ``POST /hooks/<account>/<token>`` (the hub routes them to :meth:`handle_webhook`); the
  token (the secret ``token``) is checked before anything is read.

Calls cannot be answered with text: :meth:`send` refuses permanently. ``timezone`` is the PBX clock's
zone for CDR times written without one; ``extension_max_digits`` tells extensions from outside numbers.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import os
from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from channels.base import (
    AccountContext,
    Capabilities,
    ChannelAuthError,
    ConnectionCheck,
    PayloadError,
    Sink,
    register,
)
from channels.sip import cti_webhook, json_cdr
from channels.sip.ami import AmiCallTracker, AmiClient, AmiMessage
from channels.sip.cdr_csv import CdrFollower, CdrReader
from channels.sip.common import ParseContext, SipOptions
from channels.sip.kamailio_acc import FlatstoreFollower, SqliteFollower
from inbox.calls import CallSettings
from inbox.ingest import IngestError
from inbox.items import CallEvent, Delivery, DeliveryError, OutboundMessage, Refused
from inbox.models import utcnow

log = logging.getLogger(__name__)

PUSH_SOURCES = ("cti", "json_cdr")
MAX_BODY = 1 << 20


def _error(status: int, message: str, field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if field:
        body["field"] = field
    return web.json_response(body, status=status)


def ami_refusal(account_id: int, message: AmiMessage, reason: str) -> Refused:
    """An AMI event a tracker could not take, as the ``Key: Value`` text `okno ingest sip` reads back."""
    text = "".join(f"{key}: {value}\r\n" for key, value in message.fields) + "\r\n"
    position = f"AMI {message.event} {message.get('Uniqueid') or ''}".strip()
    return Refused(account_id, text.encode(), reason, position)


@register("sip")
class SipConnector:
    kind: ClassVar[str] = "sip"
    capabilities: ClassVar[Capabilities] = Capabilities(text=False)  # calls have no outbound text

    def __init__(self, account: AccountContext) -> None:
        self.account = account
        self._sink: Sink | None = None
        self._options: SipOptions | None = None
        self._client: AmiClient | None = None
        self.ready = asyncio.Event()  # receiving: AMI logged in, a file followed, webhooks taken
        self.connections = 0  # AMI logins so far
        self.follower: CdrFollower | FlatstoreFollower | SqliteFollower | None = None

    # configuration ------------------------------------------------------------------------------------

    @property
    def single_holder(self) -> bool:
        """AMI and the file followers pull (one process); the CTI and JSON CDR webhooks are pushed to any
        process. A wrong configuration counts as pulling (the default): its error is shown all the same."""
        try:
            return self.options().source not in PUSH_SOURCES
        except ValueError:
            return True

    def options(self) -> SipOptions:
        """The validated options; ValueError names a wrong one (the supervisor shows it)."""
        if self._options is None:
            options = SipOptions.of(self.account.options)
            if options.source is None:
                raise ValueError(
                    "sip account option source: choose ami, cdr_csv, json_cdr, cti or kamailio_acc"
                )
            CallSettings.from_options(self.account.options)
            secrets = self.account.secrets
            if options.source == "ami" and not (options.username and secrets.get("secret")):
                raise ValueError("an ami account needs username and secret (or secret_env)")
            if options.source in ("cdr_csv", "kamailio_acc") and not options.path:
                raise ValueError(f"a {options.source} account needs path")
            if options.source in PUSH_SOURCES and not secrets.get("token"):
                raise ValueError(f"a {options.source} account needs a token (or token_env)")
            self._options = options
        return self._options

    def context(self) -> ParseContext:
        return ParseContext.of(self.account.id, self.options())

    # receiving ----------------------------------------------------------------------------------------

    async def run(self, sink: Sink) -> None:
        try:
            await self._run(sink)
        finally:
            self.ready.clear()

    async def _run(self, sink: Sink) -> None:
        options = self.options()
        ctx = self.context()
        self._sink = sink
        if options.source != "ami":
            self.ready.set()  # a follower reads from its cursor on; pushes are taken from now on
        if options.source == "ami":
            await self._run_ami(sink, options, ctx)
        elif options.source == "cdr_csv":
            self.follower = CdrFollower(
                options.path or "",
                CdrReader(ctx, tuple(options.columns) if options.columns else None),
                self.account.cursor,
                poll_seconds=options.poll_seconds,
                from_start=options.from_start,
            )
            await self.follower.run(sink)
        elif options.source == "kamailio_acc":
            path = options.path or ""
            if await asyncio.to_thread(os.path.isdir, path):
                self.follower = FlatstoreFollower(
                    path,
                    ctx,
                    self.account.cursor,
                    columns=options.columns,
                    tables=options.tables,
                    poll_seconds=options.poll_seconds,
                )
            else:
                self.follower = SqliteFollower(
                    path, ctx, self.account.cursor, tables=options.tables, poll_seconds=options.poll_seconds
                )
            await self.follower.run(sink)
        else:
            await asyncio.Event().wait()  # pushed to handle_webhook

    async def _run_ami(self, sink: Sink, options: SipOptions, ctx: ParseContext) -> None:
        tracker = AmiCallTracker(ctx)  # kept across reconnects: a call may outlive a dropped link
        delay = options.reconnect_min_seconds
        while True:
            client = AmiClient(
                options.host,
                options.port,
                options.username or "",
                self.account.secrets.get("secret", ""),
                events=options.events,
                connect_timeout=options.connect_timeout_seconds,
                ping_seconds=options.ping_seconds,
            )
            self._client = client
            try:
                await client.connect()
                self.connections += 1
                self.ready.set()
                delay = options.reconnect_min_seconds
                log.info("AMI %s:%s connected (%s)", options.host, options.port, client.banner)
                async for message in client.events():
                    try:
                        items: list[CallEvent | Refused] = list(tracker.feed(message))
                    except (PayloadError, ValueError) as exc:  # one event costs itself, never the link
                        log.warning(
                            "AMI %s:%s: %s event refused: %s", options.host, options.port, message.event, exc
                        )
                        items = [ami_refusal(ctx.account_id, message, f"{message.event} event: {exc}")]
                    for item in items:
                        await sink(item)
            except ChannelAuthError:
                raise
            except (OSError, ConnectionError, TimeoutError, asyncio.IncompleteReadError) as exc:
                log.warning("AMI %s:%s: %s; reconnecting in %.1f s", options.host, options.port, exc, delay)
            finally:
                self.ready.clear()
                self._client = None
                await client.close()
            await asyncio.sleep(delay)
            delay = min(options.reconnect_max_seconds, delay * 2)

    # the admin's connection test ----------------------------------------------------------------------

    async def check_connection(self) -> ConnectionCheck:
        """AMI: the greeting and the login (then Logoff); a CDR file or Kamailio's acc directory / database:
        readable by the hub; pushed sources: nothing to connect to."""
        try:
            options = self.options()
        except ValueError as exc:
            return ConnectionCheck(False, str(exc))
        if options.source == "ami":
            return await self._check_ami(options)
        if options.source in PUSH_SOURCES:
            where = f"/hooks/{self.account.name}/<token>"
            return ConnectionCheck(True, f"nothing to connect to: the PBX posts {options.source} to {where}")
        return await asyncio.to_thread(_check_path, options.path or "", options.source or "")

    async def _check_ami(self, options: SipOptions) -> ConnectionCheck:
        where = f"AMI {options.host}:{options.port}"
        client = AmiClient(
            options.host,
            options.port,
            options.username or "",
            self.account.secrets.get("secret", ""),
            events="off",
            connect_timeout=options.connect_timeout_seconds,
        )
        try:
            await client.connect()
            await client.logoff()
        except ChannelAuthError as exc:
            return ConnectionCheck(False, f"{where}: {exc}")
        except TimeoutError:
            return ConnectionCheck(
                False, f"{where}: no greeting and login within {client.connect_timeout:.0f} s"
            )
        except (OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
            return ConnectionCheck(False, f"{where} unreachable: {exc.__class__.__name__}: {exc}")
        finally:
            await client.close()
        return ConnectionCheck(True, f"{where}: logged in as {options.username!r} ({client.banner})")

    # webhooks -----------------------------------------------------------------------------------------

    def _authorized(self, request: web.Request, tail: str, token: str) -> bool | None:
        """True: the token matches; False: a wrong one; None: none was given."""
        given = tail.strip("/")
        if not given:
            header = request.headers.get("Authorization", "")
            if header.lower().startswith("basic "):  # mod_json_cdr's `cred` = "user:token"
                try:
                    given = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")[2]
                except (binascii.Error, UnicodeDecodeError):
                    return False
        if not given:
            return None
        return hmac.compare_digest(given.encode(), token.encode())

    async def handle_webhook(self, request: web.Request, tail: str) -> web.StreamResponse:
        """A PBX push: checked against the token before the body is read; answered after the commit."""
        try:
            options = self.options()
        except ValueError as exc:
            return _error(503, f"account misconfigured: {exc}")
        if options.source not in PUSH_SOURCES:
            return _error(404, f"this account reads {options.source}, it takes no webhooks")
        verdict = self._authorized(request, tail, self.account.secrets.get("token", ""))
        if verdict is None:
            return _error(401, "the token is missing: POST /hooks/<account>/<token>")
        if not verdict:
            return _error(403, "wrong token")
        if self._sink is None:
            return _error(503, "the account is not running yet")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _error(413, f"the body is larger than {MAX_BODY} bytes")
        ctx = self.context()
        body = b""
        try:
            if options.source == "json_cdr":
                body = await request.content.read(MAX_BODY + 1)
                if len(body) > MAX_BODY:
                    return _error(413, f"the body is larger than {MAX_BODY} bytes")
                items = [json_cdr.parse(json_cdr.decode_body(body, request.content_type), ctx)]
            else:
                items = cti_webhook.parse(await self._fields(request), ctx, utcnow())
        except PayloadError as exc:
            if options.source == "json_cdr" and body:
                # An authenticated CDR that does not parse is kept (a PBX would only retry it, then drop it);
                # the answer still names why, and a retry after a fix takes it.
                result = await self._sink(Refused(self.account.id, body, str(exc), None))
                quarantine_id = getattr(result, "quarantine_id", None)
                return _error(400, f"{exc.reason} (kept in the quarantine as #{quarantine_id})", exc.field)
            return _error(400, exc.reason, exc.field)
        try:
            for item in items:
                await self._sink(item)
        except IngestError as exc:
            return _error(422, str(exc))
        return web.json_response({})

    async def _fields(self, request: web.Request) -> Mapping[str, Any]:
        if request.content_type == "application/json":
            try:
                data = await request.json()
            except ValueError:
                raise PayloadError("not valid JSON") from None
            if not isinstance(data, dict):
                raise PayloadError("expected a JSON object")
            return data
        form = await request.post()
        return {key: [str(v) for v in form.getall(key) if isinstance(v, str)] for key in set(form.keys())}

    # sending ------------------------------------------------------------------------------------------

    async def send(self, out: OutboundMessage) -> Delivery:
        raise DeliveryError(
            "calls cannot be replied to: the phone channel has no outbound text", permanent=True
        )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()


def _check_path(path: str, source: str) -> ConnectionCheck:
    """Whether the hub can read what a file-following source follows (run in a thread: file system calls)."""
    if not os.path.exists(path):
        return ConnectionCheck(False, f"{path} does not exist (or the hub may not see it)")
    if os.path.isdir(path):
        if source == "cdr_csv":
            return ConnectionCheck(False, f"{path} is a directory: cdr_csv follows one CSV file")
        try:
            names = os.listdir(path)
        except OSError as exc:
            return ConnectionCheck(False, f"{path}: the directory cannot be read ({exc.strerror})")
        return ConnectionCheck(True, f"{path}: a readable directory of {len(names)} files")
    try:
        with open(path, "rb") as file:
            file.read(1)
        size = os.path.getsize(path)
    except OSError as exc:
        return ConnectionCheck(False, f"{path}: the file cannot be read ({exc.strerror})")
    return ConnectionCheck(True, f"{path}: a readable file of {size} bytes")


__all__ = ["SipConnector"]
