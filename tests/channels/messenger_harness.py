"""Test harness shared by the Telegram and VK tests (the messengers): one set-up, two channels.

* ``serving``: a fake platform API (``tests/channels/telegram/fake_bot_api.py``,
  ``tests/channels/vk/fake_vk_api.py``) on a local port, its ``url`` set while it runs.
* ``account_row``, ``account_context``: the database row of an account and the context a connector is given;
  ``outbound_message``: a reply as the outbox hands it to a connector; ``meta_of``: an item's channel meta.
* ``connector_running``: a connector's receive loop against a sink, cancelled and closed after.
* ``stored_messages``: every stored message with its attachments, in order.
* ``shared_payloads_ingested``: every shared payload file of a channel ingested or refused with a reason.
* ``hub_settings``, ``inbound_count``, ``cursor_is``: a hub with one account, and what it has stored.
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
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from channels.base import AccountContext, Connector, FileParser, InboundItem, MemoryCursor, PayloadError, Sink
from hub.runtime import Hub
from inbox import quarantine
from inbox.agents import create_agent
from inbox.conversation_marks import apply_mark
from inbox.edits import apply_edit
from inbox.ingest import IngestError, ingest
from inbox.items import (
    ConversationMark,
    InboundMessage,
    MessageEdit,
    OutboundAttachment,
    OutboundMessage,
    Refused,
)
from inbox.models import ChannelAccount, Conversation, Message, QuarantineItem
from inbox.replies import add_reply, store_reply_files
from tests.conftest import shared_fixture_dir
from tests.waiting import eventually

HubFactory = Callable[..., Any]


class FakeApi(Protocol):
    """A fake platform API: an aiohttp application, and the URL it is served at (set by :func:`serving`)."""

    url: str
    token: str

    def app(self) -> web.Application: ...


Api = TypeVar("Api", bound=FakeApi)


@contextlib.asynccontextmanager
async def serving(api: Api) -> AsyncIterator[Api]:
    """Serve `api` on a local port for the block; its ``url`` is the server's base URL."""
    server = TestServer(api.app())
    await server.start_server()
    api.url = str(server.make_url("")).rstrip("/")
    try:
        yield api
    finally:
        await server.close()


async def account_row(session: AsyncSession, name: str, kind: str) -> ChannelAccount:
    """A committed account row, for items that must belong to an account the database knows."""
    account = ChannelAccount(name=name, kind=kind)
    session.add(account)
    await session.commit()
    return account


def account_context(
    api: FakeApi,
    name: str,
    kind: str,
    account_id: int = 1,
    *,
    cursor: MemoryCursor | None = None,
    secret: str | None = None,
    **options: Any,
) -> AccountContext:
    """What a connector of `kind` is given for an account on the fake `api`: its token, an optional secret."""
    secrets = {"token": api.token}
    if secret is not None:
        secrets["secret"] = secret
    return AccountContext(
        id=account_id, name=name, kind=kind, options=options, secrets=secrets, cursor=cursor or MemoryCursor()
    )


def meta_of(item: InboundMessage, channel: str) -> dict[str, Any]:
    """The channel's own part of an item's meta (``meta["telegram"]``, ``meta["vk"]``)."""
    value = item.meta[channel]
    assert isinstance(value, dict)
    return value


def outbound_message(**fields: Any) -> OutboundMessage:
    """A reply as the outbox hands it to a connector (reply 10 in conversation 5 of account 1, by Анна);
    `fields` add the channel's recipients and meta, or override any of that."""
    data: dict[str, Any] = {
        "outbox_id": 1,
        "message_id": 10,
        "account_id": 1,
        "conversation_id": 5,
        "idempotency_key": "okno-10-abc",
        "html": None,
        "agent_name": "Анна",
    }
    return OutboundMessage(**(data | fields))


@contextlib.asynccontextmanager
async def connector_running(conn: Connector, sink: Sink) -> AsyncIterator[asyncio.Task[None]]:
    """`conn` receiving into `sink` for the block; cancelled and closed after."""
    task = asyncio.create_task(conn.run(sink))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await conn.close()


async def stored_messages(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Message]:
    """Every stored message, attachments loaded, in the order stored."""
    async with sessionmaker() as session:
        query = select(Message).options(selectinload(Message.attachments)).order_by(Message.id)
        return list(await session.scalars(query))


def shown(item: InboundItem) -> str:
    """What agents read of an item: a message's text, an edit's new text, a mark's reason."""
    match item:
        case MessageEdit():
            return item.message.text
        case ConversationMark():
            return item.reason
        case InboundMessage():
            return item.text
    raise AssertionError(f"not a messenger item: {item!r}")


async def shared_payloads_ingested(
    kind: str,
    account_id: int,
    parse_file: FileParser,
    sessionmaker: async_sessionmaker[AsyncSession],
    known: dict[str, str],
) -> InboxSink:
    """Feed every shared payload file of `kind` (``../shared/fixtures/KIND``) through the parser and the sink.

    Each file becomes items the sink stores, or one-line reasons (the parser's or the inbox's), never a
    crash; the files named in `known` become what it says (a stored text's, or ``refused: reason``'s start);
    every item stored is one message (an edit and its original: one). Returns the sink, for more checks.
    """
    files = sorted(p for p in shared_fixture_dir(kind).iterdir() if p.suffix.lower() == ".json")
    assert files, f"no {kind} fixtures found"
    account = AccountContext(id=account_id, name=kind, kind=kind)
    sink = InboxSink(sessionmaker)
    outcomes: dict[str, list[str]] = {}
    for path in files:
        results = list(parse_file(path.read_bytes(), path.name, account=account, region="RU"))
        assert results, f"{path.name}: neither an item nor a reason"
        for result in results:
            if isinstance(result, PayloadError):
                reason = str(result)
                assert reason and "\n" not in reason, f"{path.name}: reason must be one line: {reason!r}"
                outcomes.setdefault(path.name, []).append(f"refused: {reason}")
                continue
            try:
                await sink(result)
            except IngestError as exc:  # the inbox's own refusal (e.g. an impossible user id) is a reason too
                assert "\n" not in str(exc)
                outcomes.setdefault(path.name, []).append(f"refused: {exc}")
                continue
            outcomes.setdefault(path.name, []).append(shown(result))
    for name, expected in known.items():
        if name in outcomes:
            assert any(o.startswith(expected) for o in outcomes[name]), (name, outcomes[name])
    async with sessionmaker() as session:
        stored = [e or "" for e in await session.scalars(select(Message.external_id))]
    assert sorted(stored) == sorted({i.external_id for i in sink.items})
    return sink


def hub_settings(tmp_path: Path, name: str, account: dict[str, Any]) -> dict[str, Any]:
    """A hub's settings with one account `name` (attachments kept under `tmp_path`)."""
    return {"attachments_dir": str(tmp_path / "attachments"), "accounts": {name: account}}


async def inbound_count(hub: Hub, expected: int) -> bool:
    return len(await inbound(hub)) == expected


async def cursor_is(hub: Hub, name: str, expected: str | None) -> bool:
    """Whether account `name`'s saved cursor is `expected` (``None``: whether any cursor is saved)."""
    async with hub.sessionmaker() as session:
        account = await session.scalar(select(ChannelAccount).where(ChannelAccount.name == name))
        if account is None:
            return False
        return account.cursor is not None if expected is None else account.cursor == expected


class InboxSink:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self.items: list[InboundItem] = []
        self.results: list[Any] = []
        self.gate: asyncio.Event | None = None  # when set up, each item waits for it before it is stored
        self.waiting = 0  # items handed in and waiting at the gate now

    async def __call__(self, item: InboundItem) -> object:
        if self.gate is not None:
            self.waiting += 1
            try:
                await self.gate.wait()
            finally:
                self.waiting -= 1
        async with self._sessionmaker() as session:
            match item:
                case ConversationMark():
                    result: object = await apply_mark(session, item)
                case MessageEdit():
                    result = await apply_edit(session, item)
                case InboundMessage():
                    result = await ingest(session, item)
                case Refused():
                    result = await quarantine.store(session, item)
                case _:
                    raise AssertionError(f"not a messenger item: {item!r}")
        self.items.append(item)
        self.results.append(result)
        return result


async def quarantined(sessionmaker: async_sessionmaker[AsyncSession]) -> list[QuarantineItem]:
    """The quarantine's rows, oldest first."""
    async with sessionmaker() as session:
        return list(await session.scalars(select(QuarantineItem).order_by(QuarantineItem.id)))


async def inbound(hub: Hub) -> list[Message]:
    async with hub.sessionmaker() as session:
        return list(
            await session.scalars(select(Message).where(Message.direction == "in").order_by(Message.id))
        )


async def reply(
    hub: Hub,
    conversation_id: int,
    text: str,
    files: Sequence[OutboundAttachment] = (),
    buttons: Sequence[str] = (),
) -> int:
    """An agent's reply, `files` and `buttons` checked against the channel's capabilities and stored as the
    API does."""
    async with hub.sessionmaker() as session:
        conv = await session.get_one(Conversation, conversation_id)
        await session.commit()
    stored = await store_reply_files(
        files,
        hub.policy,
        capabilities=hub.account_capabilities(conv.account_id),
        channel=conv.channel_kind,
        buttons=buttons,
    )
    async with hub.sessionmaker() as session:
        conv = await session.get_one(Conversation, conversation_id)
        agent = await create_agent(
            session, email=f"anna{conversation_id}@okno.ru", name="Анна", password="long-password"
        )
        message, _ = await add_reply(
            session, conv, agent, text, policy=hub.policy, files=stored, buttons=buttons
        )
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
