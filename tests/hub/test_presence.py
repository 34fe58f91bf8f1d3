"""Agent presence shared by hub processes: an agent with sockets on two processes stays online until
both close; the rows of a process that died expire after the TTL (stepped clock)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.presence import Presence
from hub.runtime import Hub
from hub.web import create_app
from inbox.agents import create_agent
from inbox.models import utcnow
from inbox.presence import online_agents
from tests.hub.web.conftest import Client, Person, make_agent
from tests.waiting import eventually, next_frame


async def test_an_agent_with_a_socket_on_each_of_two_processes_stays_online_until_both_close(
    hub_factory: Callable[..., Awaitable[Hub]],
) -> None:
    a, b = await hub_factory(), await hub_factory()
    anna = await make_agent(a, "anna@okno.example.com")
    admin = await make_agent(a, "admin@okno.example.com", role="admin")
    async with (
        TestClient(TestServer(create_app(a, manage_hub=False))) as on_a,
        TestClient(TestServer(create_app(b, manage_hub=False))) as on_b,
    ):

        async def presence(client: Client, person: Person) -> str:
            agents = await (await client.get("/api/v1/agents", headers=admin.headers)).json()
            return str(next(x["presence"] for x in agents["items"] if x["id"] == person.id))

        async with on_b.ws_connect("/api/v1/ws", headers=anna.headers) as tab_b:
            await next_frame(tab_b)
            async with on_a.ws_connect("/api/v1/ws", headers=anna.headers) as tab_a:
                await next_frame(tab_a)
                assert await presence(on_a, anna) == "online"
            await eventually(lambda: _not_counted(a, anna.id), "process A's socket closed")
            assert await presence(on_a, anna) == "online"  # still online through process B
            assert await presence(on_b, anna) == "online"
            assert anna.id in await online_agents_of(a)
        await eventually(lambda: _offline(on_a, presence, anna), "the agent offline once both closed")
        assert await presence(on_b, anna) == "offline"


async def online_agents_of(hub: Hub) -> set[int]:
    async with hub.sessionmaker() as session:
        return await online_agents(session)


async def _not_counted(hub: Hub, agent_id: int) -> bool:
    return agent_id not in hub.presence._local


async def _offline(client: Client, presence: Callable[..., Awaitable[str]], who: Person) -> bool:
    return await presence(client, who) == "offline"


class SteppedClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def step(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def test_a_dead_process_rows_expire_while_a_live_process_heartbeat_keeps_its_agents_online(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        ids = []
        for email in ("dead@okno.example.com", "live@okno.example.com"):
            agent = await create_agent(
                session, email=email, name=email, password="long-password", role="agent"
            )
            ids.append(agent.id)
        await session.commit()
    on_dead_process, on_live_process = ids
    clock = SteppedClock(utcnow())
    dead = Presence(sessionmaker, clock=clock)  # never beats, never stops: it crashed
    live = Presence(sessionmaker, clock=clock)
    assert await dead.connect(on_dead_process) is True
    assert await live.connect(on_live_process) is True
    assert await live.online() == {on_dead_process, on_live_process}

    clock.step(60)
    await live.beat()
    assert await live.online() == {on_dead_process, on_live_process}  # 60 s: within the TTL
    clock.step(31)
    assert await live.online() == {on_live_process}  # 91 s after the dead process last wrote
    async with sessionmaker() as session:
        assert await online_agents(session, now=clock.now) == {on_live_process}

    await live.beat()  # also deletes the dead process's rows
    clock.step(89)
    assert await live.online() == {on_live_process}
    assert await live.disconnect(on_live_process) is True
    assert await live.online() == set()
    await live.stop()
