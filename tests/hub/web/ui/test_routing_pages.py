"""The routing pages: admins edit, reorder and delete the rules (an error names the rule's index and key
and keeps what was typed); the board shows a supervisor their teams' agents, loads and queues, and saves
a team's routing; agents see neither, and a forged form changes nothing."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from hub.runtime import Hub
from inbox.models import Conversation, Message, Outbox, Team
from tests.hub.web.conftest import Client, Person, hand_in, login, make_agent
from tests.waiting import eventually

RULES = [
    {"name": "refunds", "team": "Sales", "priority": 3, "when": {"keywords": ["refund"]}},
    {"name": "vip at night", "team": "Wholesale", "auto_reply": "en.out-of-hours", "when": {"vip": True}},
]


async def stored_names(client: Client, admin: Person) -> list[str]:
    rules = (await (await client.get("/api/v1/routing/rules", headers=admin.headers)).json())["rules"]
    return [r["name"] for r in rules]


async def test_admins_edit_reorder_and_delete_rules_and_an_error_names_the_rule_and_key(
    client: Client, hub: Hub, admin: Person
) -> None:
    csrf = await login(client, admin.email)
    inbox = await (await client.get("/inbox?lang=en")).text()
    assert 'href="/admin/routing"' in inbox and 'href="/routing/board"' in inbox
    page = await client.get("/admin/routing?lang=en")
    assert page.status == 200 and "No rules yet." in await page.text()

    save = {"csrf_token": csrf, "action": "save", "rules": json.dumps(RULES)}
    done = await client.post("/admin/routing", data=save, allow_redirects=False)
    assert (done.status, done.headers["Location"]) == (303, "/admin/routing?saved=1")
    assert await stored_names(client, admin) == ["refunds", "vip at night"]
    listed = await (await client.get("/admin/routing?saved=1&lang=en")).text()
    assert "The rules are saved." in listed and "<code>vip = true</code>" in listed
    assert '"auto_reply": "en.out-of-hours"' in listed.replace("&#34;", '"')

    typo = [RULES[0], {**RULES[1], "auto_reply": "en.out-of-hour"}, {"name": "<b>x</b>"}]
    refused = await client.post("/admin/routing", data={**save, "rules": json.dumps(typo)})
    html = await refused.text()
    assert refused.status == 422 and "rules[1].auto_reply" in html and "en.out-of-hour" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html  # what was typed, escaped
    broken = await client.post("/admin/routing", data={**save, "rules": '[{"name": "a",}]'})
    assert broken.status == 422 and "Not valid JSON: line 1, column 15" in await broken.text()
    assert await stored_names(client, admin) == ["refunds", "vip at night"]

    move = {"csrf_token": csrf, "action": "down", "index": "0"}
    assert (await client.post("/admin/routing", data=move, allow_redirects=False)).status == 303
    assert await stored_names(client, admin) == ["vip at night", "refunds"]
    forged = await client.post("/admin/routing", data={**move, "csrf_token": "forged"}, allow_redirects=False)
    assert forged.status == 302  # to the log-in page; nothing moved
    delete = {"csrf_token": csrf, "action": "delete", "index": "1"}
    assert (await client.post("/admin/routing", data=delete, allow_redirects=False)).status == 303
    assert await stored_names(client, admin) == ["vip at night"]
    russian = await (await client.get("/admin/routing?lang=ru")).text()
    assert "Правила распределения" in russian


async def test_the_board_shows_a_supervisor_their_teams_and_saves_a_teams_routing(
    client: Client, hub: Hub, sales: Person, wholesale: Person
) -> None:
    chief = await make_agent(hub, "chief@okno.example.com", role="supervisor", teams=("Sales",))
    waiting = await hand_in(client, "b-1", account="shop")
    await hand_in(client, "b-2", account="depot", email="other@example.com")

    async def queued() -> bool:
        async with hub.sessionmaker() as session:
            conv = await session.get_one(Conversation, waiting["conversation_id"], populate_existing=True)
            return conv.queued_at is not None

    await eventually(queued, "the router queued the dialog (nobody is online)")
    await login(client, sales.email)
    assert 'href="/routing/board"' not in await (await client.get("/inbox")).text()
    assert (await client.get("/routing/board")).status == 403
    assert (await client.get("/admin/routing")).status == 403

    csrf = await login(client, chief.email)
    html = await (await client.get("/routing/board?lang=en")).text()
    assert f'<tr data-agent="{sales.id}">' in html and f'data-agent="{wholesale.id}"' not in html
    assert f'<tr data-conversation="{waiting["conversation_id"]}">' in html and "Sales · 1 waiting" in html
    assert "Wholesale" not in html
    assert "No tab open" in html and "0 / 10" in html
    live = await (await client.get("/routing/board?part=live&lang=en")).text()
    assert "<html" not in live and f'data-conversation="{waiting["conversation_id"]}"' in live
    assert "Очереди" in await (await client.get("/routing/board?lang=ru")).text()

    async with hub.sessionmaker() as session:
        teams = {t.name: t.id for t in await session.scalars(select(Team))}
    url = f"/routing/board/teams/{teams['Sales']}"
    form = {
        "csrf_token": csrf,
        "strategy": "least_busy",
        "agent_capacity": "4",
        "answer_timeout_minutes": "15",
    }
    refused = await client.post(url, data={**form, "strategy": "lottery"})
    assert refused.status == 422 and re.search(r'role="alert">strategy must be one of', await refused.text())
    done = await client.post(url, data=form, allow_redirects=False)
    assert done.status == 303
    async with hub.sessionmaker() as session:
        team = await session.get_one(Team, teams["Sales"])
        assert (team.strategy, team.agent_capacity, team.answer_timeout_seconds) == ("least_busy", 4, 900)
    assert "Распределение команды сохранено." in await (await client.get(done.headers["Location"])).text()
    other = await client.post(f"/routing/board/teams/{teams['Wholesale']}", data=form)
    assert other.status == 403


async def test_a_rules_auto_reply_goes_out_through_the_running_hub_and_is_tagged_on_the_timeline(
    client: Client, hub: Hub, admin: Person
) -> None:
    rules = [
        {"name": "night", "team": "Sales", "auto_reply": "en.out-of-hours", "when": {"keywords": ["night"]}}
    ]
    response = await client.put("/api/v1/routing/rules", json={"rules": rules}, headers=admin.headers)
    assert response.status == 200, await response.text()
    answered = await hand_in(client, "n-1", text="Are you there at night?")
    other = await hand_in(client, "n-2", email="day@example.com", text="Where is my order?")

    async def ruled() -> bool:
        async with hub.sessionmaker() as session:
            rows = await session.scalars(select(Conversation.rules_applied_at))
            return all(at is not None for at in rows)

    await eventually(ruled, "the router applied the rules to both dialogs")
    async with hub.sessionmaker() as session:
        (sent,) = await session.scalars(select(Message).where(Message.kind == "auto_reply"))
        outbox = await session.scalar(select(Outbox).where(Outbox.message_id == sent.id))
    assert sent.conversation_id == answered["conversation_id"] != other["conversation_id"]
    assert sent.body_text.startswith("Hello! We are outside our working hours right now.")
    assert sent.agent_id is None
    assert outbox is not None  # the outbox worker delivers it like any reply
    await login(client, admin.email)
    part = await (await client.get(f"/inbox/parts/conversation/{sent.conversation_id}?lang=en")).text()
    assert '<span class="note-tag">Auto-reply</span>' in part
