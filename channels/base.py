"""The channel contract, the registry of channel kinds, and what a connector is given to work with.

A connector is constructed with its :class:`AccountContext` (internal id, name, options and secrets from
configuration, a cursor store) and owns one receive loop:

* ``run(sink)`` receives until cancelled, calling ``await sink(item)`` per inbound item; ``sink`` returns
  only after the item is committed, so a connector acknowledges upstream (advances its cursor, answers
  a webhook) only then. Raising :class:`ChannelAuthError` reports bad credentials (the supervisor shows
  "auth_failed" and backs off long); any other exception is a failure the supervisor restarts with backoff.
  Push channels (webhooks, the generic API) have nothing to poll and simply wait.
* ``send(out)`` delivers one reply, raising :class:`inbox.items.DeliveryError` on failure.
* ``close()`` releases sockets and tasks; idempotent.

The architecture sketch named the receive loop ``start``; a coroutine that runs until it fails is what
lets the supervisor see a failure and restart it, so it is called ``run`` here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from inbox.ingest import IngestResult
from inbox.items import Delivery, DeliveryError, InboundMessage, OutboundMessage

__all__ = [
    "AccountContext",
    "ChannelAuthError",
    "ChannelNotAvailable",
    "Connector",
    "CursorStore",
    "Delivery",
    "DeliveryError",
    "PayloadError",
    "Sink",
    "available",
    "connector_class",
    "register",
]

Sink = Callable[[InboundMessage], Awaitable[IngestResult]]


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
    """A payload a channel cannot take. `field` names the offending field (dotted path) where known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


class ChannelAuthError(Exception):
    """The platform refused our credentials: retrying soon will not help."""


class ChannelNotAvailable(LookupError):
    """No connector is registered (built yet) for this kind."""


class Connector(Protocol):
    kind: ClassVar[str]

    async def run(self, sink: Sink) -> None: ...

    async def send(self, out: OutboundMessage) -> Delivery: ...

    async def close(self) -> None: ...


ConnectorFactory = Callable[[AccountContext], Connector]
_REGISTRY: dict[str, ConnectorFactory] = {}


def register(kind: str) -> Callable[[ConnectorFactory], ConnectorFactory]:
    def decorate(factory: ConnectorFactory) -> ConnectorFactory:
        _REGISTRY[kind] = factory
        return factory

    return decorate


# Kinds and the module that registers each; imported lazily (aiogram alone costs seconds to import).
KNOWN_KINDS: dict[str, str] = {"api": "channels.api"}
PLANNED_KINDS = ("email", "telegram", "vk", "webchat", "sip")


def available() -> list[str]:
    return sorted(KNOWN_KINDS)


def connector_class(kind: str) -> ConnectorFactory:
    if kind not in _REGISTRY:
        module = KNOWN_KINDS.get(kind)
        if module is None:
            if kind in PLANNED_KINDS:
                raise ChannelNotAvailable(f"channel {kind!r} not available yet")
            raise ChannelNotAvailable(f"unknown channel {kind!r} (known: {', '.join(available())})")
        __import__(module)
    return _REGISTRY[kind]
