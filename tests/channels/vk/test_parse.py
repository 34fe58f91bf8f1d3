"""VK events → inbound items: messages with their attachments, replies and forwards, edits, the
community's own replies, permission changes, and a one-line reason for everything else."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from channels.base import AccountContext, PayloadError
from channels.vk import Ignored, parse_event, parse_file
from inbox.items import ConversationMark, IdentityRef, InboundMessage, MessageEdit
from tests.channels.vk.events import (
    DATE,
    MARIA,
    PETR,
    audio_message,
    doc,
    message,
    message_edit,
    message_new,
    permission,
    photo,
    sticker,
    wall,
)

ACCOUNT = 9


def parse_any(event: Any, **kwargs: Any) -> InboundMessage | MessageEdit | ConversationMark:
    return parse_event(event, account_id=ACCOUNT, **kwargs)


def parse(event: Any, **kwargs: Any) -> InboundMessage:
    """A payload that must be a new message."""
    item = parse_any(event, **kwargs)
    assert isinstance(item, InboundMessage), item
    return item


def vk_meta(item: InboundMessage) -> dict[str, Any]:
    value = item.meta["vk"]
    assert isinstance(value, dict)
    return value


def test_new_message_comes_from_the_users_vk_identity() -> None:
    item = parse(message_new("Добрый день, есть доставка?", message_id=1001))
    assert item.external_id == "1001"
    assert item.sender.identities == (IdentityRef("vk", str(MARIA)),)
    assert item.sender.name is None  # names come from users.get in the connector
    assert item.text == "Добрый день, есть доставка?"
    assert item.sent_at == datetime.fromtimestamp(DATE, UTC)
    assert vk_meta(item)["peer_id"] == MARIA and item.kind == "message"


def test_the_message_shape_before_api_5_103_is_read_too() -> None:
    item = parse({"type": "message_new", "object": message("старый формат", message_id=5)})
    assert (item.external_id, item.text) == ("5", "старый формат")


def test_photo_and_document_become_attachments_with_their_urls() -> None:
    item = parse(message_new("", attachments=[photo(), doc()]))
    first, second = item.attachments
    assert (first.filename, first.content_type) == (f"photo{MARIA}_457239017.jpg", "image/jpeg")
    assert (second.filename, second.content_type, second.size) == ("счёт.pdf", "application/pdf", 10)
    files = vk_meta(item)["files"]
    assert files[0]["url"] == "https://sun9-1.userapi.com/impg/x.jpg"  # the largest size
    assert files[1]["url"] == "https://vk.com/doc321_1?hash=1"
    assert item.text == "[Photo]\n[Document: счёт.pdf]"


def test_voice_message_carries_its_transcript_when_vk_has_one() -> None:
    item = parse(message_new("", attachments=[audio_message()]))
    assert item.text == "[Voice message, 0:05] Transcript: Перезвоните мне, пожалуйста"
    (voice,) = item.attachments
    assert voice.content_type == "audio/ogg"
    assert parse(message_new("", attachments=[audio_message(None)])).text == "[Voice message, 0:05]"


def test_sticker_and_wall_post_are_labelled_lines() -> None:
    item = parse(message_new("Смотрите", attachments=[sticker(), wall()]))
    assert item.text == "Смотрите\n[Sticker]\n[Wall post: https://vk.com/wall-229000111_42] Розыгрыш!"
    assert item.attachments == ()


def test_reply_references_the_message_replied_to_and_forwards_are_quoted() -> None:
    replied = message("Ваш заказ готов", message_id=950, from_id=-229000111, peer_id=MARIA)
    forwarded = [message("Это от Петра\nвторая строка", message_id=0, from_id=PETR)]
    item = parse(message_new("Спасибо", reply_message=replied, fwd_messages=forwarded))
    assert item.references == ("950",)
    assert item.meta["reply_to"] == {"external_id": "950", "text": "Ваш заказ готов"}
    assert item.text == f"Спасибо\n[Forwarded message from vk.com/id{PETR}]\n> Это от Петра\n> вторая строка"


def test_location_is_shown_with_coordinates() -> None:
    geo = {"type": "point", "coordinates": {"latitude": 59.9386, "longitude": 30.3141}}
    assert parse(message_new("", geo=geo)).text == "[Location: 59.938600, 30.314100]"


def test_edit_of_a_clients_message_is_its_new_version() -> None:
    item = parse_any(message_edit("Исправлено", message_id=1001))
    assert isinstance(item, MessageEdit)
    assert item.external_id == "1001" and item.message.text == "Исправлено"
    assert item.edited_at == datetime.fromtimestamp(DATE + 60, UTC)


def test_edit_of_the_communitys_own_message_is_ignored() -> None:
    with pytest.raises(Ignored, match="the community sent"):
        parse(message_edit("поправили ответ", out=1, admin_author_id=1, from_id=-229000111, peer_id=MARIA))


def test_community_reply_is_an_outgoing_event_with_the_sent_messages_id() -> None:
    obj = message("Ответ из интерфейса VK", message_id=830, from_id=-229000111, peer_id=MARIA, out=1)
    item = parse({"type": "message_reply", "object": obj})
    assert item.external_id == "830"  # the id messages.send returned, which the outbox stored
    assert item.kind == "event" and item.from_account is True
    assert item.sender.identities == (IdentityRef("vk", str(MARIA)),)
    assert item.text == "[Sent by the community from VK]\nОтвет из интерфейса VK"


@pytest.mark.parametrize(("allowed", "blocked"), [(True, False), (False, True)])
def test_allowing_and_denying_messages_are_conversation_marks(allowed: bool, blocked: bool) -> None:
    event = {**permission(allowed), "event_id": "e-77"}
    item = parse_any(event)
    assert isinstance(item, ConversationMark)
    assert item.external_id == f"{'allow' if allowed else 'deny'}:e-77" and item.blocked is blocked
    assert item.sender.identities == (IdentityRef("vk", str(MARIA)),)


def test_a_permission_event_without_event_id_keeps_a_stable_id() -> None:
    assert parse_any(permission(True)).external_id == parse_any(permission(True)).external_id


def test_group_chats_are_ignored_unless_allowed() -> None:
    event = message_new("всем привет", peer_id=2_000_000_004, message_id=0, conversation_message_id=77)
    with pytest.raises(Ignored, match="allow_groups"):
        parse(event)
    item = parse(event, allow_groups=True)
    assert item.external_id == "2000000004_77"
    assert vk_meta(item)["peer_id"] == 2_000_000_004


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"type": "confirmation", "group_id": 1}, "confirmation request"),
        (
            {"type": "message_typing_state", "object": {"state": "typing", "from_id": 1, "to_id": -1}},
            "a typing notice (message_typing_state)",
        ),
        (
            {"type": "message_read", "object": {"from_id": 1, "peer_id": 1, "read_message_id": 5}},
            "read receipt",
        ),
        ({"type": "like_add", "object": {"liker_id": 1, "object_type": "post", "object_id": 3}}, "a like"),
        ({"type": "group_join", "object": {"user_id": 1, "join_type": "join"}}, "joined"),
        (message_new("из другого сообщества", from_id=-5, peer_id=-5), "with a community"),
        (
            message_new("", action={"type": "chat_invite_user", "member_id": 1}, peer_id=2_000_000_001),
            "groups are off",
        ),
        (
            message_new("", action={"type": "chat_invite_user", "member_id": 1}, peer_id=2_000_000_001),
            "chat service message",
        ),
        (message_new("наш ответ", out=1), "the community sent"),
    ],
)
def test_signals_and_our_own_messages_are_ignored_by_design_with_a_reason(
    event: dict[str, Any], reason: str
) -> None:
    groups = reason == "chat service message"
    with pytest.raises(Ignored) as err:
        parse(event, allow_groups=groups)
    assert reason in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (
            {"type": "wall_reply_new", "object": {"id": 7, "from_id": MARIA, "text": "Где мой заказ?"}},
            "a wall_reply_new event is not taken",
        ),
        (
            {"type": "wall_post_new", "object": {"id": 8, "from_id": MARIA, "text": "Предложка"}},
            "wall_post_new",
        ),
        (
            {"type": "photo_comment_new", "object": {"id": 9, "from_id": MARIA, "text": "?"}},
            "photo_comment_new",
        ),
        ({"type": "market_order_new", "object": {"id": 10, "user_id": MARIA}}, "market_order_new"),
        (
            {"type": "message_event", "object": {"user_id": MARIA, "peer_id": MARIA, "payload": {"a": 1}}},
            "message_event",
        ),
        ({"type": "something_vk_adds_next_year", "object": {}}, "something_vk_adds_next_year"),
        (message_new(""), "nothing this channel shows"),
    ],
)
def test_events_with_a_clients_words_or_of_unknown_type_are_refused_for_the_quarantine(
    event: dict[str, Any], reason: str
) -> None:
    with pytest.raises(PayloadError) as err:
        parse(event)
    assert not isinstance(err.value, Ignored)
    assert reason in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ("text", "must be a JSON object"),
        ({"object": {}}, "type: missing"),
        ({"type": "message_new", "object": {"message": {"peer_id": 1}}}, "from_id"),
        (
            {"type": "message_new", "object": {"message": {"peer_id": 1, "from_id": 1, "text": "x"}}},
            "neither id",
        ),
        ({"type": "message_allow", "object": {"user_id": "x"}}, "user_id"),
        ({"type": "message_new", "object": None}, "object"),
        ({"type": "message_new", "group_id": 1, "object": {}}, "not 2"),
    ],
)
def test_malformed_events_are_refused_with_a_one_line_reason(event: Any, reason: str) -> None:
    with pytest.raises(PayloadError) as err:
        parse(event, group_id=2)
    assert not isinstance(err.value, Ignored)
    assert reason in str(err.value) and "\n" not in str(err.value)


def test_parse_file_takes_a_callback_body_a_long_poll_answer_or_an_array() -> None:
    account = AccountContext(id=ACCOUNT, name="vk", kind="vk")
    one, two = message_new("один", message_id=1), message_new("два", message_id=2)
    for payload, expected in (
        ({**one, "group_id": 1, "secret": "s"}, ["один"]),
        ({"ts": "15", "updates": [one, two]}, ["один", "два"]),
        ([one, two], ["один", "два"]),
    ):
        out = list(parse_file(json.dumps(payload).encode(), "f.json", account=account))
        assert [i.text for i in out if isinstance(i, InboundMessage)] == expected
    mixed = list(
        parse_file(
            json.dumps({"ts": "1", "updates": [one, {"type": "group_join"}]}).encode(), "f", account=account
        )
    )
    assert isinstance(mixed[1], PayloadError) and str(mixed[1]).startswith("event 1:")
    for data, reason in (
        (b'{"failed": 2}', "failed=2 carries no events"),
        (b'{"ts": "5", "updates": []}', "no events"),
        (b"[1", "not valid JSON"),
        (b'{"error": {"error_code": 5, "error_msg": "User authorization failed"}}', "error answer"),
    ):
        (problem,) = parse_file(data, "f.json", account=account)
        assert isinstance(problem, PayloadError) and reason in str(problem)


def test_a_message_forwarded_from_a_community_links_to_the_community() -> None:
    forwarded = [message("Акция до пятницы", message_id=0, from_id=-229000111)]
    item = parse(message_new("Это правда?", fwd_messages=forwarded))
    assert item.text == "Это правда?\n[Forwarded message from vk.com/club229000111]\n> Акция до пятницы"


def test_a_community_wall_post_keeps_the_communitys_name() -> None:
    post = wall()
    post["wall"]["from"] = {
        "id": 229000111,
        "name": "Магазин «Ромашка»",
        "screen_name": "romashka",
        "type": "page",
    }
    item = parse(message_new("Смотрите", attachments=[post]))
    assert (
        item.text == "Смотрите\n[Wall post of Магазин «Ромашка»: https://vk.com/wall-229000111_42] Розыгрыш!"
    )
