"""The channel contract, the registry of channel kinds, and what a connector is given to work with.

A connector is constructed with its :class:`AccountContext` (internal id, name, options and secrets from
configuration, a cursor store) and owns one receive loop:

* ``run(sink)`` receives until cancelled, calling ``await sink(item)`` per inbound item (one of the closed
  set :data:`inbox.items.InboundItem`); ``sink`` returns the item's typed outcome only after it is
  committed, so a connector acknowledges upstream (advances its cursor, answers
  a webhook) only then. Raising :class:`ChannelAuthError` reports bad credentials (the supervisor shows
  "auth_failed" and backs off long); any other exception is a failure the supervisor restarts with backoff.
  Push channels (webhooks, the generic API) have nothing to poll and simply wait.
* ``send(out)`` delivers one reply, raising :class:`inbox.items.DeliveryError` on failure.
* ``close()`` releases sockets and tasks; idempotent.
* ``capabilities`` (a class attribute, :class:`inbox.capabilities.Capabilities`) says what ``send`` can carry:
  text, attachments (with a size bound and the types taken), edits, typing, buttons. The registry keeps it
  per kind (:func:`capabilities`), and a reply the channel cannot carry is refused when the agent sends it.
* ``health`` (optional, a :class:`LinkHealth`): a connector that reconnects by itself inside ``run``
  (IMAP) reports there why it is not receiving (the server unreachable, the connection lost) and when it
  is again, so the supervisor shows the account as ``retrying`` for the whole outage, not ``running``.
* ``check_connection()`` (optional): the admin's "test connection" — the connector's own connectivity check
  (log in and look, never receive or send), answered as a :class:`ConnectionCheck` worded by what happened
  and holding no secret. Call it through :func:`check_connection`, which answers "nothing to test" for a
  connector without one. It may be called on a connector that never ran; the caller closes it after.
* ``ready`` (an :class:`asyncio.Event`) is set while the connector is receiving: logged in and listening
  (IMAP in IDLE or polling, Telegram after its first getUpdates answer or its webhook set, VK once the
  long-poll server is known or its callback is accepted, AMI after login, a file follower after its first
  read, push-only channels at once) and cleared when it stops or loses its connection. The supervisor,
  health checks and tests wait on it instead of guessing from private state.
* ``single_holder`` (optional, a bool attribute or property; default True): whether the account's receive
  loop must run in ONE process of several sharing a database — a connector that pulls from its peer (IMAP,
  Telegram getUpdates, VK long poll, AMI, a CDR file) would otherwise fetch everything once per process. A
  connector that only waits for pushes through the hub's web app (web chat, webhooks, the API channel)
  says False, and runs in every process: any of them behind the load balancer takes the push and sends
  the replies. Read it through :func:`single_holder`.
* ``prepare()`` (optional): what a process standing by for such an account can do ahead of taking it over,
  so the takeover is quick (e.g. import a heavy library off the event loop). Never receives or sends.

The architecture sketch named the receive loop ``start``; a coroutine that runs until it fails is what
lets the supervisor see a failure and restart it, so it is called ``run`` here.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any, ClassVar, Protocol, cast

from aiohttp import web

from inbox.capabilities import NOTHING, Capabilities
from inbox.dispatch import Outcome
from inbox.items import (
    CallEvent,
    ConversationMark,
    Delivery,
    DeliveryError,
    InboundItem,
    InboundMessage,
    MessageEdit,
    OutboundMessage,
    Refused,
)

__all__ = [
    "AccountContext",
    "CallEvent",
    "Capabilities",
    "ChannelAuthError",
    "ChannelNotAvailable",
    "ConnectionCheck",
    "Connector",
    "ConversationMark",
    "CursorStore",
    "Delivery",
    "DeliveryError",
    "FileParser",
    "InboundItem",
    "InboundMessage",
    "LinkHealth",
    "MessageEdit",
    "OutboundMessage",
    "Outcome",
    "PayloadError",
    "Refused",
    "Sink",
    "WebhookReceiver",
    "available",
    "capabilities",
    "channel_module",
    "check_connection",
    "connector_class",
    "file_parser",
    "register",
    "reparse",
    "single_holder",
    "with_message",
]

# Returns after the item is committed, with the typed outcome of its handler (see inbox.dispatch).
Sink = Callable[[InboundItem], Awaitable[Outcome]]

MessageItem = InboundMessage | MessageEdit | ConversationMark


async def with_message(
    item: MessageItem, change: Callable[[InboundMessage], Awaitable[InboundMessage]]
) -> MessageItem:
    """`item` with `change` applied to the message it carries (a new message, or an edit's new version);
    a mark carries none and comes back as it is. Connectors use it to fetch files and names."""
    if isinstance(item, InboundMessage):
        return await change(item)
    if isinstance(item, MessageEdit):
        return replace(item, message=await change(item.message))
    return item


class LinkHealth:
    """A connector's word on its link while its receive loop goes on: no problem, or why it is not receiving.

    :meth:`report` is cheap and may repeat itself (only a change is passed on); the supervisor awaits
    :meth:`changed` and shows the account's state from it.
    """

    def __init__(self) -> None:
        self.problem: str | None = None
        self._changed = asyncio.Event()

    def report(self, problem: str | None) -> None:
        if problem != self.problem:
            self.problem = problem
            self._changed.set()

    async def changed(self) -> str | None:
        """Wait for the next change; the problem it reports (None: receiving again)."""
        await self._changed.wait()
        self._changed.clear()
        return self.problem


class CursorStore(Protocol):
    async def load(self) -> str | None: ...

    async def save(self, value: str) -> None: ...


class MemoryCursor:
    """A cursor kept in memory: for tests and one-off imports."""

    def __init__(self, value: str | None = None) -> None:
        self.value = value

    async def load(self) -> str | None:
        return self.value

    async def save(self, value: str) -> None:
        self.value = value


@dataclass(frozen=True, slots=True)
class AccountContext:
    id: int
    name: str
    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    cursor: CursorStore = field(default_factory=MemoryCursor)


class PayloadError(ValueError):
    """A payload a channel cannot take. `field` names the offending field (dotted path) where known.

    `raw` is the refused part's own bytes where a file holds many (one mail of an mbox, one update of an
    array, one CDR line): what `okno ingest` puts in the quarantine instead of the whole file.
    """

    raw: bytes | None = None

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message

    def with_raw(self, raw: bytes) -> PayloadError:
        self.raw = raw
        return self


class IdentityRefused(PayloadError):
    """A payload of the right shape whose sender identity is unusable (an e-mail address that is no
    address, a phone number of no country): a rule of the domain, not of the format (422 on the API)."""


class ChannelAuthError(Exception):
    """The platform refused our credentials: retrying soon will not help."""


class ChannelNotAvailable(LookupError):
    """No connector is registered (built yet) for this kind."""


class Connector(Protocol):
    kind: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    ready: asyncio.Event  # set while receiving (see the module docstring)

    async def run(self, sink: Sink) -> None: ...

    async def send(self, out: OutboundMessage) -> Delivery: ...

    async def close(self) -> None: ...


def single_holder(connector: object) -> bool:
    """Whether `connector` must run in one process only (see the module docstring); True unless it says."""
    try:
        return bool(getattr(connector, "single_holder", True))
    except Exception:  # a bad configuration asked about: pulling, the default; run() reports the error
        return True


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """What a connection test found: whether the account's peer took us, and what happened, in one line
    a person can act on (never a secret)."""

    ok: bool
    detail: str


NOTHING_TO_TEST = "nothing to test: this channel has no connection of its own"


async def check_connection(connector: object) -> ConnectionCheck:
    """The connector's own connectivity check, or ok with "nothing to test" when it has none."""
    check = getattr(connector, "check_connection", None)
    if check is None:
        return ConnectionCheck(True, NOTHING_TO_TEST)
    result = await check()
    if not isinstance(result, ConnectionCheck):
        raise TypeError(f"{type(connector).__name__}.check_connection answered {result!r}")
    return result


ConnectorFactory = Callable[[AccountContext], Connector]
_REGISTRY: dict[str, ConnectorFactory] = {}
_CAPABILITIES: dict[str, Capabilities] = {}


def register(kind: str) -> Callable[[ConnectorFactory], ConnectorFactory]:
    """Register a connector class for `kind`; the class must declare its ``capabilities``."""

    def decorate(factory: ConnectorFactory) -> ConnectorFactory:
        declared = getattr(factory, "capabilities", None)
        if not isinstance(declared, Capabilities):
            raise TypeError(f"connector for {kind!r} declares no capabilities")
        _REGISTRY[kind] = factory
        _CAPABILITIES[kind] = declared
        return factory

    return decorate


# Kinds and the package that implements each; imported lazily (a process loads only the channels it runs).
KNOWN_KINDS: dict[str, str] = {
    "api": "channels.api",
    "email": "channels.email",
    "telegram": "channels.telegram",
    "vk": "channels.vk",
    "webchat": "channels.webchat",
    "sip": "channels.sip",
}


def registered(kind: str) -> bool:
    """A kind registered in this process beyond the built-in ones (a plugin's, or a test's)."""
    return kind in _REGISTRY and kind not in KNOWN_KINDS


def available() -> list[str]:
    """Kinds whose package exists in this installation."""
    return sorted(k for k, m in KNOWN_KINDS.items() if importlib.util.find_spec(m) is not None)


def channel_module(kind: str) -> ModuleType:
    module = KNOWN_KINDS.get(kind)
    if module is None:
        raise ChannelNotAvailable(f"unknown channel {kind!r} (known: {', '.join(KNOWN_KINDS)})")
    if importlib.util.find_spec(module) is None:
        raise ChannelNotAvailable(f"channel {kind!r} not available yet")
    return importlib.import_module(module)


def connector_class(kind: str) -> ConnectorFactory:
    if kind not in _REGISTRY:
        channel_module(kind)
        if kind not in _REGISTRY:
            raise ChannelNotAvailable(f"channel {kind!r} has no connector")
    return _REGISTRY[kind]


def capabilities(kind: str) -> Capabilities:
    """What a reply on `kind` can carry; nothing at all for a kind with no connector in this installation."""
    try:
        connector_class(kind)
    except ChannelNotAvailable:
        return NOTHING
    return _CAPABILITIES[kind]


class FileParser(Protocol):
    """`okno ingest KIND FILE`: a channel's raw payload file → items, or a PayloadError per bad item."""

    def __call__(
        self, data: bytes, name: str, *, account: AccountContext, region: str
    ) -> Iterable[InboundItem | PayloadError]: ...


def file_parser(kind: str) -> FileParser:
    parser = getattr(channel_module(kind), "parse_file", None)
    if parser is None:
        raise ChannelNotAvailable(f"channel {kind!r} cannot read files")
    return cast(FileParser, parser)


def reparse(raw: bytes, position: str | None, *, account: AccountContext, region: str) -> list[InboundItem]:
    """Today's parser on a quarantined item (`okno quarantine retry`): the items it yields now, or the first
    :class:`PayloadError` raised. A channel whose refusals are not whole payload files (a CDR line, a
    database row) exposes its own ``reparse`` with this signature; the others are read by `parse_file`."""
    module = channel_module(account.kind)
    own = getattr(module, "reparse", None)
    if own is not None:
        return cast(list[InboundItem], own(raw, position, account=account, region=region))
    items: list[InboundItem] = []
    for parsed in file_parser(account.kind)(raw, position or "quarantine", account=account, region=region):
        if isinstance(parsed, PayloadError):
            raise parsed
        items.append(parsed)
    return items


class WebhookReceiver(Protocol):
    """A connector that takes pushes over HTTP. The hub routes ``/hooks/{account}[/{tail}]`` to it.

    It must authenticate the request (secret header, secret key, token) before parsing anything and
    answer only after the sink has committed what it carried.
    """

    async def handle_webhook(self, request: web.Request, tail: str) -> web.StreamResponse: ...
