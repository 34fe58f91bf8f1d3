"""GET /api/v1/search and the conversations list's `q=`: found through the index, scoped to what the caller
may see, and a query that cannot be searched is a 422 naming `q` (never a 500)."""

from __future__ import annotations

import pytest

from tests.hub.web.conftest import Client, Person, error_of, hand_in


async def test_an_order_number_finds_the_message_its_conversation_and_nothing_of_another_team(
    client: Client, admin: Person, sales: Person, wholesale: Person
) -> None:
    ours = await hand_in(client, "a-1", text="Где заказ A-10234? <script>alert(1)</script>")
    theirs = await hand_in(
        client, "b-1", account="depot", email="opt@example.com", text="Заказ A-10234 оптом"
    )
    for person, conversations in (
        (sales, [ours["conversation_id"]]),
        (wholesale, [theirs["conversation_id"]]),
        (admin, [theirs["conversation_id"], ours["conversation_id"]]),
    ):
        response = await client.get("/api/v1/search?q=A-10234", headers=person.headers)
        assert response.status == 200, await response.text()
        body = await response.json()
        assert [c["id"] for c in body["conversations"]] == conversations, person.email
        assert [m["conversation_id"] for m in body["messages"]] == conversations, person.email
        assert body["next_cursor"] is None
    body = await (await client.get("/api/v1/search?q=10234&kind=message", headers=sales.headers)).json()
    assert body["conversations"] == [] and body["cards"] == []
    assert body["messages"][0]["snippet"] == (
        "Где заказ A-<mark>10234</mark>? &lt;script&gt;alert(1)&lt;/script&gt;"
    )
    listed = await client.get("/api/v1/conversations?q=a-10234", headers=sales.headers)
    assert [c["id"] for c in (await listed.json())["items"]] == [ours["conversation_id"]]
    none = await client.get("/api/v1/conversations?q=оптом", headers=sales.headers)
    assert (await none.json())["items"] == []


async def test_cards_by_phone_in_any_format(client: Client, sales: Person) -> None:
    found = await hand_in(client, "p-1", email=None, phone="+79139097332", name="Мария")
    for q in ("8 (913) 909-73-32", "+7 913 909 73 32", "Марию"):
        response = await client.get("/api/v1/search", params={"q": q, "kind": "card"}, headers=sales.headers)
        body = await response.json()
        assert [c["id"] for c in body["cards"]] == [found["contact_id"]], q
        assert body["cards"][0]["identities"] == [{"kind": "phone", "value": "+79139097332"}]


async def test_pages_continue_with_next_cursor(client: Client, sales: Person) -> None:
    for i in range(3):
        await hand_in(client, f"r-{i}", email=f"c{i}@example.com", text=f"возврат {i}")
    first = await (
        await client.get("/api/v1/search?q=возврат&kind=message&limit=2", headers=sales.headers)
    ).json()
    assert len(first["messages"]) == 2 and first["next_cursor"]
    second = await client.get(
        "/api/v1/search",
        params={"q": "возврат", "kind": "message", "limit": "2", "cursor": first["next_cursor"]},
        headers=sales.headers,
    )
    rest = await second.json()
    assert len(rest["messages"]) == 1 and rest["next_cursor"] is None
    ids = [m["id"] for m in first["messages"] + rest["messages"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3


@pytest.mark.parametrize(
    ("url", "field", "status"),
    [
        ("/api/v1/search", "q", 400),  # missing: the request's shape is wrong
        ("/api/v1/search?q=", "q", 422),
        ("/api/v1/search?q=%20%20", "q", 422),
        ("/api/v1/search?q=" + "x" * 201, "q", 422),
        ("/api/v1/search?q=%22*%28%29", "q", 422),
        ("/api/v1/search?q=a%01b", "q", 422),
        ("/api/v1/search?q=a&cursor=message.x", "cursor", 422),
        ("/api/v1/search?q=a&kind=task", "kind", 400),
        ("/api/v1/search?q=a&limit=51", "limit", 400),
        ("/api/v1/conversations?q=%22%22", "q", 422),
        ("/api/v1/conversations?q=" + "я" * 201, "q", 422),
    ],
)
async def test_a_query_that_cannot_be_searched_is_refused_naming_its_field(
    client: Client, sales: Person, url: str, field: str, status: int
) -> None:
    error = await error_of(await client.get(url, headers=sales.headers), status)
    assert error["field"] == field


@pytest.mark.parametrize("q", ['"заказ', "NEAR(a b)", "a OR b AND", "x*", "col:1", "^a", "-заказ", "'; DROP"])
async def test_fts_syntax_in_q_is_searched_as_text(client: Client, sales: Person, q: str) -> None:
    await hand_in(client, "s-1", text="заказ a b x col 1")
    response = await client.get("/api/v1/search", params={"q": q}, headers=sales.headers)
    assert response.status == 200, await response.text()
