"""Telegram updates → inbound items: every inbound kind, and a one-line reason for everything else."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from channels.base import AccountContext, PayloadError
from channels.telegram import Ignored, parse_file, parse_update
from inbox.items import ConversationMark, IdentityRef, InboundMessage, MessageEdit
from tests.channels.telegram.updates import (
    DATE,
    GROUP,
    IVAN,
    OLGA,
    callback_update,
    member_update,
    message_update,
    msg,
    update,
)

ACCOUNT = 7


def parse_any(raw: Any, **kwargs: Any) -> InboundMessage | MessageEdit | ConversationMark:
    return parse_update(raw, account_id=ACCOUNT, **kwargs)


def parse(raw: Any, **kwargs: Any) -> InboundMessage:
    """A payload that must be a new message."""
    item = parse_any(raw, **kwargs)
    assert isinstance(item, InboundMessage), item
    return item


def telegram_meta(item: InboundMessage) -> dict[str, Any]:
    value = item.meta["telegram"]
    assert isinstance(value, dict)
    return value


def test_private_text_becomes_a_message_from_the_users_telegram_identity() -> None:
    entities = [{"offset": 0, "length": 6, "type": "bold"}]
    item = parse(message_update("Привет, нужен счёт", message_id=31, entities=entities))
    assert item.account_id == ACCOUNT
    assert item.external_id == "4242:31"
    assert item.sender.identities == (IdentityRef("telegram", "4242"),)
    assert item.sender.name == "Ольга Петрова" and item.sender.username == "olga_p"
    assert item.text == "Привет, нужен счёт"
    assert item.sent_at == datetime.fromtimestamp(DATE, UTC)
    assert telegram_meta(item)["entities"] == entities
    assert telegram_meta(item)["chat_id"] == 4242
    assert item.kind == "message"  # parse() holds it is a new message, not an edit


def test_photo_takes_the_largest_size_and_its_caption() -> None:
    photo = [
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 60, "file_size": 1000},
        {"file_id": "large", "file_unique_id": "L", "width": 1280, "height": 853, "file_size": 90000},
        {"file_id": "mid", "file_unique_id": "m", "width": 320, "height": 213, "file_size": 9000},
    ]
    item = parse(message_update(None, photo=photo, caption="Вот чек"))
    assert item.text == "Вот чек"
    (attachment,) = item.attachments
    assert attachment.content_type == "image/jpeg" and attachment.size == 90000
    assert telegram_meta(item)["files"][0]["file_id"] == "large"
    assert item.meta["label"] == "[Photo]"


@pytest.mark.parametrize(
    ("fields", "text", "filename", "content_type"),
    [
        (
            {
                "document": {
                    "file_id": "d1",
                    "file_unique_id": "d",
                    "file_name": "счёт.pdf",
                    "mime_type": "application/pdf",
                    "file_size": 5,
                }
            },
            "[Document: счёт.pdf]",
            "счёт.pdf",
            "application/pdf",
        ),
        (
            {
                "voice": {
                    "file_id": "v1",
                    "file_unique_id": "v",
                    "duration": 75,
                    "mime_type": "audio/ogg",
                    "file_size": 6,
                }
            },
            "[Voice message, 1:15]",
            "voice_10.ogg",
            "audio/ogg",
        ),
        (
            {
                "video": {
                    "file_id": "x1",
                    "file_unique_id": "x",
                    "width": 1,
                    "height": 1,
                    "duration": 9,
                    "file_size": 7,
                }
            },
            "[Video, 0:09]",
            "video_10.mp4",
            "video/mp4",
        ),
        (
            {
                "video_note": {
                    "file_id": "n1",
                    "file_unique_id": "n",
                    "length": 240,
                    "duration": 7,
                    "file_size": 8,
                }
            },
            "[Video message, 0:07]",
            "video_note_10.mp4",
            "video/mp4",
        ),
        (
            {
                "audio": {
                    "file_id": "a1",
                    "file_unique_id": "a",
                    "duration": 200,
                    "performer": "Кино",
                    "title": "Группа крови",
                    "mime_type": "audio/mpeg",
                    "file_size": 9,
                }
            },
            "[Audio: Кино – Группа крови, 3:20]",
            "audio_10.mp3",
            "audio/mpeg",
        ),
        (
            {
                "animation": {
                    "file_id": "g1",
                    "file_unique_id": "g",
                    "width": 1,
                    "height": 1,
                    "duration": 2,
                    "file_name": "cat.mp4",
                    "mime_type": "video/mp4",
                },
                "document": {
                    "file_id": "g1",
                    "file_unique_id": "g",
                    "file_name": "cat.mp4",
                    "mime_type": "video/mp4",
                },
            },
            "[GIF]",
            "cat.mp4",
            "video/mp4",
        ),
    ],
)
def test_files_become_attachments_with_a_label(
    fields: dict[str, Any], text: str, filename: str, content_type: str
) -> None:
    item = parse(message_update(None, **fields))
    assert item.text == text
    (attachment,) = item.attachments
    assert (attachment.filename, attachment.content_type) == (filename, content_type)
    assert attachment.content is None  # the connector downloads; parsing stays pure
    assert len(telegram_meta(item)["files"]) == 1


def test_sticker_is_a_labelled_placeholder_without_a_file() -> None:
    sticker = {
        "file_id": "st",
        "file_unique_id": "st",
        "type": "regular",
        "width": 512,
        "height": 512,
        "emoji": "👍",
        "is_animated": False,
        "is_video": False,
    }
    item = parse(message_update(None, sticker=sticker))
    assert item.text == "[Sticker 👍]"
    assert item.attachments == ()


def test_location_and_venue_are_shown_with_coordinates() -> None:
    item = parse(message_update(None, location={"latitude": 55.751244, "longitude": 37.618423}))
    assert item.text == "[Location: 55.751244, 37.618423]"
    assert item.meta["location"] == {"latitude": 55.751244, "longitude": 37.618423}
    venue = {"location": {"latitude": 1.5, "longitude": 2.5}, "title": "Офис", "address": "Тверская, 1"}
    assert (
        parse(message_update(None, venue=venue, location=venue["location"])).text
        == "[Venue: Офис, Тверская, 1]"
    )


def test_own_contact_share_adds_the_phone_as_a_second_identity_of_the_sender() -> None:
    contact = {"phone_number": "79139097332", "first_name": "Ольга", "user_id": 4242}
    item = parse(message_update(None, contact=contact))
    assert item.sender.identities == (IdentityRef("telegram", "4242"), IdentityRef("phone", "79139097332"))
    assert item.text == "[Contact: Ольга 79139097332]"


def test_someone_elses_contact_is_shown_but_never_put_on_the_senders_card() -> None:
    contact = {"phone_number": "+79001112233", "first_name": "Мама", "user_id": 99}
    item = parse(message_update(None, contact=contact))
    assert item.sender.identities == (IdentityRef("telegram", "4242"),)
    assert "+79001112233" in item.text


def test_reply_references_the_message_replied_to() -> None:
    replied = msg(
        "Ваш заказ готов",
        message_id=5001,
        user={"id": 777000111, "is_bot": True, "first_name": "Okno"},
        chat={"id": 4242, "type": "private", "first_name": "Ольга"},
    )
    item = parse(message_update("Спасибо!", message_id=12, reply_to_message=replied))
    assert item.references == ("4242:5001",)
    assert item.meta["reply_to"] == {"external_id": "4242:5001", "text": "Ваш заказ готов"}


@pytest.mark.parametrize(
    ("fields", "origin"),
    [
        ({"forward_origin": {"type": "user", "date": DATE, "sender_user": IVAN}}, "Иван"),
        ({"forward_origin": {"type": "hidden_user", "date": DATE, "sender_user_name": "Аноним"}}, "Аноним"),
        (
            {
                "forward_origin": {
                    "type": "channel",
                    "date": DATE,
                    "chat": {"id": -100, "type": "channel", "title": "Новости"},
                    "message_id": 3,
                }
            },
            "Новости",
        ),
        ({"forward_from": IVAN, "forward_date": DATE}, "Иван"),
    ],
)
def test_forwards_are_labelled_with_their_origin(fields: dict[str, Any], origin: str) -> None:
    item = parse(message_update("Смотрите", **fields))
    assert item.text == f"[Forwarded from {origin}]\nСмотрите"
    assert item.meta["forwarded_from"] == origin


def test_edited_message_is_the_new_version_of_the_same_external_id() -> None:
    item = parse_any(update(3, edited_message=msg("Исправленный текст", message_id=31, edit_date=DATE + 60)))
    assert isinstance(item, MessageEdit)
    assert item.external_id == "4242:31"
    assert item.edited_at == datetime.fromtimestamp(DATE + 60, UTC)
    assert item.message.text == "Исправленный текст"


def test_button_press_under_our_message_names_the_button_and_threads_with_that_message() -> None:
    item = parse(callback_update("delivery", message_id=5001, query_id="77"), bot_id=777000111)
    assert item.text == "[Button: Доставка]"
    assert item.external_id == "callback:77"
    assert item.references == ("4242:5001",)
    assert item.sender.identities == (IdentityRef("telegram", "4242"),)
    assert telegram_meta(item)["callback_query_id"] == "77"


def test_button_press_under_another_bots_message_is_ignored() -> None:
    with pytest.raises(Ignored, match="another bot"):
        parse(callback_update("pickup"), bot_id=1)


@pytest.mark.parametrize(
    ("old", "new", "blocked", "text"),
    [
        ("member", "kicked", True, "The user blocked the bot"),
        ("kicked", "member", False, "The user unblocked the bot"),
    ],
)
def test_blocking_and_unblocking_the_bot_become_conversation_marks(
    old: str, new: str, blocked: bool, text: str
) -> None:
    item = parse_any(member_update(old, new))
    assert isinstance(item, ConversationMark)
    assert (item.blocked, item.reason) == (blocked, text)
    assert item.external_id == f"member:4242:{DATE}:{new}"


def test_membership_change_without_block_or_unblock_is_ignored_with_the_statuses() -> None:
    with pytest.raises(Ignored, match="member → member"):
        parse(member_update("member", "member"))


def test_group_messages_are_ignored_unless_allowed() -> None:
    raw = message_update("Всем привет", chat=GROUP)
    with pytest.raises(Ignored, match="allow_groups"):
        parse(raw)
    item = parse(raw, allow_groups=True)
    assert item.external_id == f"{GROUP['id']}:10"
    assert telegram_meta(item)["chat_id"] == GROUP["id"]
    assert item.sender.identities == (IdentityRef("telegram", "4242"),)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            update(
                1,
                channel_post={
                    "message_id": 1,
                    "chat": {"id": -100, "type": "channel"},
                    "date": DATE,
                    "text": "x",
                },
            ),
            "a channel post",
        ),
        (update(1, poll_answer={"poll_id": "1", "option_ids": [0]}), "a poll answer"),
        (
            update(
                1,
                edited_channel_post={
                    "message_id": 1,
                    "chat": {"id": -100, "type": "channel", "title": "Новости"},
                    "date": DATE,
                    "edit_date": DATE + 5,
                    "text": "y",
                },
            ),
            "an edited channel post",
        ),
        (update(1, poll={"id": "1", "question": "?", "options": [], "is_closed": True}), "a poll state"),
        (
            update(
                1,
                message_reaction={
                    "chat": {"id": 4242, "type": "private"},
                    "message_id": 3,
                    "date": DATE,
                    "old_reaction": [],
                    "new_reaction": [{"type": "emoji", "emoji": "👍"}],
                },
            ),
            "a reaction",
        ),
        (
            update(
                1,
                my_chat_member={
                    "chat": {"id": -5, "type": "group", "title": "g"},
                    "from": OLGA,
                    "date": DATE,
                    "old_chat_member": {"status": "left", "user": OLGA},
                    "new_chat_member": {"status": "member", "user": OLGA},
                },
            ),
            "membership changed in a group chat",
        ),
        (message_update(None, pinned_message=msg("old")), "a service message (pinned_message)"),
        (message_update("hi", user={"id": 1, "is_bot": True, "first_name": "B"}), "from a bot"),
        (update(1, message=msg("x", chat={"id": -1, "type": "channel"})), "in a channel"),
    ],
)
def test_updates_the_channel_does_not_take_are_ignored_with_a_reason(
    raw: dict[str, Any], reason: str
) -> None:
    with pytest.raises(Ignored) as err:
        parse(raw)
    assert reason in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ([], "must be a JSON object"),
        ({"message": {}}, "update_id"),
        ({"update_id": 1}, "nothing besides update_id"),
        (update(1, something_new={"a": 1}), "unknown type 'something_new'"),  # kept for a future parser
        (message_update(None), "nothing this channel shows"),  # a client wrote something we cannot read
        (message_update(None, checklist={"title": "Покупки", "tasks": []}), "fields: checklist"),
        (
            update(1, business_message=msg("Здравствуйте, вы работаете?") | {"business_connection_id": "b1"}),
            "business message",
        ),
        (
            update(
                1,
                pre_checkout_query={
                    "id": "q1",
                    "from": OLGA,
                    "currency": "RUB",
                    "total_amount": 10000,
                    "invoice_payload": "order-1",
                },
            ),
            "takes no payments",
        ),
        (update(1, message={"message_id": 1, "date": DATE, "text": "x", "from": OLGA}), "chat"),
        (update(1, message=msg("x", message_id="abc")), "message_id"),  # type: ignore[arg-type]
        (update(1, message=msg(None, location={"latitude": "north"})), "latitude"),
        (
            update(
                1, message=msg("x", user={"id": None, "first_name": "x"}, chat=OLGA | {"type": "private"})
            ),
            "from.id",
        ),
    ],
)
def test_malformed_updates_are_refused_with_a_one_line_reason(raw: Any, reason: str) -> None:
    with pytest.raises(PayloadError) as err:
        parse(raw)
    assert not isinstance(err.value, Ignored)
    assert reason in str(err.value)
    assert "\n" not in str(err.value)


def test_parse_file_takes_an_update_an_array_or_a_whole_getupdates_answer() -> None:
    account = AccountContext(id=ACCOUNT, name="tg", kind="telegram")
    one = message_update("один", update_id=1, message_id=1)
    two = message_update("два", update_id=2, message_id=2)
    for payload, expected in (
        (one, ["один"]),
        ([one, two], ["один", "два"]),
        ({"ok": True, "result": [one, two]}, ["один", "два"]),
    ):
        out = list(parse_file(json.dumps(payload).encode(), "f.json", account=account))
        assert [i.text for i in out if isinstance(i, InboundMessage)] == expected
    mixed = list(parse_file(json.dumps([one, {"update_id": 5}]).encode(), "f.json", account=account))
    assert isinstance(mixed[1], PayloadError) and str(mixed[1]).startswith("update 1:")
    assert json.loads(mixed[1].raw or b"") == {"update_id": 5}  # that update alone, for the quarantine
    for data, reason in (
        (b"{oops", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (
            b'{"ok": false, "error_code": 401, "description": "Unauthorized"}',
            "failed Bot API answer: Unauthorized",
        ),
        (b'{"ok": true, "result": []}', "no updates"),
        (b"42", "Update object"),
    ):
        (problem,) = parse_file(data, "f.json", account=account)
        assert isinstance(problem, PayloadError) and reason in str(problem)


CHANNEL = {"id": -1001234567890, "type": "channel", "title": "Новости магазина", "username": "shop_news"}


@pytest.mark.parametrize(
    ("fields", "origin"),
    [
        (  # the origin's chat as some servers send it: no title, which the older fields still carry
            {
                "forward_origin": {
                    "type": "channel",
                    "date": DATE,
                    "chat": {"id": CHANNEL["id"], "type": "channel"},
                    "message_id": 41,
                },
                "forward_from_chat": CHANNEL,
                "forward_from_message_id": 41,
                "forward_date": DATE,
            },
            "Новости магазина",
        ),
        (  # a channel that signs its posts
            {
                "forward_origin": {
                    "type": "channel",
                    "date": DATE,
                    "chat": CHANNEL,
                    "message_id": 42,
                    "author_signature": "Анна",
                }
            },
            "Новости магазина (Анна)",
        ),
        (  # the older fields alone, signed
            {"forward_from_chat": CHANNEL, "forward_signature": "Анна", "forward_date": DATE},
            "Новости магазина (Анна)",
        ),
        (  # a channel without a title shown by its @username
            {
                "forward_origin": {
                    "type": "channel",
                    "date": DATE,
                    "chat": {"id": -100, "type": "channel", "username": "shop_news"},
                }
            },
            "@shop_news",
        ),
    ],
)
def test_a_forwarded_channel_post_keeps_the_channels_title(fields: dict[str, Any], origin: str) -> None:
    item = parse(message_update("Скидки до пятницы", **fields))
    assert item.text == f"[Forwarded from {origin}]\nСкидки до пятницы"
    assert item.meta["forwarded_from"] == origin


GROUP_CHAT = {
    "id": -1009876543210,
    "type": "supergroup",
    "title": "Клуб покупателей",
    "username": "shop_club",
}


@pytest.mark.parametrize(
    ("fields", "label", "forward"),
    [
        (  # MessageOriginChannel (Bot API 7): the channel, the post's id and signature, its public link
            {
                "forward_origin": {
                    "type": "channel",
                    "date": DATE - 60,
                    "chat": CHANNEL,
                    "message_id": 42,
                    "author_signature": "Анна",
                }
            },
            "Новости магазина (Анна)",
            {
                "origin": "channel",
                "name": "Новости магазина",
                "chat_id": CHANNEL["id"],
                "message_id": 42,
                "signature": "Анна",
                "username": "shop_news",
                "link": "https://t.me/shop_news/42",
                "date": DATE - 60,
            },
        ),
        (  # MessageOriginChat: sent on behalf of a group (an anonymous admin), signed
            {
                "forward_origin": {
                    "type": "chat",
                    "date": DATE - 60,
                    "sender_chat": GROUP_CHAT,
                    "author_signature": "админ",
                }
            },
            "Клуб покупателей (админ)",
            {
                "origin": "chat",
                "name": "Клуб покупателей",
                "chat_id": GROUP_CHAT["id"],
                "signature": "админ",
                "username": "shop_club",
                "date": DATE - 60,
            },
        ),
        (  # MessageOriginUser
            {"forward_origin": {"type": "user", "date": DATE - 60, "sender_user": IVAN}},
            "Иван",
            {"origin": "user", "name": "Иван", "user_id": IVAN["id"], "date": DATE - 60},
        ),
        (  # MessageOriginHiddenUser
            {"forward_origin": {"type": "hidden_user", "date": DATE - 60, "sender_user_name": "Пётр С."}},
            "Пётр С.",
            {"origin": "hidden_user", "name": "Пётр С.", "date": DATE - 60},
        ),
        (  # before Bot API 7: a channel post
            {
                "forward_from_chat": CHANNEL,
                "forward_from_message_id": 41,
                "forward_signature": "Анна",
                "forward_date": DATE - 60,
            },
            "Новости магазина (Анна)",
            {
                "origin": "channel",
                "name": "Новости магазина",
                "chat_id": CHANNEL["id"],
                "message_id": 41,
                "signature": "Анна",
                "username": "shop_news",
                "link": "https://t.me/shop_news/41",
                "date": DATE - 60,
            },
        ),
        (  # before Bot API 7: a user who hides their account
            {"forward_sender_name": "Пётр С.", "forward_date": DATE - 60},
            "Пётр С.",
            {"origin": "hidden_user", "name": "Пётр С.", "date": DATE - 60},
        ),
        (  # a kind a later Bot API may add: still marked as a forward
            {"forward_origin": {"type": "story", "date": DATE - 60}},
            "unknown origin",
            {"origin": "unknown", "name": "unknown origin", "date": DATE - 60},
        ),
    ],
)
def test_every_forward_origin_keeps_who_and_where_it_came_from(
    fields: dict[str, Any], label: str, forward: dict[str, Any]
) -> None:
    item = parse(message_update("Смотрите, что пишут", **fields))
    assert item.text == f"[Forwarded from {label}]\nСмотрите, что пишут"
    assert item.meta["forwarded_from"] == label
    assert item.meta["forward"] == forward


def test_an_edited_forward_keeps_its_origin_too() -> None:
    origin = {"type": "channel", "date": DATE, "chat": CHANNEL, "message_id": 7}
    raw = update(2, edited_message=msg("Смотрите", forward_origin=origin, edit_date=DATE + 5))
    edit = parse_any(raw)
    assert isinstance(edit, MessageEdit)
    assert edit.message.text == "[Forwarded from Новости магазина]\nСмотрите"
    assert edit.message.meta["forward"]["link"] == "https://t.me/shop_news/7"
