"""The tasks page on the server side: it needs a session, lists only the tasks the agent may see (the
API's rules), escapes every value, and counts each tab."""

from __future__ import annotations

import re

from hub.runtime import Hub
from tests.hub.web.conftest import Client, Person, hand_in
from tests.hub.web.ui.test_pages import log_in


async def test_the_page_and_its_list_need_a_session(client: Client) -> None:
    response = await client.get("/tasks/parts/list?view=team")
    assert response.status == 401 and (await response.json())["error"]["code"] == "unauthorized"
    response = await client.get("/tasks?view=done", allow_redirects=False)
    assert response.headers["Location"] == "/login?next=/tasks%3Fview%3Ddone"


async def test_the_list_shows_what_the_agent_may_see_escaped_with_counts(
    client: Client, hub: Hub, admin: Person, sales: Person
) -> None:
    shop = await hand_in(client, "s-1", account="shop", name="Ирина")
    depot = await hand_in(client, "d-1", account="depot", name="Оптовик", email="opt@example.com")
    for body in (
        {"title": "<b>Счёт</b>", "assignee_id": sales.id, "contact_id": shop["contact_id"]},
        {"title": "Wholesale secret", "contact_id": depot["contact_id"], "due_at": "2020-01-01T00:00:00Z"},
    ):
        assert (await client.post("/api/v1/tasks", json=body, headers=admin.headers)).status == 201
    await log_in(client, sales.email)
    html = await (await client.get("/tasks/parts/list?view=mine")).text()
    assert "&lt;b&gt;Счёт&lt;/b&gt;" in html and "<b>" not in html
    assert f'href="/inbox/{shop["conversation_id"]}">Ирина</a>' in html
    assert "Wholesale secret" not in html and "Оптовик" not in html
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', html))
    assert counts == {"mine": "1", "team": "1", "overdue": "0", "done": "0"}
    overdue = await (await client.get("/tasks/parts/list?view=overdue")).text()
    assert "Wholesale secret" not in overdue
    page = await (await client.get("/tasks?view=nonsense&lang=en")).text()
    assert 'data-view="mine" aria-current="page"' in page and "<script>" not in page.split("okno-data")[0]
