"""The running hub end to end: configured account → ingest → event bus → reply → outbox → channel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from channels.api import parse
from hub.runtime import Hub, UnknownTeam
from inbox.agents import create_agent
from inbox.channel_accounts import AccountKindError
from inbox.models import ChannelAccount, Conversation, Message, Team
from inbox.replies import add_reply
from tests.conftest import make_settings
from tests.waiting import eventually, next_item


@pytest.fixture
async def callback_url() -> AsyncIterator[tuple[list[dict[str, Any]], str]]:
    received: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"id": "cb-1"})

    app = web.Application()
    app.router.add_post("/cb", handle)
    server = TestServer(app)
    await server.start_server()
    yield received, str(server.make_url("/cb"))
    await server.close()


async def test_message_in_reply_out(hub_factory: Any, callback_url: tuple[list[dict[str, Any]], str]) -> None:
    received, url = callback_url
    hub: Hub = await hub_factory(
        accounts={"shop": {"kind": "api", "token": "t", "team": "Продажи", "callback_url": url}}
    )
    account = hub.accounts["shop"].context
    assert "token" not in account.options and account.secrets["token"] == "t"
    async with hub.bus.subscribe() as events:
        item = parse(
            {"external_id": "1", "sender": {"email": "olga@mail.ru", "name": "Ольга"}, "text": "Привет"},
            account_id=account.id,
            account_name="shop",
        )
        result = await hub.ingest.submit(item)
        created = await next_item(events, "conversation.created")
    assert created.type == "conversation.created" and created.conversation_id == result.conversation_id
    async with hub.sessionmaker() as session:
        team = await session.scalar(select(Team).where(Team.name == "Продажи"))
        conv = await session.get_one(Conversation, result.conversation_id)
        assert team is not None and conv.team_id == team.id
        agent = await create_agent(session, email="anna@okno.ru", name="Анна", password="long-password")
        reply, _ = await add_reply(session, conv, agent, "Здравствуйте, Ольга!", policy=hub.policy)
        await session.commit()
    hub.outbox.wake()
    await eventually(lambda: received, "the reply reached the callback")
    assert received[0]["text"] == "Здравствуйте, Ольга!"
    assert received[0]["recipient"] == {"email": "olga@mail.ru"}

    async def sent() -> bool:
        async with hub.sessionmaker() as session:
            return (await session.get_one(Message, reply.id)).delivery_status == "sent"

    await eventually(sent, "the reply marked sent")
    assert hub.supervisor.states[account.id].state == "running"


async def test_an_unused_account_may_change_kind_a_used_one_is_told_to_retire(hub_factory: Any) -> None:
    hub: Hub = await hub_factory(accounts={"shop": {"kind": "api", "token": "t"}})
    account = hub.accounts["shop"].context
    async with hub.sessionmaker() as session:
        row = await session.get_one(ChannelAccount, account.id)
        row.kind = "email"  # as if it had been configured as e-mail before, and never used
        await session.commit()
    await hub.sync_accounts()  # now configured as api again: it takes the new kind
    async with hub.sessionmaker() as session:
        assert (await session.get_one(ChannelAccount, account.id)).kind == "api"
    item = parse(
        {"external_id": "1", "sender": {"email": "o@mail.ru"}, "text": "Hi"},
        account_id=account.id,
        account_name="shop",
    )
    await hub.ingest.submit(item)
    async with hub.sessionmaker() as session:
        row = await session.get_one(ChannelAccount, account.id)
        row.kind = "email"
        await session.commit()
    with pytest.raises(AccountKindError, match="okno accounts retire shop"):
        await hub.sync_accounts()


async def test_a_per_team_section_naming_no_team_stops_the_start(hub_factory: Any, database_url: str) -> None:
    typo = Hub(
        make_settings(
            database_url,
            routing={"teams": {"Night": {}}},
            sla={"teams": {"Nigth": {"first_response_minutes": 5}}},
        )
    )
    try:
        with pytest.raises(
            UnknownTeam, match=r'\[sla\.teams\."Nigth"\]: no team named .Nigth. \(teams: Night\)'
        ):
            await typo.start(migrate=False)
    finally:
        await typo.engine.dispose()
    hub: Hub = await hub_factory(
        routing={"teams": {"Night": {}}}, business_hours={"teams": {"Night": {"sat": "10:00-16:00"}}}
    )
    assert hub.policy.calendars.of("Night").week[5] and not hub.policy.calendars.default.week[5]
