"""The generic API channel's parser: good bodies become items, bad ones name their field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from channels.api import parse
from channels.base import PayloadError


def body(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "external_id": "order-17",
        "sender": {
            "name": "Ольга",
            "email": "Olga@Mail.RU",
            "phone": "8 913 909 73 32",
            "external_id": "u-9",
        },
        "text": "Где мой заказ?",
        "sent_at": "2026-11-20T10:00:00+03:00",
    }
    data.update(changes)
    return data


def test_good_body_becomes_an_item_with_normalized_identities() -> None:
    item = parse(body(), account_id=3, account_name="shop")
    assert item.account_id == 3 and item.external_id == "order-17"
    assert [(r.kind, r.value) for r in item.sender.identities] == [
        ("email", "olga@mail.ru"),
        ("phone", "+79139097332"),
        ("external", "shop:u-9"),
    ]
    assert item.sender.name == "Ольга"
    assert item.sent_at is not None and item.sent_at.utcoffset() is not None
    assert item.sent_at.hour == 7  # stored in UTC


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        ([], None, "expected a JSON object"),
        (body(text=""), "text", "at least 1 character"),
        (body(sender={"name": "x"}), "sender", "at least one of email, phone, external_id"),
        (body(sender={"email": "not-an-email"}), "sender.email", "@"),
        (body(sender={"phone": "12"}), "sender.phone", "not a valid phone number"),
        (body(sent_at="2026-11-20T10:00:00"), "sent_at", "timezone"),
        (body(extra=1), "extra", "Extra inputs"),
        ({"sender": {"email": "a@b.ru"}, "text": "x"}, "external_id", "Field required"),
        (body(sender={"external_id": "a/b"}), "sender.external_id", "pattern"),
    ],
)
def test_bad_body_names_the_field(payload: Any, field: str | None, reason: str) -> None:
    with pytest.raises(PayloadError) as err:
        parse(payload, account_id=1, account_name="shop")
    assert err.value.field == field
    assert reason in err.value.reason


def test_a_file_may_hold_one_object_or_an_array_and_bad_items_are_yielded() -> None:
    from channels.api import parse_file
    from channels.base import AccountContext

    account = AccountContext(id=1, name="shop", kind="api")
    data = json.dumps([body(), body(text="")]).encode()
    out = list(parse_file(data, "x.json", account=account))
    assert not isinstance(out[0], PayloadError)
    assert isinstance(out[1], PayloadError) and out[1].reason.startswith("item 1:")
    (broken,) = parse_file(b"{nope", "y.json", account=account)
    assert isinstance(broken, PayloadError) and "not valid JSON" in str(broken)
