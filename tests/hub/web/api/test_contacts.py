"""Client cards over the API: search, the card with visible conversations, edits, identities, merging."""

from __future__ import annotations

from sqlalchemy import select

from hub.runtime import Hub
from inbox.models import AuditLog
from tests.hub.web.conftest import Client, Person, error_of, hand_in, login, make_agent


async def test_search_by_name_company_or_identity(client: Client, sales: Person) -> None:
    await hand_in(client, "1", email="irina@example.com", name="Ирина Петрова")
    await hand_in(client, "2", email="oleg@example.com", name="Олег", phone="+7 913 909 73 32")

    async def names(query: str) -> list[str]:
        body = await (await client.get(f"/api/v1/contacts?{query}", headers=sales.headers)).json()
        return [c["name"] for c in body["items"]]

    assert await names("") == ["Олег", "Ирина Петрова"]  # newest first
    assert await names("q=петрова") == ["Ирина Петрова"]
    assert await names("q=oleg@") == ["Олег"]
    assert await names("q=79139097332") == ["Олег"]
    assert await names("limit=1&offset=1") == ["Ирина Петрова"]


async def test_card_lists_only_the_conversations_the_viewer_may_see(
    client: Client, sales: Person, wholesale: Person
) -> None:
    shop = await hand_in(client, "s", account="shop", email="same@example.com")
    depot = await hand_in(client, "d", account="depot", email="same@example.com")
    assert shop["contact_id"] == depot["contact_id"]
    url = f"/api/v1/contacts/{shop['contact_id']}"
    for person, expected in ((sales, shop), (wholesale, depot)):
        card = await (await client.get(url, headers=person.headers)).json()
        assert [c["id"] for c in card["conversations"]] == [expected["conversation_id"]]
        assert card["identities"][0]["value"] == "same@example.com"


async def test_patch_changes_only_given_fields_and_audits(client: Client, hub: Hub, sales: Person) -> None:
    contact_id = (await hand_in(client, "1", name="Ирина"))["contact_id"]
    url = f"/api/v1/contacts/{contact_id}"
    response = await client.patch(
        url,
        json={"company": "ООО Ромашка", "kind": "client", "tags": ["vip", "vip", "опт"]},
        headers=sales.headers,
    )
    assert response.status == 200, await response.text()
    card = await response.json()
    assert (card["name"], card["company"], card["kind"], card["tags"]) == (
        "Ирина",
        "ООО Ромашка",
        "client",
        ["vip", "опт"],
    )
    async with hub.sessionmaker() as session:
        audit = await session.scalar(select(AuditLog).where(AuditLog.action == "contact.update"))
    assert audit is not None and audit.actor_agent_id == sales.id


async def test_patch_refusals_name_the_field(client: Client, sales: Person) -> None:
    url = f"/api/v1/contacts/{(await hand_in(client, '1'))['contact_id']}"
    for body, field, status in (
        ({"kind": "friend"}, "kind", 400),
        ({"kind": None}, "kind", 400),
        ({"tags": [""]}, "tags.0", 400),
        ({"owner_id": 999}, "owner_id", 422),
        ({"name": "x" * 201}, "name", 400),
    ):
        error = await error_of(await client.patch(url, json=body, headers=sales.headers), status)
        assert error["field"] == field, body
    await error_of(await client.patch("/api/v1/contacts/999", json={"name": "x"}, headers=sales.headers), 404)


async def test_adding_a_shared_identity_lists_a_duplicate_and_supervisor_merges(
    client: Client, hub: Hub, sales: Person
) -> None:
    first = await hand_in(client, "1", email="irina@example.com", name="Ирина")
    second = await hand_in(client, "2", email="irina.p@example.com", name=None, phone="+79139097332")
    url = f"/api/v1/contacts/{first['contact_id']}/identities"
    response = await client.post(
        url, json={"kind": "phone", "value": "8 (913) 909-73-32"}, headers=sales.headers
    )
    assert response.status == 201, await response.text()
    assert {(i["kind"], i["value"]) for i in (await response.json())["identities"]} == {
        ("email", "irina@example.com"),
        ("phone", "+79139097332"),
    }
    duplicates = (await (await client.get("/api/v1/contacts/duplicates", headers=sales.headers)).json())[
        "items"
    ]
    assert len(duplicates) == 1
    assert {duplicates[0]["a"]["id"], duplicates[0]["b"]["id"]} == {first["contact_id"], second["contact_id"]}

    merge_url = f"/api/v1/contacts/{first['contact_id']}/merge"
    await error_of(
        await client.post(merge_url, json={"merge_id": second["contact_id"]}, headers=sales.headers), 403
    )
    boss = await make_agent(hub, "boss@okno.example.com", role="supervisor", teams=("Sales",))
    response = await client.post(merge_url, json={"merge_id": second["contact_id"]}, headers=boss.headers)
    assert response.status == 200, await response.text()
    merged = await response.json()
    assert merged["id"] == first["contact_id"]
    assert {i["value"] for i in merged["identities"]} == {
        "irina@example.com",
        "irina.p@example.com",
        "+79139097332",
    }
    card = await (await client.get(f"/api/v1/contacts/{first['contact_id']}", headers=boss.headers)).json()
    assert sorted(c["id"] for c in card["conversations"]) == sorted(
        {first["conversation_id"], second["conversation_id"]}
    )
    assert (await (await client.get("/api/v1/contacts/duplicates", headers=boss.headers)).json())[
        "items"
    ] == []


async def test_merge_refusals(client: Client, hub: Hub) -> None:
    boss = await make_agent(hub, "boss@okno.example.com", role="supervisor", teams=("Sales",))
    contact_id = (await hand_in(client, "1"))["contact_id"]
    url = f"/api/v1/contacts/{contact_id}/merge"
    assert (await error_of(await client.post(url, json={"merge_id": 999}, headers=boss.headers), 422))[
        "field"
    ] == "merge_id"
    same = await error_of(await client.post(url, json={"merge_id": contact_id}, headers=boss.headers), 422)
    assert same["field"] == "merge_id"
    assert (await error_of(await client.post(url, json={}, headers=boss.headers), 400))["field"] == "merge_id"


async def test_invalid_identity_is_422_naming_value(client: Client, sales: Person) -> None:
    url = f"/api/v1/contacts/{(await hand_in(client, '1'))['contact_id']}/identities"
    error = await error_of(
        await client.post(url, json={"kind": "phone", "value": "12"}, headers=sales.headers), 422
    )
    assert error["field"] == "value"
    error = await error_of(
        await client.post(url, json={"kind": "fax", "value": "12"}, headers=sales.headers), 400
    )
    assert error["field"] == "kind"


async def test_dismissing_a_duplicate_with_a_browser_session(client: Client, hub: Hub) -> None:
    await hand_in(client, "1", email="a@example.com", phone="+79139097332", name="A")
    await hand_in(client, "2", email="b@example.com", name="B")
    boss = await make_agent(hub, "boss@okno.example.com", role="supervisor", teams=("Sales",))
    second_id = (await (await client.get("/api/v1/contacts?q=b@", headers=boss.headers)).json())["items"][0][
        "id"
    ]
    url = f"/api/v1/contacts/{second_id}/identities"
    await client.post(url, json={"kind": "phone", "value": "+79139097332"}, headers=boss.headers)
    [pair] = (await (await client.get("/api/v1/contacts/duplicates", headers=boss.headers)).json())["items"]

    csrf = await login(client, boss.email)
    dismiss = f"/api/v1/contacts/duplicates/{pair['id']}/dismiss"
    await error_of(await client.post(dismiss), 403)  # no CSRF header
    assert (await client.post(dismiss, headers={"X-CSRF-Token": csrf})).status == 204
    assert (await (await client.get("/api/v1/contacts/duplicates")).json())["items"] == []
    await error_of(
        await client.post("/api/v1/contacts/duplicates/999/dismiss", headers={"X-CSRF-Token": csrf}), 404
    )
