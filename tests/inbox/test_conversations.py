"""Who sees which conversation, filters, assignment and status changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.agents import agent_with_teams, create_agent, viewer_of
from inbox.conversations import (
    ConversationError,
    ConversationFilter,
    ConversationNotFound,
    NotAllowed,
    Viewer,
    assign,
    can_see,
    get_visible_conversation,
    list_conversations,
    set_status,
)
from inbox.ingest import ingest
from inbox.models import ChannelAccount, Conversation, ReportingEvent, Team, utcnow
from inbox.policy import InboxPolicy
from tests.inbox.helpers import message


async def world(session: AsyncSession) -> dict[str, int]:
    """Two teams with an account each, an agent in each, a supervisor of Sales, an admin; one dialog each."""
    ids: dict[str, int] = {}
    for team_name in ("Support", "Sales"):
        team = Team(name=team_name)
        session.add(team)
        await session.flush()
        account = ChannelAccount(name=team_name.lower(), kind="api", team_id=team.id)
        session.add(account)
        await session.flush()
        result = await ingest(session, message(account.id, "1", ("email", f"client@{team_name.lower()}.ru")))
        ids[f"conv_{team_name}"] = result.conversation_id
        ids[f"team_{team_name}"] = team.id
    for key, role, team_name in (
        ("support_agent", "agent", "Support"),
        ("sales_agent", "agent", "Sales"),
        ("sales_lead", "supervisor", "Sales"),
        ("admin", "admin", None),
    ):
        agent = await create_agent(
            session,
            email=f"{key}@okno.ru",
            name=key,
            password="long-password",
            role=role,
            team_names=[team_name] if team_name else [],
        )
        ids[key] = agent.id
    await session.commit()
    return ids


async def viewer(session: AsyncSession, agent_id: int) -> Viewer:
    agent = await agent_with_teams(session, agent_id)
    assert agent is not None
    return viewer_of(agent)


async def visible_ids(session: AsyncSession, agent_id: int) -> set[int]:
    convs = await list_conversations(session, await viewer(session, agent_id), ConversationFilter())
    return {c.id for c in convs}


async def test_agents_see_their_teams_unassigned_dialogs_only(session: AsyncSession) -> None:
    ids = await world(session)
    assert await visible_ids(session, ids["support_agent"]) == {ids["conv_Support"]}
    assert await visible_ids(session, ids["sales_agent"]) == {ids["conv_Sales"]}
    assert await visible_ids(session, ids["admin"]) == {ids["conv_Support"], ids["conv_Sales"]}


async def test_assigned_dialog_leaves_the_other_agents_queue(session: AsyncSession) -> None:
    ids = await world(session)
    colleague = await create_agent(
        session, email="second@okno.ru", name="Second", password="long-password", team_names=["Sales"]
    )
    conv = await session.get_one(Conversation, ids["conv_Sales"])
    events = await assign(
        session, conv, assignee_id=colleague.id, team_id=conv.team_id, actor_id=ids["sales_lead"]
    )
    await session.commit()
    assert await visible_ids(session, ids["sales_agent"]) == set()
    assert await visible_ids(session, colleague.id) == {conv.id}
    assert await visible_ids(session, ids["sales_lead"]) == {conv.id}  # a supervisor sees the whole team
    # both the new owner and the old audience hear of it
    audiences = {(e.team_id, e.assignee_id) for e in events}
    assert (conv.team_id, colleague.id) in audiences and (conv.team_id, None) in audiences


def test_can_see_matches_the_query_rule() -> None:
    agent = Viewer(1, "agent", frozenset({10}))
    assert can_see(agent, 10, None)
    assert can_see(agent, 99, 1)
    assert not can_see(agent, 10, 2)
    assert not can_see(agent, 11, None)
    assert can_see(agent, None, None)  # the shared queue of team-less accounts
    assert can_see(Viewer(2, "supervisor", frozenset({10})), 10, 3)
    assert can_see(Viewer(3, "admin", frozenset()), 11, 4)


async def test_filters(session: AsyncSession) -> None:
    ids = await world(session)
    admin = await viewer(session, ids["admin"])
    sales = await list_conversations(session, admin, ConversationFilter(team_id=ids["team_Sales"]))
    assert [c.id for c in sales] == [ids["conv_Sales"]]
    assert await list_conversations(session, admin, ConversationFilter(status="resolved")) == []
    assert (
        len(await list_conversations(session, admin, ConversationFilter(unassigned=True, channel="api"))) == 2
    )
    with pytest.raises(ConversationError) as err:
        await list_conversations(session, admin, ConversationFilter(status="closed"))
    assert err.value.field == "status"


async def test_resolve_records_resolution_time_and_snooze_needs_a_future_time(session: AsyncSession) -> None:
    ids = await world(session)
    conv = await session.get_one(Conversation, ids["conv_Support"])
    policy = InboxPolicy()
    with pytest.raises(ConversationError, match="snoozed_until"):
        await set_status(session, conv, "snoozed", actor_id=None, policy=policy)
    with pytest.raises(ConversationError, match="future"):
        await set_status(
            session,
            conv,
            "snoozed",
            actor_id=None,
            policy=policy,
            snoozed_until=utcnow() - timedelta(hours=1),
        )
    await set_status(session, conv, "resolved", actor_id=ids["admin"], policy=policy)
    await session.commit()
    assert conv.status == "resolved" and conv.resolved_at is not None
    event = await session.scalar(select(ReportingEvent).where(ReportingEvent.name == "resolution"))
    assert event is not None and event.conversation_id == conv.id


async def test_a_conversation_of_another_queue_is_not_allowed_and_a_missing_one_not_found(
    session: AsyncSession,
) -> None:
    ids = await world(session)
    support = await viewer(session, ids["support_agent"])
    assert (await get_visible_conversation(session, support, ids["conv_Support"])).id == ids["conv_Support"]
    with pytest.raises(NotAllowed):
        await get_visible_conversation(session, support, ids["conv_Sales"])
    with pytest.raises(ConversationNotFound):
        await get_visible_conversation(session, support, 999_999)
