"""Visitor input → items: identities from the pre-chat form, external ids that make a resend a duplicate,
the options of an account, and `okno ingest webchat FILE.json`."""

from __future__ import annotations

import json

import pytest

from channels.base import AccountContext, PayloadError, file_parser
from channels.webchat import profile, visitor_message, widget_options
from channels.webchat.parse import client_id, client_id_of, message_text
from inbox.items import IdentityRef, InboundMessage

VISITOR = "V" * 24


def test_a_message_carries_the_vouched_visitor_and_the_typed_pre_chat_identities() -> None:
    person = profile({"name": " Ирина ", "email": "Irina@Example.COM", "phone": "8 (913) 909-73-32"})
    item = visitor_message(
        account_id=3, visitor_id=VISITOR, client_message_id="m1", text="Привет", person=person
    )
    assert item.external_id == f"{VISITOR}:m1"
    assert item.sender.name == "Ирина"
    assert item.sender.identities == (
        IdentityRef("webchat", VISITOR, "vouched"),
        IdentityRef("email", "irina@example.com", "typed"),
        IdentityRef("phone", "+79139097332", "typed"),
    )
    assert client_id_of(item.external_id, VISITOR) == "m1"
    assert client_id_of(item.external_id, "W" * 24) is None


def test_the_same_client_id_is_the_same_external_id() -> None:
    one = visitor_message(account_id=1, visitor_id=VISITOR, client_message_id="abc", text="a")
    again = visitor_message(account_id=1, visitor_id=VISITOR, client_message_id="abc", text="a")
    assert one.external_id == again.external_id


@pytest.mark.parametrize(
    ("raw", "field"),
    [({"email": "not-an-email"}, "email"), ({"phone": "12"}, "phone"), ({"name": 5}, "name"), ("x", None)],
)
def test_wrong_form_fields_are_named(raw: object, field: str | None) -> None:
    with pytest.raises(PayloadError) as caught:
        profile(raw)
    assert caught.value.field == field


def test_message_text_and_client_id_limits() -> None:
    assert message_text("<img src=x onerror=alert(1)>", 100) == "<img src=x onerror=alert(1)>"
    for bad in ("", "   ", None, "x" * 101, "a\x00b"):
        with pytest.raises(PayloadError):
            message_text(bad, 100)
    for bad_id in ("", "a:b", "x" * 65, 7, None, "../1"):
        with pytest.raises(PayloadError):
            client_id(bad_id)


def test_account_options_are_checked_and_defaulted() -> None:
    options = widget_options({"color": "#abc", "language": "en"})
    assert options.public()["title"] is None and options.language == "en"  # the hub's default, translated
    assert options.origin_allowed("https://anything.example")
    limited = widget_options({"allowed_origins": ["https://shop.example/"]})
    assert limited.origin_allowed("https://shop.example") and not limited.origin_allowed(
        "https://evil.example"
    )
    assert not limited.origin_allowed(None)
    for bad in (
        {"color": "red"},
        {"language": "de"},
        {"hours": "never"},
        {"prechat": "yes"},
        {"max_message_chars": 0},
    ):
        with pytest.raises(PayloadError) as caught:
            widget_options(bad)
        assert caught.value.field == next(iter(bad))


def test_ingest_file_yields_items_and_named_errors() -> None:
    parse_file = file_parser("webchat")
    account = AccountContext(id=4, name="site", kind="webchat")
    data = json.dumps(
        [
            {
                "visitor_id": VISITOR,
                "id": "1",
                "text": "Здравствуйте",
                "email": "a@example.com",
                "sent_at": "2026-01-31T12:00:00+03:00",
            },
            {"visitor_id": "short", "id": "2", "text": "x"},
            {"visitor_id": VISITOR, "id": "3", "text": "x", "sent_at": "2026-01-31T12:00:00"},
        ],
        ensure_ascii=False,
    ).encode()
    first, second, third = list(parse_file(data, "chats.json", account=account, region="RU"))
    assert isinstance(first, InboundMessage)
    assert first.account_id == 4 and first.external_id == f"{VISITOR}:1"
    assert first.sent_at is not None and first.sent_at.utcoffset() is not None and first.sent_at.hour == 9
    assert isinstance(second, PayloadError) and second.field == "visitor_id" and "item 1" in str(second)
    assert isinstance(third, PayloadError) and third.field == "sent_at"
    (broken,) = list(parse_file(b"{", "x.json", account=account, region="RU"))
    assert isinstance(broken, PayloadError) and "not valid JSON" in str(broken)
