"""The one door into the inbox: each type of inbound item to its handler, with a typed result.

    InboundMessage (NewMessage) → the group-commit ingest queue      → IngestResult
    MessageEdit                 → inbox.edits.apply_edit             → EditResult
    ConversationMark            → inbox.conversation_marks.apply_mark → MarkResult
    CallEvent                   → inbox.calls.submit_call            → CallResult
    Refused                     → the quarantine, in the ingest queue  → RefusedResult

:data:`HANDLERS` is the whole map; an item of any other type raises :class:`UnsupportedItem` instead of
being dropped or stored as something it is not. Each handler returns only after what it stored is
committed, which is what a connector's sink promises (see channels.base). Callers match on the type of the
:data:`Outcome`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.bus import NullPublisher, Publisher
from inbox.calls import CallResult, CallSettings, submit_call
from inbox.conversation_marks import MarkResult, apply_mark
from inbox.edits import EditResult, apply_edit
from inbox.ingest import IngestQueue, IngestResult
from inbox.items import CallEvent, ConversationMark, InboundItem, InboundMessage, MessageEdit, Refused
from inbox.policy import InboxPolicy
from inbox.quarantine import RefusedResult

# RefusedResult lives with the quarantine; it is one of the outcomes of this door, so it is named here too.
__all__ = ["HANDLERS", "Outcome", "Receiver", "RefusedResult", "UnsupportedItem", "handle"]


Outcome = IngestResult | EditResult | MarkResult | CallResult | RefusedResult


class UnsupportedItem(TypeError):
    """An item of a type no handler takes: a programming error at the boundary, never dropped silently."""


def _default_call_settings(account_id: int) -> CallSettings:
    return CallSettings()


@dataclass(frozen=True, slots=True)
class Receiver:
    """What the handlers work with; calling it handles one item (it is a connector's sink)."""

    sessionmaker: async_sessionmaker[AsyncSession]
    ingest: IngestQueue
    policy: InboxPolicy = field(default_factory=InboxPolicy)
    publisher: Publisher = field(default_factory=NullPublisher)
    call_settings: Callable[[int], CallSettings] = _default_call_settings  # by account id

    async def __call__(self, item: InboundItem) -> Outcome:
        return await handle(self, item)


async def _new_message(receiver: Receiver, item: InboundMessage) -> IngestResult:
    return await receiver.ingest.submit(item)  # group commit: shares a transaction with its neighbours


async def _edit(receiver: Receiver, item: MessageEdit) -> EditResult:
    # An edit rewrites a stored message: more than the group-commit insert does, so a short
    # transaction of its own.
    async with receiver.sessionmaker() as session:
        return await apply_edit(session, item, receiver.policy, receiver.publisher)


async def _mark(receiver: Receiver, item: ConversationMark) -> MarkResult:
    async with receiver.sessionmaker() as session:
        return await apply_mark(session, item, receiver.policy, receiver.publisher)


async def _call(receiver: Receiver, item: CallEvent) -> CallResult:
    settings = receiver.call_settings(item.account_id)
    return await submit_call(receiver.sessionmaker, item, receiver.policy, settings, receiver.publisher)


async def _refused(receiver: Receiver, item: Refused) -> RefusedResult:
    # The same group commit as new messages: a refusal is committed with its neighbours (inbox.quarantine).
    return await receiver.ingest.submit_refused(item)


Handler = Callable[[Receiver, Any], Awaitable[Outcome]]

HANDLERS: dict[type[Any], Handler] = {
    InboundMessage: _new_message,
    MessageEdit: _edit,
    ConversationMark: _mark,
    CallEvent: _call,
    Refused: _refused,
}


async def handle(receiver: Receiver, item: InboundItem) -> Outcome:
    """Hand `item` to the handler of its type; returns after what it stored is committed."""
    handler = HANDLERS.get(type(item))
    if handler is None:
        raise UnsupportedItem(f"no handler for inbound items of type {type(item).__name__}")
    return await handler(receiver, item)
