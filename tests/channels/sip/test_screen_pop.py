"""The screen pop over the agent WebSocket: the agent whose extension rings gets the card, no one else."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from hub import auth
from hub.runtime import Hub
from hub.web import create_app
from inbox.models import Agent
from tests.channels.sip.conftest import HookClient, running_connector
from tests.waiting import next_frame, within

TOKEN = "cti-token"


async def test_ringing_extension_pops_the_card_on_that_agents_socket_only(
    sessionmaker: Any, hub_factory: Any, hooks: HookClient
) -> None:
    async with sessionmaker() as session:
        anna = Agent(email="anna@example.com", name="Анна", password_hash="-", extension="100")
        boris = Agent(email="boris@example.com", name="Борис", password_hash="-", extension="101")
        session.add_all([anna, boris])
        await session.flush()
        anna_token, _ = await auth.create_api_token(session, anna.id)
        boris_token, _ = await auth.create_api_token(session, boris.id)
        await session.commit()
    hub: Hub = await hub_factory(accounts={"pbx": {"kind": "sip", "source": "cti", "token": TOKEN}})
    pbx = await hooks(hub)
    await running_connector(hub, "pbx")

    async with (
        TestClient(TestServer(create_app(hub, manage_hub=False))) as web,
        web.ws_connect(f"/api/v1/ws?token={anna_token}") as anna_ws,
        web.ws_connect(f"/api/v1/ws?token={boris_token}") as boris_ws,
    ):
        assert (await next_frame(anna_ws, "Anna's hello"))["type"] == "hello"
        assert (await next_frame(boris_ws, "Boris's hello"))["type"] == "hello"
        ring = {"event": "newCall", "from": "89139097332", "to": "74951234567", "direction": "in"}
        first = await pbx.post(f"/hooks/pbx/{TOKEN}", json={**ring, "callId": "a-1", "user": "100"})
        second = await pbx.post(f"/hooks/pbx/{TOKEN}", json={**ring, "callId": "b-1", "user": "101"})
        assert (first.status, second.status) == (200, 200)

        async def first_pop(ws: Any) -> dict[str, Any]:
            async with within("a call.ringing frame"):
                while True:
                    frame: dict[str, Any] = await next_frame(ws)
                    if frame["type"] == "call.ringing":
                        return frame

        anna_pop = await first_pop(anna_ws)
        boris_pop = await first_pop(boris_ws)
    assert anna_pop["data"]["call"]["call_id"] == "a-1" and anna_pop["data"]["agent_id"] == anna.id
    # Anna's pop never reached Boris: the first one on his socket is his own.
    assert boris_pop["data"]["call"]["call_id"] == "b-1"
    card = anna_pop["data"]["card"]
    assert card["identities"] == [{"kind": "phone", "value": "+79139097332"}]
    assert anna_pop["data"]["has_responsible_agent"] is False
    assert anna_pop["data"]["conversations"] == [] and anna_pop["data"]["calls"] == []
