"""Re-routing: an assignment with no human reply within the team's answer time-out goes to the next
agent, recorded as a hand-over on the timeline and as a reporting event; a reply stops it. The
scheduler's clock is stepped, never waited for."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.conversations import Viewer
from inbox.models import Agent, Conversation, ReportingEvent, ReportWait, utcnow
from inbox.policy import InboxPolicy
from inbox.presence import heartbeat
from inbox.replies import add_reply
from inbox.routing.availability import StatusLapses
from inbox.routing.reroute import AnswerTimeouts
from inbox.scheduler import Scheduler
from inbox.timeline import contact_timeline
from tests.clock import SteppedClock
from tests.inbox.routing.setup import PROCESS, dialogs, online, route, team_with_agents


async def test_an_unanswered_assignment_moves_on_after_the_timeout_and_the_handover_is_recorded(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    team, agents, account = await team_with_agents(session, 2)
    team.answer_timeout_seconds = 300
    clock = SteppedClock(utcnow())
    for agent in agents:
        await online(session, agent, clock.now)
    conv_ids = await dialogs(session, account, 0, 2)
    await route(session, team.id, clock.now)
    await session.commit()
    first, answered = [await session.get_one(Conversation, c) for c in conv_ids]
    assert first.assignee_id == agents[0].id and answered.assignee_id == agents[1].id
    replier = await session.get_one(Agent, agents[1].id)
    await add_reply(session, answered, replier, "Здравствуйте!", policy=InboxPolicy())
    await session.commit()

    scheduler = Scheduler(sessionmaker, kinds=[AnswerTimeouts()], clock=clock)
    clock.now += timedelta(seconds=299)
    assert await scheduler.run_once() == 0
    clock.now += timedelta(seconds=2)
    await heartbeat(session, process_id=PROCESS, now=clock.now)  # the sockets are still there
    await session.commit()
    assert await scheduler.run_once() > 0

    async with sessionmaker() as fresh:
        moved = await fresh.get_one(Conversation, first.id)
        assert moved.assignee_id == agents[1].id
        assert moved.reroute_due == clock.now + timedelta(seconds=300)  # the new assignee's own time-out
        assert (await fresh.get_one(Conversation, answered.id)).assignee_id == agents[1].id  # answered: stays
        event = await fresh.scalar(select(ReportingEvent).where(ReportingEvent.name == "handover"))
        assert event is not None
        assert event.detail == {
            "from_agent_id": agents[0].id,
            "to_agent_id": agents[1].id,
            "reason": "answer_timeout",
        }
        assert (event.occurred_at, event.value_seconds) == (clock.now, 301.0)
        admin = Viewer(agents[0].id, "admin", frozenset())
        timeline = await contact_timeline(fresh, moved.contact_id, admin)
        notes = [e.message for e in timeline if e.message is not None and e.message.kind == "handover"]
        assert [n.meta["reason"] for n in notes if n is not None] == ["answer_timeout"]
        # The reports' waits: a hand-over ends none (nobody answered yet) and keeps the team they started
        # with; the reply ended the answered dialog's first-response and reply waits.
        waits = list(await fresh.scalars(select(ReportWait).order_by(ReportWait.id)))
        held = {(w.kind, w.outcome, w.team_id) for w in waits if w.conversation_id == first.id}
        assert held == {(k, None, team.id) for k in ("first_response", "reply", "resolution")}
        ended = {(w.kind, w.outcome, w.agent_id) for w in waits if w.conversation_id == answered.id}
        assert ended == {
            ("first_response", "replied", agents[1].id),
            ("reply", "replied", agents[1].id),
            ("resolution", None, None),
        }


async def test_with_nobody_else_to_take_it_the_dialog_stays_and_is_looked_at_after_another_timeout(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    team, agents, account = await team_with_agents(session, 2)
    team.answer_timeout_seconds = 60
    clock = SteppedClock(utcnow())
    await online(session, agents[0], clock.now)
    (conv_id,) = await dialogs(session, account, 0, 1)
    await route(session, team.id, clock.now)
    await session.commit()
    clock.now += timedelta(seconds=61)
    await heartbeat(session, process_id=PROCESS, now=clock.now)
    await session.commit()
    await Scheduler(sessionmaker, kinds=[AnswerTimeouts()], clock=clock).run_once()
    async with sessionmaker() as fresh:
        conv = await fresh.get_one(Conversation, conv_id)
        assert conv.assignee_id == agents[0].id
        assert conv.reroute_due == clock.now + timedelta(seconds=60)


async def test_online_without_a_socket_for_the_set_time_turns_offline(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    _, agents, _ = await team_with_agents(session, 1)
    clock = SteppedClock(utcnow())
    row = await session.get_one(Agent, agents[0].id)
    row.status, row.status_changed_at = "online", clock.now
    await session.commit()
    scheduler = Scheduler(sessionmaker, kinds=[StatusLapses(timedelta(minutes=5))], clock=clock)
    clock.now += timedelta(minutes=4)
    assert await scheduler.run_once() == 0
    clock.now += timedelta(minutes=2)
    assert await scheduler.run_once() == 1
    async with sessionmaker() as fresh:
        assert (await fresh.get_one(Agent, agents[0].id)).status == "offline"
