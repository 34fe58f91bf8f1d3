"""Leads and their owners: a new lead's card gets as owner the agent who first answers it, and when the
client writes again their owner is told — even while someone else has the dialog — and nobody else."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.conversations import Viewer
from inbox.ingest import stage_batch
from inbox.models import Agent, Contact, Conversation
from inbox.policy import InboxPolicy
from inbox.replies import add_reply
from inbox.visibility import may_see_event
from tests.inbox.helpers import message
from tests.inbox.routing.setup import team_with_agents


async def test_the_first_agent_to_answer_owns_the_lead_and_hears_when_the_client_returns(
    session: AsyncSession,
) -> None:
    team, (owner, other), account = await team_with_agents(session, 2)
    results, events = await stage_batch(
        session, [message(account.id, "m1", ("email", "lead@example.com"))], InboxPolicy()
    )
    await session.commit()
    first = results[0]
    assert not isinstance(first, Exception)
    assert not [e for e in events if e.type == "client.returned"]  # a new lead has no owner to tell
    conv = await session.get_one(Conversation, first.conversation_id)
    await add_reply(
        session, conv, await session.get_one(Agent, owner.id), "Добрый день!", policy=InboxPolicy()
    )
    conv.status, conv.assignee_id = "resolved", None
    await session.commit()
    assert (await session.get_one(Contact, first.contact_id)).owner_id == owner.id

    results, events = await stage_batch(
        session, [message(account.id, "m2", ("email", "lead@example.com"))], InboxPolicy()
    )
    await session.commit()
    again = await session.get_one(Conversation, results[0].conversation_id)  # type: ignore[union-attr]
    again.assignee_id = other.id  # someone else handles the dialog this time
    await session.commit()
    results, events = await stage_batch(
        session, [message(account.id, "m3", ("email", "lead@example.com"), text="Ещё вопрос")], InboxPolicy()
    )
    await session.commit()
    (told,) = [e for e in events if e.type == "client.returned"]
    assert told.data["owner_id"] == owner.id and told.data["preview"] == "Ещё вопрос"
    assert may_see_event(Viewer(owner.id, "agent", frozenset({team.id})), told)
    assert not may_see_event(Viewer(other.id, "agent", frozenset({team.id})), told)
