"""/api/v1/quarantine for admins: the list by account, the raw download, a retry through today's parser
(audited), and each account's count and last received item in /api/v1/channels."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from hub.runtime import Hub
from inbox.items import Refused
from inbox.models import AuditLog, Message
from tests.hub.web.api.test_openapi import Checked
from tests.hub.web.conftest import Client, Person, error_of, hand_in

LATER_GOOD = {"external_id": "late-1", "sender": {"email": "olga@example.com"}, "text": "Пришло позже"}


async def refuse(hub: Hub, account: str, raw: bytes, reason: str, position: str) -> int:
    """A refusal handed to the hub's sink, as a connector hands it."""
    result: Any = await hub.sink(Refused(hub.accounts[account].context.id, raw, reason, position))
    quarantine_id: int = result.quarantine_id
    return quarantine_id


async def test_admins_list_an_accounts_items_and_download_their_bytes(
    client: Client, hub: Hub, admin: Person, sales: Person
) -> None:
    call = Checked(client)
    shop = await refuse(hub, "shop", b"\xff\xfe not json", "not valid JSON", "message 1")
    depot = await refuse(hub, "depot", b"{}", "sender: Field required", "message 2")
    listed = await call("GET", "/api/v1/quarantine", headers=admin.headers, status=200)
    assert [i["id"] for i in listed["items"]] == [depot, shop]
    only = await call(
        "GET",
        f"/api/v1/quarantine?account={hub.accounts['shop'].context.id}",
        headers=admin.headers,
        status=200,
    )
    (item,) = only["items"]
    assert (item["reason"], item["position"], item["size"], item["attempts"]) == (
        "not valid JSON",
        "message 1",
        11,
        0,
    )

    raw = await client.get(f"/api/v1/quarantine/{shop}/raw", headers=admin.headers)
    assert raw.status == 200 and await raw.read() == b"\xff\xfe not json"
    assert raw.content_type == "application/octet-stream"
    assert raw.headers["Content-Disposition"] == f'attachment; filename="quarantine-{shop}-api.bin"'
    assert await error_of(await client.get("/api/v1/quarantine/999/raw", headers=admin.headers), 404)
    for url in ("/api/v1/quarantine", f"/api/v1/quarantine/{shop}/raw"):
        assert (await error_of(await client.get(url, headers=sales.headers), 403))["code"] == "forbidden"


async def test_channels_show_each_accounts_quarantine_count_and_last_item(
    client: Client, hub: Hub, sales: Person
) -> None:
    await refuse(hub, "shop", b"one", "not valid JSON", "message 1")
    await refuse(hub, "shop", b"two", "not valid JSON", "message 2")
    await refuse(hub, "shop", b"two", "not valid JSON", "message 2")  # the same item read again: once
    await hand_in(client, "m-1", account="depot")
    answer = await Checked(client)("GET", "/api/v1/channels", headers=sales.headers, status=200)
    items = {i["name"]: i for i in answer["items"]}
    assert (items["shop"]["quarantined"], items["depot"]["quarantined"]) == (2, 0)
    assert items["shop"]["last_received_at"] is None and items["depot"]["last_received_at"] is not None


async def test_a_retry_ingests_what_parses_now_keeps_what_does_not_and_is_audited(
    client: Client, hub: Hub, admin: Person, sales: Person
) -> None:
    call = Checked(client)
    fixed = await refuse(hub, "shop", json.dumps(LATER_GOOD).encode(), "refused by an old rule", "message 7")
    broken = await refuse(hub, "shop", b"{not json", "not valid JSON", "message 8")
    forbidden = await client.post("/api/v1/quarantine/retry", json={"all": True}, headers=sales.headers)
    assert (await error_of(forbidden, 403))["code"] == "forbidden"
    await call("POST", "/api/v1/quarantine/retry", body={}, headers=admin.headers, status=422)

    answer = await call(
        "POST", "/api/v1/quarantine/retry", body={"ids": [fixed, broken]}, headers=admin.headers, status=200
    )
    outcomes = {o["id"]: o for o in answer["items"]}
    assert outcomes[fixed]["status"] == "ingested" and outcomes[fixed]["results"][0]["duplicate"] is False
    assert outcomes[broken]["status"] == "refused" and "not valid JSON" in outcomes[broken]["reason"]
    left = await call("GET", "/api/v1/quarantine", headers=admin.headers, status=200)
    assert [(i["id"], i["attempts"]) for i in left["items"]] == [(broken, 1)]
    async with hub.sessionmaker() as session:
        assert list(await session.scalars(select(Message.body_text))) == ["Пришло позже"]
        audited = list(await session.scalars(select(AuditLog).where(AuditLog.action == "quarantine.retry")))
    assert {(a.entity_id, a.actor_agent_id, a.detail["status"]) for a in audited} == {
        (fixed, admin.id, "ingested"),
        (broken, admin.id, "refused"),
    }
