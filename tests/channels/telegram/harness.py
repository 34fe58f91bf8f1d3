"""Test harness shared by the Telegram and VK tests.

* ``InboxSink``: the real inbox, with edits and marks routed as the hub should route them. It composes the
  real functions (no mocks): marks go to ``inbox.conversation_marks.apply_mark``, edits to
  ``inbox.edits.apply_edit``, everything else to ``inbox.ingest.ingest`` — what the hub's sink does once
  the routing proposed with these channels is in (until then the hub ingests edits and marks like any item).
* ``Hooks``: the hub's ``POST /hooks/{account}[/{tail}]`` route, mirrored until the hub has it.
* ``inbound``, ``reply``, ``delivered``: a hub's stored messages, an agent's reply, its delivery.

Waiting for what another task does goes through :mod:`tests.waiting`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.base import InboundItem
from hub.runtime import Hub
from inbox.agents import create_agent
from inbox.conversation_marks import apply_mark
from inbox.edits import apply_edit
from inbox.ingest import ingest
from inbox.items import ConversationMark, InboundMessage, MessageEdit
from inbox.models import Conversation, Message
from inbox.replies import add_reply
from tests.waiting import eventually

HubFactory = Callable[..., Any]


class InboxSink:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self.items: list[InboundItem] = []
        self.results: list[Any] = []
        self.gate: asyncio.Event | None = None  # when set up, each item waits for it before it is stored

    async def __call__(self, item: InboundItem) -> object:
        if self.gate is not None:
            await self.gate.wait()
        async with self._sessionmaker() as session:
            match item:
                case ConversationMark():
                    result: object = await apply_mark(session, item)
                case MessageEdit():
                    result = await apply_edit(session, item)
                case InboundMessage():
                    result = await ingest(session, item)
                case _:
                    raise AssertionError(f"not a Telegram item: {item!r}")
        self.items.append(item)
        self.results.append(result)
        return result


async def inbound(hub: Hub) -> list[Message]:
    async with hub.sessionmaker() as session:
        return list(
            await session.scalars(select(Message).where(Message.direction == "in").order_by(Message.id))
        )


async def reply(hub: Hub, conversation_id: int, text: str) -> int:
    async with hub.sessionmaker() as session:
        conv = await session.get_one(Conversation, conversation_id)
        agent = await create_agent(
            session, email=f"anna{conversation_id}@okno.ru", name="Анна", password="long-password"
        )
        message, _ = await add_reply(session, conv, agent, text, policy=hub.policy)
        await session.commit()
    hub.outbox.wake()
    return message.id


async def delivered(hub: Hub, message_id: int) -> Message:
    async def sent() -> bool:
        async with hub.sessionmaker() as session:
            return (await session.get_one(Message, message_id)).delivery_status in ("sent", "failed")

    await eventually(sent, f"message {message_id} left the outbox")
    async with hub.sessionmaker() as session:
        return await session.get_one(Message, message_id)


class Hooks:
    """The hub's POST /hooks/{account}[/{tail}] route (added by the hub; mirrored here until it lands)."""

    def __init__(self) -> None:
        self.hub: Hub | None = None

    async def route(self, request: web.Request) -> web.StreamResponse:
        hub = self.hub
        configured = hub.accounts.get(request.match_info["account"]) if hub else None
        connector = hub.supervisor.connectors.get(configured.context.id) if hub and configured else None
        handler = getattr(connector, "handle_webhook", None)
        if handler is None:
            return web.json_response({"error": "no such hook"}, status=404)
        response: web.StreamResponse = await handler(request, request.match_info.get("tail", ""))
        return response

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hooks/{account}", self.route)
        app.router.add_post("/hooks/{account}/{tail:.*}", self.route)
        return app
