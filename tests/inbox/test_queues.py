"""The queues' channel filter offers the kinds of the accounts there are, each once; each queue's count is
what its list holds; a list's rows get their places in their team's line."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, insert, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.conversations import STATUSES, Viewer, can_see
from inbox.models import (
    Agent,
    ChannelAccount,
    Contact,
    Conversation,
    ConversationCount,
    ConversationRead,
    Message,
    Team,
    utcnow,
)
from inbox.names import agent_names, contact_names
from inbox.queues import (
    QueueRow,
    channel_kinds,
    latest_messages,
    list_queue,
    queue_counts,
    queue_page,
    queue_places,
    queues_for,
    unanswered,
)
from inbox.reads import unread_counts
from inbox.routing.router import queue_positions
from tests.inbox.routing.setup import dialogs, route, team_with_agents


async def test_channel_filter_offers_each_configured_kind_once(session: AsyncSession) -> None:
    assert await channel_kinds(session) == []
    session.add_all(
        [
            ChannelAccount(name="mail", kind="email"),
            ChannelAccount(name="site", kind="webchat"),
            ChannelAccount(name="support", kind="email"),
        ]
    )
    await session.commit()
    assert await channel_kinds(session) == ["email", "webchat"]


async def test_each_queue_counts_what_its_list_holds(session: AsyncSession) -> None:
    """All the queues are counted in one statement: each count is the length of that queue's list, for an
    admin and a team agent, under a status and a channel filter."""
    team, agents, account = await team_with_agents(session, 2)
    other = ChannelAccount(name="site", kind="webchat")
    session.add(other)
    await session.flush()
    ids = await dialogs(session, account, 0, 6) + await dialogs(session, other, 6, 2)
    convs = [await session.get_one(Conversation, c) for c in ids]
    convs[0].assignee_id = convs[1].assignee_id = convs[6].assignee_id = agents[0].id
    convs[2].assignee_id = agents[1].id
    convs[3].team_id = convs[7].team_id = team.id
    convs[4].status = "pending"
    await session.commit()
    admin = Viewer(agent_id=agents[1].id, role="admin", team_ids=frozenset())
    agent = Viewer(agent_id=agents[0].id, role="agent", team_ids=frozenset({team.id}))
    seen = set()
    for viewer in (admin, agent):
        for status, channel in (("open", None), ("pending", None), (None, None), ("open", "webchat")):
            counts = await queue_counts(session, viewer, status=status, channel=channel)
            lists = {
                q: len(await list_queue(session, viewer, q, status=status, channel=channel))
                for q in queues_for(viewer)
            }
            assert counts == lists, (viewer.role, status, channel)
            seen.add(tuple(counts.values()))
    assert len(seen) > 4  # the cases differ


async def test_queue_places_of_listed_rows_match_the_whole_line(session: AsyncSession) -> None:
    """The inbox page asks only for its rows' places: the same places and waits as the whole line gives,
    a higher priority ahead, and nothing for a row that is not waiting."""
    team, _agents, account = await team_with_agents(session, 1, capacity=2)
    now = utcnow()
    waiting: list[int] = []
    for n in range(5):
        waiting += await dialogs(session, account, n, 1)
        now += timedelta(seconds=10)
        await route(session, team.id, now)  # nobody online: each joins the queue in turn
        await session.commit()
    (await session.get_one(Conversation, waiting[3])).priority = 1
    gone = await session.get_one(Conversation, waiting[4])
    gone.status = "resolved"
    await session.commit()
    whole = {p["conversation_id"]: p for p in await queue_positions(session, {team.id}, now)}
    assert [whole[c]["position"] for c in waiting[:4]] == [2, 3, 4, 1]
    listed = [waiting[1], waiting[3], waiting[4]]
    assert await queue_places(session, {team.id}, listed, now) == {c: whole[c] for c in listed[:2]}
    assert await queue_places(session, None, listed, now) == {c: whole[c] for c in listed[:2]}
    assert await queue_places(session, {team.id + 1}, listed, now) == {}
    assert await queue_places(session, {team.id}, [], now) == {}


async def test_queue_places_counted_per_row_equal_numbering_the_whole_lines(session: AsyncSession) -> None:
    """A row's place is its line's length (the roll-up's open unassigned dialogs of its team, less those the
    rules have not seen) less the dialogs behind it: the same places as numbering the lines, with
    priorities, dialogs that entered the line at the same instant (then by id), dialogs not yet past the
    rules, assigned or closed ones and several teams."""
    rng = random.Random(19)
    teams = [Team(name=f"L{i}") for i in range(3)]
    agent = Agent(email="l@example.com", name="L", password_hash="x")
    account = ChannelAccount(name="acc", kind="api")
    contact = Contact(name="client")
    session.add_all([*teams, agent, account, contact])
    await session.commit()
    now = utcnow()
    instants = [now - timedelta(minutes=m) for m in range(6)]  # few: many ties
    rows = [
        {
            "contact_id": contact.id,
            "account_id": account.id,
            "channel_kind": "api",
            "status": rng.choice(["open", "open", "open", "pending"]),
            "team_id": rng.choice([None, *(t.id for t in teams)]),
            "assignee_id": rng.choice([None, None, None, agent.id]),
            "priority": rng.choice([0, 0, 1, 2]),
            "created_at": rng.choice(instants),
            "queued_at": rng.choice([None, *instants]),
            "rules_applied_at": rng.choice([None, now, now, now]),
        }
        for _ in range(150)
    ]
    await session.execute(insert(Conversation), rows)
    await session.commit()
    whole = {p["conversation_id"]: p for p in await queue_positions(session, None, now)}
    assert len(whole) > 30 and len({p["priority"] for p in whole.values()}) == 3
    ids = list(await session.scalars(select(Conversation.id)))
    for _ in range(5):
        listed = rng.sample(ids, 60)
        assert await queue_places(session, None, listed, now) == {c: whole[c] for c in listed if c in whole}
        some = {teams[0].id, teams[2].id}
        assert await queue_places(session, some, listed, now) == {
            c: whole[c] for c in listed if c in whole and whole[c]["team_id"] in some
        }


async def _rows_asked_apart(
    session: AsyncSession, viewer: Viewer, queue: str, status: str | None, limit: int = 100
) -> list[QueueRow]:
    """A page's rows as the inbox read them before queue_page: the list, then each thing a row shows (a
    card without a name: None there, "" from contact_names; the page shows a stand-in for either)."""
    convs = await list_queue(session, viewer, queue, status=status, channel=None, limit=limit)  # type: ignore[arg-type]
    ids = [c.id for c in convs]
    latest = await latest_messages(session, ids)
    waiting = await unanswered(session, ids)
    unread = await unread_counts(session, viewer.agent_id, ids)
    people = await contact_names(session, (c.contact_id for c in convs))
    agents = await agent_names(
        session, [c.assignee_id for c in convs] + [m.agent_id for m in latest.values()]
    )
    rows = []
    for c in convs:
        last = latest.get(c.id)
        author = last.agent_id if last is not None else None
        rows.append(
            QueueRow(
                *(c.id, c.contact_id, c.channel_kind, c.status, c.subject, c.assignee_id, c.team_id),
                *(c.last_message_at, c.created_at, c.rules_applied_at, people.get(c.contact_id) or None),
                waiting.get(c.id, 0),
                unread.get(c.id, 0),
                agents.get(c.assignee_id) if c.assignee_id is not None else None,
                last.id if last is not None else None,
                last.direction if last is not None else None,
                author,
                last.body_text if last is not None else None,
                author in agents,
                agents.get(author) if author is not None else None,
            )
        )
    return rows


async def test_a_queue_page_in_one_statement_holds_what_the_rows_asked_apart_held(
    session: AsyncSession,
) -> None:
    """queue_page gives each row its card's name, latest message, unanswered and unread counts and agents'
    names in one statement: the same as the statements asked one by one, in the same order — for replies by
    the viewer and by a colleague, notes and service events after the latest client message, a dialog with
    no message, read markers of the viewer and of someone else, a nameless card."""
    team, agents, account = await team_with_agents(session, 2)
    me, colleague = agents
    ids = await dialogs(session, account, 0, 7)
    convs = [await session.get_one(Conversation, c) for c in ids]
    start = utcnow()

    def add(
        conv: Conversation, direction: str, n: int, *, agent: int | None = None, kind: str = "message"
    ) -> None:
        session.add(
            Message(
                conversation_id=conv.id,
                account_id=account.id,
                direction=direction,
                kind=kind,
                agent_id=agent,
                contact_id=conv.contact_id if direction == "in" else None,
                body_text=f"{direction} {n}\nline",
                created_at=start + timedelta(seconds=n),
            )
        )

    add(convs[0], "out", 1, agent=me.id)  # the viewer's reply last: "You:"
    add(convs[1], "out", 2, agent=colleague.id)  # a colleague's reply last
    add(convs[1], "note", 3, agent=me.id)  # a note after it is not the latest shown
    add(convs[2], "out", 4, agent=colleague.id)
    add(convs[2], "in", 5)
    add(convs[2], "in", 6)  # two awaiting a reply
    add(convs[3], "in", 7, kind="handover")  # a service event is not the latest message either
    add(convs[4], "out", 8)  # a reply by no agent (an auto-reply)
    await session.flush()
    last_in = await session.scalar(select(func.max(Message.id)).where(Message.conversation_id == convs[2].id))
    session.add_all(
        [
            ConversationRead(agent_id=me.id, conversation_id=convs[2].id, last_read_message_id=last_in - 1),
            ConversationRead(agent_id=colleague.id, conversation_id=convs[0].id, last_read_message_id=10**9),
        ]
    )
    convs[0].assignee_id = me.id
    convs[1].assignee_id = convs[2].assignee_id = colleague.id
    convs[5].team_id = team.id
    convs[5].subject = "Заказ A-1"
    convs[6].status = "pending"
    (await session.get_one(Contact, convs[3].contact_id)).name = None
    for n, conv in enumerate(convs):
        conv.last_message_at = start + timedelta(minutes=n % 3)  # ties: by id
    await session.commit()
    # a dialog with no message at all
    bare = Conversation(
        contact_id=convs[0].contact_id, account_id=account.id, channel_kind="api", status="open"
    )
    bare.subject = "Без сообщений"
    session.add(bare)
    await session.commit()

    admin = Viewer(agent_id=me.id, role="admin", team_ids=frozenset())
    agent = Viewer(agent_id=me.id, role="agent", team_ids=frozenset({team.id}))
    # A supervisor's parts overlap (their own dialog in their team): listed once. The page reads each part
    # the viewer sees apart and keeps the latest of them; a short page takes the latest across the parts.
    supervisor = Viewer(agent_id=me.id, role="supervisor", team_ids=frozenset({team.id}))
    convs[0].team_id = convs[2].team_id = team.id
    await session.commit()
    shapes = set()
    for viewer in (admin, agent, supervisor):
        for queue in queues_for(viewer):
            for status in ("open", None):
                for limit in (100, 2):
                    page = await queue_page(session, viewer, queue, status=status, channel=None, limit=limit)
                    assert page == await _rows_asked_apart(session, viewer, queue, status, limit), (
                        viewer,
                        queue,
                        status,
                        limit,
                    )
                    assert len({r.id for r in page}) == len(page)
                    shapes |= {(r.last_direction, r.waiting, r.unread, r.last_author_found) for r in page}
    assert len(shapes) >= 5  # the cases differ


async def test_queue_counts_from_the_roll_up_equal_counting_the_conversations(session: AsyncSession) -> None:
    """The counters add up conversation_counts, which triggers keep: after random inserts (one and many a
    statement), updates of status, channel, team and assignee (one row and many), deletes, and an agent's
    and a team's removal (the foreign keys set NULL), every viewer's every queue under every status and
    channel filter is what counting the conversations themselves gives."""
    rng = random.Random(17)
    teams = [Team(name=f"T{i}") for i in range(3)]
    agents = [Agent(email=f"c{i}@example.com", name=f"C{i}", password_hash="x") for i in range(6)]
    for i, agent in enumerate(agents):
        agent.teams = [teams[i % 3]] if i < 5 else [teams[0], teams[1]]
    accounts = [ChannelAccount(name=f"acc-{kind}", kind=kind) for kind in ("email", "telegram", "webchat")]
    contact = Contact(name="client")
    session.add_all([*teams, *agents, *accounts, contact])
    await session.commit()
    team_ids = [t.id for t in teams]
    agent_ids = [a.id for a in agents]

    def fields() -> dict[str, Any]:
        account = rng.choice(accounts)
        return {
            "account_id": account.id,
            "channel_kind": account.kind,
            "status": rng.choice(STATUSES),
            "team_id": rng.choice([None, *team_ids]),
            "assignee_id": rng.choice([None, None, *agent_ids]),
        }

    async def check() -> None:
        rows = (
            await session.execute(
                select(
                    Conversation.team_id,
                    Conversation.assignee_id,
                    Conversation.status,
                    Conversation.channel_kind,
                )
            )
        ).all()
        viewers = [
            Viewer(agent_id=agent_ids[0], role="admin", team_ids=frozenset()),
            Viewer(agent_id=agent_ids[1], role="supervisor", team_ids=frozenset({team_ids[1]})),
            Viewer(agent_id=agent_ids[5], role="agent", team_ids=frozenset(team_ids[:2])),
            Viewer(agent_id=agent_ids[4], role="agent", team_ids=frozenset()),
        ]
        for viewer in viewers:
            for status in (None, *STATUSES):
                for channel in (None, "email", "telegram", "webchat", "vk"):
                    chosen = [
                        (team, assignee)
                        for team, assignee, s, kind in rows
                        if can_see(viewer, team, assignee) and status in (None, s) and channel in (None, kind)
                    ]
                    expected = {
                        "mine": sum(1 for _t, a in chosen if a == viewer.agent_id),
                        "unassigned": sum(1 for _t, a in chosen if a is None),
                        "teams": sum(1 for t, _a in chosen if t in viewer.team_ids),
                        "all": len(chosen),
                    }
                    counts = await queue_counts(session, viewer, status=status, channel=channel)
                    assert counts == {q: expected[q] for q in queues_for(viewer)}, (viewer, status, channel)

    for _round in range(4):
        session.add(Conversation(contact_id=contact.id, **fields()))  # one row, through the ORM
        await session.execute(
            insert(Conversation), [{"contact_id": contact.id, **fields()} for _ in range(30)]
        )
        await session.commit()
        ids = list(await session.scalars(select(Conversation.id)))
        for conv_id in rng.sample(ids, 10):  # one row at a time: some columns, some unchanged
            change = {k: v for k, v in fields().items() if rng.random() < 0.5 and k != "account_id"} or {
                "subject": "y"
            }
            await session.execute(update(Conversation).where(Conversation.id == conv_id).values(**change))
        await session.execute(
            update(Conversation)
            .where(Conversation.id.in_(rng.sample(ids, 12)))
            .values(status=rng.choice(STATUSES), assignee_id=rng.choice([None, *agent_ids]))
        )
        await session.execute(
            update(Conversation).where(Conversation.id.in_(rng.sample(ids, 5))).values(subject="x")
        )
        await session.execute(delete(Conversation).where(Conversation.id.in_(rng.sample(ids, 6))))
        await session.commit()
        await check()
    await session.execute(delete(Agent).where(Agent.id == agent_ids[2]))
    await session.execute(delete(Team).where(Team.id == team_ids[2]))
    await session.commit()
    await check()
    rolled = await session.execute(
        select(
            ConversationCount.status,
            ConversationCount.channel_kind,
            ConversationCount.team_id,
            ConversationCount.assignee_id,
            ConversationCount.n,
        )
    )
    counted = await session.execute(
        select(
            Conversation.status,
            Conversation.channel_kind,
            func.coalesce(Conversation.team_id, literal_column("0")),
            func.coalesce(Conversation.assignee_id, literal_column("0")),
            func.count(),
        ).group_by(
            Conversation.status,
            Conversation.channel_kind,
            func.coalesce(Conversation.team_id, literal_column("0")),
            func.coalesce(Conversation.assignee_id, literal_column("0")),
        )
    )
    assert sorted(tuple(r) for r in rolled) == sorted(tuple(r) for r in counted)


async def test_a_kept_page_statement_lists_each_viewers_own_rows_in_one_process(
    session: AsyncSession,
) -> None:
    """The page's statement is built once per viewer and view and kept, its values written into its text:
    two agents asking in turn, again and again, each see their own "mine" (never the other's kept
    statement), and a channel kind with a quote in it is a value, not SQL."""
    team, agents, account = await team_with_agents(session, 2)
    first, second = agents
    quoted = ChannelAccount(name="odd", kind="o'kind")
    session.add(quoted)
    await session.flush()
    ids = await dialogs(session, account, 0, 4)
    convs = [await session.get_one(Conversation, c) for c in ids]
    convs[0].assignee_id = convs[1].assignee_id = first.id
    convs[2].assignee_id = second.id
    convs[3].account_id, convs[3].channel_kind = quoted.id, "o'kind"
    await session.commit()
    viewers = {
        first.id: Viewer(agent_id=first.id, role="agent", team_ids=frozenset({team.id})),
        second.id: Viewer(agent_id=second.id, role="agent", team_ids=frozenset({team.id})),
    }
    for _ in range(3):
        for agent_id, viewer in viewers.items():
            page = await queue_page(session, viewer, "mine", status=None, channel=None)
            assert [r.id for r in page] == sorted(
                (c.id for c in convs if c.assignee_id == agent_id), reverse=True
            ), agent_id
            assert {r.assignee_id for r in page} == {agent_id}
    admin = Viewer(agent_id=first.id, role="admin", team_ids=frozenset())
    odd = await queue_page(session, admin, "all", status=None, channel="o'kind")
    assert [r.id for r in odd] == [convs[3].id]
