"""Client cards over the API: search, the card with visible conversations, edits, identities, merging."""

from __future__ import annotations

import json

from sqlalchemy import select

from hub.runtime import Hub
from hub.web.api.schemas.contacts import ContactList
from inbox import contacts
from inbox.models import AuditLog, Contact
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


async def test_the_list_answers_what_the_card_model_answers(client: Client, hub: Hub, sales: Person) -> None:
    """The list is written straight from the search's rows (ContactList.plain): the same JSON, keys in the
    same order, as the card model validated from the ORM card — full fields, NULL tags and custom fields,
    several identities."""
    full = (await hand_in(client, "1", email="irina@example.com", phone="+7 913 909 73 32"))["contact_id"]
    response = await client.patch(
        f"/api/v1/contacts/{full}",
        json={
            "company": "ООО Ромашка",
            "kind": "client",
            "tags": ["vip"],
            "custom_fields": {"inn": 77, "x": 1.5},
        },
        headers=sales.headers,
    )
    assert response.status == 200, await response.text()
    bare = (await hand_in(client, "2", email="oleg@example.com", name=None))["contact_id"]
    async with hub.sessionmaker() as session:
        card = await session.get_one(Contact, bare)
        card.tags, card.custom_fields, card.notes = None, None, "звонить после 18:00"  # type: ignore[assignment]
        await session.commit()
    for query in ("", "?q=ромашка", "?limit=1&offset=1"):
        response = await client.get(f"/api/v1/contacts{query}", headers=sales.headers)
        body = await response.text()
        async with hub.sessionmaker() as session:
            ids = [item["id"] for item in json.loads(body)["items"]]
            cards = [await contacts.get_contact(session, i) for i in ids]
            limit, offset = (1, 1) if "limit" in query else (50, 0)
            model = ContactList.model_validate({"items": cards, "limit": limit, "offset": offset})
        assert body == json.dumps(model.model_dump(mode="json", by_alias=True)), query
    assert ids == [full]  # the last query's page: the older card
    listed = await (await client.get("/api/v1/contacts", headers=sales.headers)).json()
    assert [c["id"] for c in listed["items"]] == [bare, full]
    assert [i["value"] for i in listed["items"][1]["identities"]] == ["irina@example.com", "+79139097332"]


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


async def test_an_identity_another_card_holds_is_refused_naming_it_and_a_supervisor_merges(
    client: Client, hub: Hub, sales: Person
) -> None:
    first = await hand_in(client, "1", email="irina@example.com", name="Ирина")
    second = await hand_in(client, "2", email="irina.p@example.com", name=None, phone="+79139097332")
    url = f"/api/v1/contacts/{first['contact_id']}/identities"
    response = await client.post(
        url, json={"kind": "phone", "value": "8 (913) 909-73-32"}, headers=sales.headers
    )
    error = await error_of(response, 409)
    assert (error["code"], error["field"]) == ("identity_taken", "value")
    assert f"#{second['contact_id']}" in error["message"] and "+79139097332" in error["message"]
    card = await (await client.get(f"/api/v1/contacts/{first['contact_id']}", headers=sales.headers)).json()
    assert [i["value"] for i in card["identities"]] == ["irina@example.com"]  # never shared
    assert (await (await client.get("/api/v1/contacts/duplicates", headers=sales.headers)).json())[
        "items"
    ] == []

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


async def test_an_identity_held_by_a_card_out_of_reach_is_refused_without_naming_the_card(
    client: Client, sales: Person
) -> None:
    theirs = await hand_in(client, "d", account="depot", email="max@example.com", phone="+79130000001")
    ours = await hand_in(client, "s", account="shop", email="anna.client@example.com")
    response = await client.post(
        f"/api/v1/contacts/{ours['contact_id']}/identities",
        json={"kind": "phone", "value": "+7 913 000-00-01"},
        headers=sales.headers,
    )
    error = await error_of(response, 409)
    assert error["code"] == "identity_taken"
    assert f"#{theirs['contact_id']}" not in error["message"] and "cannot see" in error["message"]


async def test_removing_an_identity_keeps_the_last_one_and_any_history_came_through(
    client: Client, hub: Hub, sales: Person
) -> None:
    card = await hand_in(client, "1", email="irina@example.com", name="Ирина")
    other = await hand_in(client, "2", email="oleg@example.com", name="Олег")
    base = f"/api/v1/contacts/{card['contact_id']}/identities"
    added = await client.post(base, json={"kind": "phone", "value": "8 916 123-45-67"}, headers=sales.headers)
    assert added.status == 201, await added.text()
    ids = {i["value"]: i["id"] for i in (await added.json())["identities"]}

    # The e-mail the client wrote from: its message may have come through it.
    refused = await error_of(
        await client.delete(f"{base}/{ids['irina@example.com']}", headers=sales.headers), 422
    )
    assert refused["field"] == "identity_id" and "1 message" in refused["message"]
    # Another card's identity is not this card's.
    [theirs] = (
        await (await client.get(f"/api/v1/contacts/{other['contact_id']}", headers=sales.headers)).json()
    )["identities"]
    await error_of(await client.delete(f"{base}/{theirs['id']}", headers=sales.headers), 404)

    response = await client.delete(f"{base}/{ids['+79161234567']}", headers=sales.headers)
    assert response.status == 200, await response.text()
    assert [i["value"] for i in (await response.json())["identities"]] == ["irina@example.com"]
    async with hub.sessionmaker() as session:
        audit = await session.scalar(select(AuditLog).where(AuditLog.action == "identity.remove"))
    assert audit is not None and audit.actor_agent_id == sales.id
    assert audit.detail["value"] == "+79161234567"

    last = await error_of(
        await client.delete(f"{base}/{ids['irina@example.com']}", headers=sales.headers), 422
    )
    assert last["field"] == "identity_id" and "last identity" in last["message"]
    await error_of(await client.delete(f"{base}/{ids['+79161234567']}", headers=sales.headers), 404)


async def test_custom_fields_refusals_name_the_field(client: Client, sales: Person) -> None:
    url = f"/api/v1/contacts/{(await hand_in(client, '1'))['contact_id']}"
    for body in (
        {"custom_fields": {" ": "x"}},
        {"custom_fields": {"inn": {"nested": 1}}},
        {"custom_fields": {"inn": "x" * 2001}},
        {"custom_fields": {str(n): n for n in range(51)}},
    ):
        error = await error_of(await client.patch(url, json=body, headers=sales.headers), 400)
        assert error["field"].startswith("custom_fields"), (body, error)  # with the key where one is wrong
    response = await client.patch(
        url, json={"custom_fields": {"ИНН": "7700", "visits": 3, "vip": True}}, headers=sales.headers
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["custom_fields"] == {"ИНН": "7700", "visits": 3, "vip": True}


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
    async with hub.sessionmaker() as session:  # the internal path still lists a shared identity
        card = await contacts.get_contact(session, second_id)
        await contacts.add_identity(session, card, "phone", "+79139097332", region="RU", actor_id=None)
        await session.commit()
    [pair] = (await (await client.get("/api/v1/contacts/duplicates", headers=boss.headers)).json())["items"]

    csrf = await login(client, boss.email)
    dismiss = f"/api/v1/contacts/duplicates/{pair['id']}/dismiss"
    await error_of(await client.post(dismiss), 403)  # no CSRF header
    assert (await client.post(dismiss, headers={"X-CSRF-Token": csrf})).status == 204
    assert (await (await client.get("/api/v1/contacts/duplicates")).json())["items"] == []
    await error_of(
        await client.post("/api/v1/contacts/duplicates/999/dismiss", headers={"X-CSRF-Token": csrf}), 404
    )
