"""The task service: who gets a new task, what it may be about, hand-overs, due times, closing, the audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.agents import agent_with_teams, create_agent, viewer_of
from inbox.conversations import NotAllowed, Viewer
from inbox.ingest import ingest
from inbox.models import AuditLog, Call, ChannelAccount, Identity, Team, utcnow
from inbox.tasks import (
    NewTask,
    TaskChange,
    TaskError,
    TaskFilter,
    TaskNotFound,
    assign_task,
    assignable_agents,
    close_task,
    create_task,
    list_tasks,
    my_open_tasks,
    set_due,
    task_details,
    update_task,
    view_counts,
    view_filter,
)
from tests.inbox.helpers import message

HASH = "not-a-real-hash"  # these agents never log in: no argon2 in the tests


async def world(session: AsyncSession) -> dict[str, int]:
    """Support and Sales, an account and a dialog each, two Support agents, a Sales agent, an admin."""
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
        ids[f"contact_{team_name}"] = result.contact_id
        ids[f"team_{team_name}"] = team.id
    for key, role, team_name in (
        ("anna", "agent", "Support"),
        ("boris", "agent", "Support"),
        ("sales", "agent", "Sales"),
        ("admin", "admin", None),
    ):
        agent = await create_agent(
            session,
            email=f"{key}@okno.ru",
            name=key,
            password="long-password",
            password_hash=HASH,
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


async def audit_actions(session: AsyncSession, task_id: int) -> list[str]:
    rows = await session.scalars(
        select(AuditLog.action)
        .where(AuditLog.entity == "task", AuditLog.entity_id == task_id)
        .order_by(AuditLog.id)
    )
    return list(rows)


async def test_task_with_no_assignee_goes_to_its_creator_and_is_announced_and_audited(
    session: AsyncSession,
) -> None:
    ids = await world(session)
    task, events = await create_task(
        session, await viewer(session, ids["anna"]), NewTask(title="  Call back  ")
    )
    await session.commit()
    assert (task.assignee_id, task.team_id, task.title, task.status) == (
        ids["anna"],
        None,
        "Call back",
        "open",
    )
    assert [(e.type, e.assignee_id, e.data["task_id"]) for e in events] == [
        ("task.created", ids["anna"], task.id)
    ]
    assert await audit_actions(session, task.id) == ["task.create"]


async def test_task_about_a_conversation_is_about_its_client_too(session: AsyncSession) -> None:
    ids = await world(session)
    new = NewTask(title="Send the invoice", conversation_id=ids["conv_Support"])
    task, _ = await create_task(session, await viewer(session, ids["anna"]), new)
    assert task.contact_id == ids["contact_Support"]


async def test_conversation_of_another_queue_is_not_allowed_and_a_hidden_card_is_not_found(
    session: AsyncSession,
) -> None:
    ids = await world(session)
    anna = await viewer(session, ids["anna"])
    with pytest.raises(NotAllowed):
        await create_task(session, anna, NewTask(title="x", conversation_id=ids["conv_Sales"]))
    with pytest.raises(TaskError) as refused:
        await create_task(session, anna, NewTask(title="x", contact_id=ids["contact_Sales"]))
    assert refused.value.field == "contact_id"
    assert str(refused.value) == f"contact {ids['contact_Sales']} not found"


async def test_plain_agent_hands_tasks_only_within_their_teams(session: AsyncSession) -> None:
    ids = await world(session)
    anna = await viewer(session, ids["anna"])
    task, _ = await create_task(session, anna, NewTask(title="for Boris", assignee_id=ids["boris"]))
    assert task.assignee_id == ids["boris"]
    with pytest.raises(NotAllowed, match="not in your teams"):
        await create_task(session, anna, NewTask(title="for Sales", assignee_id=ids["sales"]))
    with pytest.raises(NotAllowed, match="not one of your teams"):
        await create_task(session, anna, NewTask(title="for Sales", team_id=ids["team_Sales"]))
    admin = await viewer(session, ids["admin"])
    task, _ = await create_task(session, admin, NewTask(title="for Sales", assignee_id=ids["sales"]))
    assert task.assignee_id == ids["sales"]


async def test_refusals_name_the_field(session: AsyncSession) -> None:
    ids = await world(session)
    admin = await viewer(session, ids["admin"])
    for new, field in (
        (NewTask(title="   "), "title"),
        (NewTask(title="x", kind="meeting"), "kind"),
        (NewTask(title="x", assignee_id=999_999), "assignee_id"),
        (NewTask(title="x", team_id=999_999), "team_id"),
        (NewTask(title="x", conversation_id=999_999), "conversation_id"),
    ):
        with pytest.raises(TaskError) as refused:
            await create_task(session, admin, new)
        assert refused.value.field == field
    task, _ = await create_task(session, admin, NewTask(title="x"))
    for change, field in (
        (TaskChange(title=None), "title"),
        (TaskChange(status=None), "status"),
        (TaskChange(status="maybe"), "status"),
        (TaskChange(result="r" * 20_001), "result"),
    ):
        with pytest.raises(TaskError) as refused:
            await update_task(session, admin, task.id, change)
        assert refused.value.field == field


async def test_done_with_a_result_closes_the_task_and_reopening_clears_closed_at(
    session: AsyncSession,
) -> None:
    ids = await world(session)
    anna = await viewer(session, ids["anna"])
    task, _ = await create_task(session, anna, NewTask(title="Call back"))
    task, events = await close_task(session, anna, task.id, result="client will pay on Monday")
    await session.commit()
    assert (task.status, task.result) == ("done", "client will pay on Monday")
    assert task.closed_at is not None
    assert events[0].type == "task.updated" and events[0].data["status"] == "done"
    task, _ = await update_task(session, anna, task.id, TaskChange(status="open"))
    assert task.status == "open" and task.closed_at is None
    assert await audit_actions(session, task.id) == ["task.create", "task.update", "task.update"]


async def test_handing_a_task_over_tells_the_old_assignee_and_the_new(session: AsyncSession) -> None:
    ids = await world(session)
    anna = await viewer(session, ids["anna"])
    task, _ = await create_task(session, anna, NewTask(title="Call back"))
    task, events = await assign_task(session, anna, task.id, assignee_id=ids["boris"], team_id=None)
    await session.commit()
    assert {e.assignee_id for e in events} == {ids["anna"], ids["boris"]}
    detail = await session.scalar(
        select(AuditLog.detail).where(AuditLog.action == "task.update", AuditLog.entity_id == task.id)
    )
    assert detail == {
        "assignee_id": ids["boris"],
        "team_id": None,
        "before": {"assignee_id": ids["anna"], "team_id": None},
    }


async def test_task_the_viewer_may_not_see_is_not_found(session: AsyncSession) -> None:
    ids = await world(session)
    sales_task, _ = await create_task(session, await viewer(session, ids["sales"]), NewTask(title="mine"))
    await session.commit()
    with pytest.raises(TaskNotFound):
        await close_task(session, await viewer(session, ids["anna"]), sales_task.id)
    with pytest.raises(TaskNotFound):
        await set_due(session, await viewer(session, ids["anna"]), 999_999, None)


async def test_list_is_what_the_viewer_may_see_soonest_due_first(session: AsyncSession) -> None:
    ids = await world(session)
    anna = await viewer(session, ids["anna"])
    later, _ = await create_task(session, anna, NewTask(title="later"))
    sooner, _ = await create_task(session, anna, NewTask(title="sooner"))
    undated, _ = await create_task(session, anna, NewTask(title="whenever"))
    await set_due(session, anna, later.id, utcnow() + timedelta(days=2))
    await set_due(session, anna, sooner.id, utcnow() + timedelta(hours=1))
    await create_task(session, await viewer(session, ids["sales"]), NewTask(title="not Anna's"))
    await session.commit()
    assert [t.title for t in await list_tasks(session, anna)] == ["sooner", "later", "whenever"]
    await close_task(session, anna, undated.id)
    open_ones = await list_tasks(session, anna, TaskFilter(status="open", assignee_id=ids["anna"]))
    assert [t.title for t in open_ones] == ["sooner", "later"]


async def test_tabs_mine_my_teams_overdue_and_done_hold_what_the_viewer_may_see(
    session: AsyncSession,
) -> None:
    ids = await world(session)
    anna, boris = await viewer(session, ids["anna"]), await viewer(session, ids["boris"])
    sales = await viewer(session, ids["sales"])
    now = utcnow()
    late, _ = await create_task(session, anna, NewTask(title="late", due_at=now - timedelta(hours=1)))
    await create_task(session, anna, NewTask(title="soon", due_at=now + timedelta(hours=1)))
    await create_task(session, boris, NewTask(title="Boris's", contact_id=ids["contact_Support"]))
    await create_task(session, boris, NewTask(title="Boris's own, about nothing"))  # his alone to see
    await create_task(session, boris, NewTask(title="the team's", team_id=ids["team_Support"]))
    finished, _ = await create_task(session, anna, NewTask(title="finished"))
    await close_task(session, anna, finished.id, result="ok")
    await create_task(session, sales, NewTask(title="Sales late", due_at=now - timedelta(hours=2)))
    await session.commit()

    async def titles(view: str, who: Viewer = anna) -> list[str]:
        flt = view_filter(who, view, now)  # type: ignore[arg-type]
        return [t.title for t in await list_tasks(session, who, flt, now=now)]

    assert await titles("mine") == ["late", "soon"]
    assert await titles("team") == ["late", "soon", "the team's", "Boris's"]
    assert await titles("overdue") == ["late"]  # Sales' overdue task is not Anna's to see
    assert await titles("done") == ["finished"]
    assert await view_counts(session, anna, now) == {"mine": 2, "team": 4, "overdue": 1, "done": 1}
    assert await titles("team", sales) == ["Sales late"]
    admin = await viewer(session, ids["admin"])
    assert await titles("overdue", admin) == ["Sales late", "late"]
    assert await view_counts(session, admin, now) == {"mine": 0, "team": 0, "overdue": 2, "done": 1}
    with pytest.raises(TaskError) as refused:
        view_filter(anna, "someday", now)  # type: ignore[arg-type]
    assert refused.value.field == "view"
    assert late.id in {t.id for t in await list_tasks(session, anna, TaskFilter(due_before=now))}


async def test_overdue_open_tasks_come_first_then_by_due_time_then_newest(session: AsyncSession) -> None:
    ids = await world(session)
    anna = await viewer(session, ids["anna"])
    now = utcnow()
    await create_task(session, anna, NewTask(title="older, undated"))
    await create_task(session, anna, NewTask(title="newer, undated"))
    await create_task(session, anna, NewTask(title="tomorrow", due_at=now + timedelta(days=1)))
    closed, _ = await create_task(session, anna, NewTask(title="closed", due_at=now - timedelta(days=3)))
    await close_task(session, anna, closed.id)
    await create_task(session, anna, NewTask(title="overdue", due_at=now - timedelta(days=1)))
    await session.commit()
    assert [t.title for t in await list_tasks(session, anna, now=now)] == [
        "overdue",
        "tomorrow",
        "newer, undated",
        "older, undated",
        "closed",  # past due, but done: after the open ones
    ]


async def test_assignable_agents_are_a_plain_agents_teammates_and_anyone_for_an_admin(
    session: AsyncSession,
) -> None:
    ids = await world(session)
    anna = await viewer(session, ids["anna"])
    assert [a.name for a in await assignable_agents(session, anna)] == ["anna", "boris"]
    admin = await viewer(session, ids["admin"])
    assert [a.name for a in await assignable_agents(session, admin)] == ["admin", "anna", "boris", "sales"]


async def test_details_name_the_client_the_callers_number_and_the_conversation_to_open(
    session: AsyncSession,
) -> None:
    ids = await world(session)
    anna = await viewer(session, ids["anna"])
    contact = ids["contact_Support"]
    session.add(Identity(contact_id=contact, kind="phone", value="+79160000001"))
    account = await session.scalar(select(ChannelAccount.id).where(ChannelAccount.name == "support"))
    assert account is not None
    call = Call(
        account_id=account,
        call_id="c-1",
        contact_id=contact,
        direction="inbound",
        from_number="+79160000002",
        disposition="missed",
    )
    session.add(call)
    await session.flush()
    todo, _ = await create_task(session, anna, NewTask(title="todo", contact_id=contact))
    callback, _ = await create_task(session, anna, NewTask(title="call", kind="callback", contact_id=contact))
    callback.call_id = call.id
    await session.commit()
    details = await task_details(session, anna, [todo, callback])
    assert details[todo.id].phone == "+79160000001"
    assert details[callback.id].phone == "+79160000002"  # the number that called
    assert details[todo.id].conversation_id == ids["conv_Support"]  # the client's conversation Anna sees
    assert details[todo.id].assignee_name == "anna"


async def test_my_open_tasks_counts_the_mine_tab_without_visibility_conditions(session: AsyncSession) -> None:
    ids = await world(session)
    anna, boris = await viewer(session, ids["anna"]), await viewer(session, ids["boris"])
    now = utcnow()
    await create_task(session, anna, NewTask(title="late", due_at=now - timedelta(hours=1)))
    await create_task(session, anna, NewTask(title="about a card", contact_id=ids["contact_Support"]))
    finished, _ = await create_task(session, anna, NewTask(title="finished"))
    await close_task(session, anna, finished.id)
    await create_task(session, boris, NewTask(title="Boris's", contact_id=ids["contact_Support"]))
    await create_task(session, boris, NewTask(title="the team's", team_id=ids["team_Support"]))
    await session.commit()
    for key in ("anna", "boris", "sales", "admin"):
        who = await viewer(session, ids[key])
        assert await my_open_tasks(session, who) == (await view_counts(session, who, now))["mine"]
    assert await my_open_tasks(session, anna) == 2
