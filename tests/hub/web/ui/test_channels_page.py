"""/admin/channels for admins: every account with its state, last error, last item and quarantine count;
each account's quarantine with reasons (escaped), raw downloads and a retry button (CSRF-checked)."""

from __future__ import annotations

import json
import re
from typing import Any

from hub.runtime import Hub
from inbox.items import Refused
from tests.hub.web.conftest import Client, Person, hand_in, login, make_agent

LATER_GOOD = {"external_id": "late-1", "sender": {"email": "olga@example.com"}, "text": "Пришло позже"}


async def refuse(hub: Hub, account: str, raw: bytes, reason: str, position: str) -> int:
    result: Any = await hub.sink(Refused(hub.accounts[account].context.id, raw, reason, position))
    quarantine_id: int = result.quarantine_id
    return quarantine_id


def row_of(html: str, account: str) -> str:
    found = re.search(rf'<tr data-account="{account}".*?</tr>', html, re.S)
    assert found is not None, html
    return found.group(0)


async def test_admins_see_every_account_with_its_state_last_item_and_quarantine_count(
    client: Client, hub: Hub, admin: Person
) -> None:
    await refuse(hub, "shop", b"<script>", "not valid JSON <b>", "message 1")
    await hand_in(client, "m-1", account="depot")
    await login(client, admin.email)
    assert 'href="/admin/channels"' in await (await client.get("/inbox")).text()
    page = await client.get("/admin/channels?lang=en")
    assert page.status == 200
    html = await page.text()
    for header in ("Account", "Kind", "State", "Last error", "Last received", "Quarantined"):
        assert f'<th scope="col">{header}</th>' in html
    shop, depot = row_of(html, "shop"), row_of(html, "depot")
    shop_id = hub.accounts["shop"].context.id
    assert f'<a href="/admin/channels/{shop_id}/quarantine">1</a>' in shop and "nothing yet" in shop
    assert ">0</a>" in depot and "<time datetime=" in depot
    russian = await (await client.get("/admin/channels?lang=ru")).text()
    assert "Каналы" in russian and "В карантине" in russian


async def test_an_accounts_quarantine_lists_reasons_escaped_and_its_retry_button_takes_what_parses_now(
    client: Client, hub: Hub, admin: Person
) -> None:
    fixed = await refuse(hub, "shop", json.dumps(LATER_GOOD).encode(), "refused by an old rule", "message 7")
    broken = await refuse(hub, "shop", b"{not json", "not valid JSON <b>", "message 8")
    shop_id = hub.accounts["shop"].context.id
    csrf = await login(client, admin.email)
    html = await (await client.get(f"/admin/channels/{shop_id}/quarantine?lang=en")).text()
    assert "not valid JSON &lt;b&gt;" in html and "<b>" not in html
    assert f'href="/api/v1/quarantine/{broken}/raw"' in html and f'data-id="{fixed}"' in html
    assert f'name="csrf_token" value="{csrf}"' in html

    url = f"/admin/channels/{shop_id}/quarantine/retry"
    forged = await client.post(url, data={"csrf_token": "forged"}, allow_redirects=False)
    assert forged.status == 302  # no valid session for a forged form: to the log-in page, nothing retried
    done = await client.post(url, data={"csrf_token": csrf}, allow_redirects=False)
    assert done.status == 303
    assert done.headers["Location"] == f"/admin/channels/{shop_id}/quarantine?retried=2&left=1"
    after = await (await client.get(done.headers["Location"] + "&lang=en")).text()
    assert "Retried: 2, still in the quarantine: 1." in after
    assert f'data-id="{broken}"' in after and f'data-id="{fixed}"' not in after


async def test_the_channels_pages_are_refused_to_agents(client: Client, hub: Hub) -> None:
    assert (await client.get("/admin/channels", allow_redirects=False)).status == 302
    agent = await make_agent(hub, "anna@okno.example.com")
    await login(client, agent.email)
    assert 'href="/admin/channels"' not in await (await client.get("/inbox")).text()
    assert (await client.get("/admin/channels")).status == 403
    shop_id = hub.accounts["shop"].context.id
    assert (await client.get(f"/admin/channels/{shop_id}/quarantine")).status == 403


async def test_the_test_connection_button_shows_what_the_test_found_in_the_accounts_row(
    client: Client, hub: Hub, admin: Person
) -> None:
    shop_id = hub.accounts["shop"].context.id
    csrf = await login(client, admin.email)
    html = await (await client.get("/admin/channels?lang=en")).text()
    shop = row_of(html, "shop")
    assert f'action="/admin/channels/{shop_id}/test"' in shop and ">Test connection</button>" in shop
    assert 'role="status"' not in html  # no result before a test

    url = f"/admin/channels/{shop_id}/test"
    forged = await client.post(url, data={"csrf_token": "forged"}, allow_redirects=False)
    assert forged.status == 302  # no valid session for a forged form: to the log-in page, nothing tested
    done = await client.post(url, data={"csrf_token": csrf})
    assert done.status == 200
    after = await done.text()
    tested = row_of(after, "shop")
    assert 'class="test-result ok" role="status"' in tested and "Connection works" in tested
    assert "nothing to connect to: systems post to /api/v1/channels/shop/messages" in tested
    assert 'role="status"' not in row_of(after, "depot")
    assert (await client.post("/admin/channels/999/test", data={"csrf_token": csrf})).status == 404
    audit = await (await client.get("/admin/audit?lang=ru")).text()
    assert "Проверено подключение канала" in audit
