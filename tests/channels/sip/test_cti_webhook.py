"""The generic call-event webhook (Zammad's CTI shape): the token in the path, newCall/answer/hangup."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.runtime import Hub
from inbox.bus import Event
from inbox.models import Agent, Call, Contact, Task
from tests.channels.sip.conftest import HookClient, running_connector

TOKEN = "s3cr3t-cti-token"
CLIENT = "+79139097332"


def cti_account(**extra: Any) -> dict[str, Any]:
    return {"kind": "sip", "source": "cti", "token": TOKEN, "did_sources": {"+74951234567": "Авито"}, **extra}


async def count(sessionmaker: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def agents(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[Agent, Agent]:
    async with sessionmaker() as session:
        anna = Agent(email="anna@example.com", name="Анна Смирнова", password_hash="-", extension="100")
        boris = Agent(email="boris@example.com", name="Борис", password_hash="-", extension="101")
        session.add_all([anna, boris])
        await session.commit()
    return anna, boris


async def test_wrong_token_is_refused_before_anything_is_read(
    sessionmaker: async_sessionmaker[AsyncSession], hub_factory: Any, hooks: HookClient
) -> None:
    hub: Hub = await hub_factory(accounts={"pbx": cti_account()})
    client = await hooks(hub)
    await running_connector(hub, "pbx")
    good = {"event": "newCall", "from": CLIENT, "to": "+74951234567", "direction": "in", "callId": "c1"}
    wrong = await client.post("/hooks/pbx/not-the-token", json=good)
    garbage = await client.post(
        "/hooks/pbx/not-the-token", data=b"\xff{not json", headers={"Content-Type": "application/json"}
    )
    missing = await client.post("/hooks/pbx", json=good)
    assert (wrong.status, garbage.status, missing.status) == (403, 403, 401)
    assert (await count(sessionmaker, Call), await count(sessionmaker, Contact)) == (0, 0)


async def test_new_call_answer_hangup_make_one_answered_call_with_screen_pops(
    sessionmaker: async_sessionmaker[AsyncSession], hub_factory: Any, hooks: HookClient
) -> None:
    anna, boris = await agents(sessionmaker)
    hub: Hub = await hub_factory(accounts={"pbx": cti_account()})
    client = await hooks(hub)
    await running_connector(hub, "pbx")
    base = {"from": "89139097332", "to": "74951234567", "direction": "in", "callId": "zm-1"}
    async with hub.bus.subscribe() as subscription:
        ring = await client.post(
            f"/hooks/pbx/{TOKEN}",
            data=[("event", "newCall"), *base.items(), ("user[]", "Анна Смирнова"), ("user[]", "101")],
        )
        answer = await client.post(
            f"/hooks/pbx/{TOKEN}", json={"event": "answer", **base, "answeringNumber": "101"}
        )
        hangup = await client.post(
            f"/hooks/pbx/{TOKEN}", json={"event": "hangup", **base, "cause": "normalClearing"}
        )
        again = await client.post(
            f"/hooks/pbx/{TOKEN}", json={"event": "hangup", **base, "cause": "normalClearing"}
        )
        events: list[Event] = []
        while not subscription.queue.empty():
            events.append(subscription.queue.get_nowait())
    assert [r.status for r in (ring, answer, hangup, again)] == [200, 200, 200, 200]
    assert await ring.json() == {}
    async with sessionmaker() as session:
        calls = list(await session.scalars(select(Call)))
        contact = await session.scalar(select(Contact))
    assert len(calls) == 1
    call = calls[0]
    assert (call.call_id, call.direction, call.from_number, call.to_number) == (
        "zm-1",
        "inbound",
        CLIENT,
        "+74951234567",
    )
    assert (call.disposition, call.extension, call.agent_id, call.ad_source) == (
        "answered",
        "101",
        boris.id,
        "Авито",
    )
    assert contact is not None and (contact.source_channel, contact.source_detail) == ("sip", "Авито")
    assert (
        call.meta["events"] and len(call.meta["events"]) == 4
    )  # two rings, answer, hangup; the repeat ignored
    pops = [e for e in events if e.type == "call.ringing"]
    assert sorted(e.assignee_id or 0 for e in pops) == sorted([anna.id, boris.id])
    assert all(e.team_id is None and e.data["has_responsible_agent"] is False for e in pops)


async def test_caller_who_gives_up_leaves_a_callback_for_the_team(
    sessionmaker: async_sessionmaker[AsyncSession], hub_factory: Any, hooks: HookClient
) -> None:
    hub: Hub = await hub_factory(accounts={"pbx": cti_account(team="Поддержка")})
    client = await hooks(hub)
    await running_connector(hub, "pbx")
    base = {"from": CLIENT, "to": "+74951234567", "direction": "in", "callId": "zm-2"}
    for body in ({"event": "newCall", **base}, {"event": "hangup", **base, "cause": "cancel"}):
        response = await client.post(f"/hooks/pbx/{TOKEN}", json=body)
        assert response.status == 200
    async with sessionmaker() as session:
        call = await session.scalar(select(Call))
        task = await session.scalar(select(Task))
    assert call is not None and call.disposition == "missed"
    assert task is not None and (task.kind, task.status, task.team_id) == (
        "callback",
        "open",
        hub.accounts["pbx"].team_id,
    )


async def test_outbound_call_to_the_client_closes_the_callback(
    sessionmaker: async_sessionmaker[AsyncSession], hub_factory: Any, hooks: HookClient
) -> None:
    _, boris = await agents(sessionmaker)
    hub: Hub = await hub_factory(accounts={"pbx": cti_account()})
    client = await hooks(hub)
    await running_connector(hub, "pbx")
    missed = {"from": CLIENT, "to": "+74951234567", "direction": "in", "callId": "in-1"}
    back = {"from": "101", "to": "8 913 909-73-32", "direction": "out", "callId": "out-1", "user": "Борис"}
    for body in (
        {"event": "newCall", **missed},
        {"event": "hangup", **missed, "cause": "noAnswer"},
        {"event": "newCall", **back},
        {"event": "answer", **back},
        {"event": "hangup", **back, "cause": "normalClearing"},
    ):
        assert (await client.post(f"/hooks/pbx/{TOKEN}", json=body)).status == 200
    async with sessionmaker() as session:
        task = await session.scalar(select(Task))
        out = await session.scalar(select(Call).where(Call.call_id == "out-1"))
    assert task is not None and task.status == "done" and task.result is not None
    assert task.result.startswith("перезвонили с доб. 101: дозвонились")
    assert out is not None and (out.direction, out.agent_id, out.contact_id) == (
        "outbound",
        boris.id,
        task.contact_id,
    )


async def test_bad_event_is_refused_with_the_field_named(
    sessionmaker: async_sessionmaker[AsyncSession], hub_factory: Any, hooks: HookClient
) -> None:
    hub: Hub = await hub_factory(accounts={"pbx": cti_account()})
    client = await hooks(hub)
    await running_connector(hub, "pbx")
    unknown = await client.post(f"/hooks/pbx/{TOKEN}", json={"event": "transfer", "callId": "x"})
    no_id = await client.post(f"/hooks/pbx/{TOKEN}", data={"event": "hangup", "from": CLIENT})
    assert (unknown.status, no_id.status) == (400, 400)
    assert (await unknown.json())["field"] == "event"
    assert (await no_id.json())["field"] == "callId"
    assert await count(sessionmaker, Call) == 0


async def test_a_file_source_takes_no_webhooks(hub_factory: Any, hooks: HookClient, tmp_path: Any) -> None:
    hub: Hub = await hub_factory(
        accounts={
            "pbx": {"kind": "sip", "source": "cdr_csv", "path": str(tmp_path / "Master.csv"), "token": TOKEN}
        }
    )
    client = await hooks(hub)
    response = await client.post(f"/hooks/pbx/{TOKEN}", json={"event": "newCall"})
    assert response.status == 404
