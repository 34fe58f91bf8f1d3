"""The agent inbox on the server side: the page and its fragments need a session, show only what the
agent may see, escape every value, keep the chosen language, and load no inline script (CSP)."""

from __future__ import annotations

import re

from hub.runtime import Hub
from tests.hub.web.conftest import Client, Person, hand_in, make_agent
from tests.hub.web.ui.test_pages import log_in


async def test_fragments_need_a_session(client: Client) -> None:
    for path in ("/inbox/parts/list", "/inbox/parts/conversation/1", "/inbox/parts/search?q=x"):
        response = await client.get(path)
        assert response.status == 401 and (await response.json())["error"]["code"] == "unauthorized"
    response = await client.get("/inbox/5?queue=mine", allow_redirects=False)
    assert response.headers["Location"] == "/login?next=/inbox/5%3Fqueue%3Dmine"


async def test_the_list_fragment_counts_queues_and_escapes(client: Client, hub: Hub, sales: Person) -> None:
    await hand_in(client, "s-1", account="shop", name="<b>Ирина</b>", text="<script>alert(1)</script>")
    await hand_in(client, "s-2", account="shop", email="oleg@example.com", name="Олег", text="Второй")
    await hand_in(client, "d-1", account="depot", name="Оптовик", email="opt@example.com")
    await log_in(client, sales.email)
    html = await (await client.get("/inbox/parts/list?queue=all&status=open")).text()
    assert "&lt;b&gt;Ирина&lt;/b&gt;" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html and "Оптовик" not in html
    counts = re.search(r'data-counts="([^"]+)"', html)
    assert counts is not None
    assert counts.group(1).replace("&#34;", '"') == '{"all": 2, "mine": 0, "teams": 2, "unassigned": 2}'
    assert html.count('class="row unread"') == 2
    mine = await (await client.get("/inbox/parts/list?queue=mine")).text()
    assert "data-open" not in mine and "Здесь пусто" in mine


async def test_the_conversation_fragment_shows_the_timeline_card_and_refuses_other_teams(
    client: Client, hub: Hub, sales: Person, wholesale: Person
) -> None:
    shop = await hand_in(client, "s-1", account="shop", text="<img src=x onerror=alert(1)>")
    depot = await hand_in(client, "d-1", account="depot", email="opt@example.com", name="Оптовик")
    await client.post(
        f"/api/v1/conversations/{shop['conversation_id']}/replies",
        json={"text": "Ответ"},
        headers=sales.headers,
    )
    await log_in(client, sales.email)
    html = await (await client.get(f"/inbox/parts/conversation/{shop['conversation_id']}")).text()
    assert '<div data-part="head">' in html and '<div data-part="card">' in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html
    assert re.search(r'class="dlv dlv-(queued|failed)" data-status="\1"', html)  # no callback_url: fails
    assert "client@example.com" in html
    refused = await client.get(f"/inbox/parts/conversation/{depot['conversation_id']}")
    assert refused.status == 403
    page = await client.get(f"/inbox/{depot['conversation_id']}", allow_redirects=False)
    assert page.status == 302 and page.headers["Location"].startswith("/inbox?")


async def test_the_search_fragment_escapes_and_shows_only_what_the_agent_may_see(
    client: Client, hub: Hub, sales: Person, wholesale: Person
) -> None:
    await hand_in(client, "s-1", account="shop", name="<b>Ирина</b>", text="<script>x</script> заказ A-555")
    await hand_in(client, "d-1", account="depot", email="opt@example.com", name="Оптовик", text="заказ A-555")
    await log_in(client, sales.email)
    html = await (await client.get("/inbox/parts/search?q=A-555&contact=1")).text()
    assert "&lt;script&gt;x&lt;/script&gt; заказ <mark>A-555</mark>" in html
    assert "&lt;b&gt;Ирина&lt;/b&gt;" in html and "<script>" not in html and "Оптовик" not in html
    assert 'data-action="merge"' not in html  # an agent merges nothing
    nothing = await (await client.get("/inbox/parts/search?q=%22%22&lang=en")).text()
    assert "Type a word, an order number or a phone number" in nothing


async def test_the_page_loads_only_scripts_of_its_own(client: Client, sales: Person) -> None:
    await log_in(client, sales.email)
    response = await client.get("/inbox")
    html = await response.text()
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    for tag in re.findall(r"<script[^>]*>", html):
        assert 'src="/static/' in tag or 'type="application/json"' in tag, tag
    for asset in re.findall(r'(?:src|href)="(/static/[^"?]+)', html):
        assert (await client.get(asset)).status == 200


async def test_the_language_switch_is_remembered(client: Client, hub: Hub) -> None:
    agent = await make_agent(hub, "emma@okno.example.com", teams=("Sales",))
    await log_in(client, agent.email)
    assert "Open conversations" in await (await client.get("/inbox?lang=en")).text()
    assert "Open conversations" in await (await client.get("/inbox")).text()
    assert "Открытые диалоги" in await (await client.get("/inbox?lang=ru")).text()
    assert (
        "Открытые диалоги"
        in await (await client.get("/inbox", headers={"Accept-Language": "en-US,en;q=0.9"})).text()
    )


async def test_counts_read_in_the_plural_forms_of_the_page_language(
    client: Client, hub: Hub, sales: Person
) -> None:
    first = await hand_in(client, "s-1", account="shop", name="Ирина")
    await hand_in(client, "s-2", account="shop", email="oleg@example.com", name="Олег", text="Раз")
    await hand_in(client, "s-3", account="shop", email="oleg@example.com", name="Олег", text="Два")
    await log_in(client, sales.email)
    russian = await (await client.get("/inbox/parts/list?queue=all&status=open&lang=ru")).text()
    assert '<span class="muted" id="list-total">2 диалога</span>' in russian
    assert 'title="1 сообщение без ответа"' in russian and 'title="2 сообщения без ответа"' in russian
    english = await (await client.get("/inbox/parts/list?queue=all&status=open&lang=en")).text()
    assert '<span class="muted" id="list-total">2 conversations</span>' in english
    assert 'title="1 message awaiting a reply"' in english
    conversation = f"/inbox/parts/conversation/{first['conversation_id']}"
    head = await (await client.get(conversation + "?lang=ru")).text()
    assert ">на 1 час</option>" in head and ">на 4 часа</option>" in head
    head = await (await client.get(conversation + "?lang=en")).text()
    assert ">for 1 hour</option>" in head and ">for 4 hours</option>" in head


async def test_times_follow_the_page_language(client: Client, hub: Hub, sales: Person) -> None:
    shop = await hand_in(client, "s-1", account="shop")
    await log_in(client, sales.email)
    conversation = f"/inbox/parts/conversation/{shop['conversation_id']}"
    russian = await (await client.get(conversation + "?lang=ru")).text()
    english = await (await client.get(conversation + "?lang=en")).text()
    assert '<li class="day"><span>Сегодня</span></li>' in russian
    assert '<li class="day"><span>Today</span></li>' in english
    assert re.search(r"<time title=\"Сегодня, \d{2}:\d{2}\">\d{2}:\d{2}</time>", russian)
    assert re.search(r"<time title=\"Today, \d{1,2}:\d{2}\s[AP]M\">\d{1,2}:\d{2}\s[AP]M</time>", english)
