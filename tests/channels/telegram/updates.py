"""Builders for Telegram updates shaped as the Bot API documents them (our own small fixtures)."""

from __future__ import annotations

from typing import Any

DATE = 1_763_800_000  # 2025-11-22, seconds since the epoch
OLGA: dict[str, Any] = {
    "id": 4242,
    "is_bot": False,
    "first_name": "Ольга",
    "last_name": "Петрова",
    "username": "olga_p",
    "language_code": "ru",
}
IVAN: dict[str, Any] = {"id": 5151, "is_bot": False, "first_name": "Иван", "username": "ivan_s"}


def chat_of(user: dict[str, Any]) -> dict[str, Any]:
    chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
    if "username" in user:
        chat["username"] = user["username"]
    return chat


GROUP: dict[str, Any] = {"id": -1001234567890, "type": "supergroup", "title": "Клиенты"}


def msg(
    text: str | None = "Здравствуйте!",
    *,
    message_id: int = 10,
    user: dict[str, Any] = OLGA,
    chat: dict[str, Any] | None = None,
    date: int = DATE,
    **fields: Any,
) -> dict[str, Any]:
    """A Message object."""
    body: dict[str, Any] = {
        "message_id": message_id,
        "from": user,
        "chat": chat or chat_of(user),
        "date": date,
    }
    if text is not None:
        body["text"] = text
    body.update(fields)
    return body


def update(update_id: int = 1, **body: Any) -> dict[str, Any]:
    return {"update_id": update_id, **body}


def message_update(text: str | None = "Здравствуйте!", update_id: int = 1, **fields: Any) -> dict[str, Any]:
    return update(update_id, message=msg(text, **fields))


def member_update(
    old: str, new: str, *, user: dict[str, Any] = OLGA, update_id: int = 1, date: int = DATE
) -> dict[str, Any]:
    bot = {"id": 777000111, "is_bot": True, "first_name": "Okno", "username": "okno_test_bot"}
    return update(
        update_id,
        my_chat_member={
            "chat": chat_of(user),
            "from": user,
            "date": date,
            "old_chat_member": {"user": bot, "status": old},
            "new_chat_member": {"user": bot, "status": new}
            if new != "kicked"
            else {
                "user": bot,
                "status": "kicked",
                "until_date": 0,
            },
        },
    )


def callback_update(
    data: str,
    *,
    message_id: int = 5001,
    user: dict[str, Any] = OLGA,
    update_id: int = 1,
    query_id: str = "9001",
) -> dict[str, Any]:
    bot = {"id": 777000111, "is_bot": True, "first_name": "Okno", "username": "okno_test_bot"}
    return update(
        update_id,
        callback_query={
            "id": query_id,
            "from": user,
            "message": {
                "message_id": message_id,
                "from": bot,
                "chat": chat_of(user),
                "date": DATE,
                "text": "Как вам удобнее получить заказ?",
                "reply_markup": {
                    "inline_keyboard": [
                        [
                            {"text": "Самовывоз", "callback_data": "pickup"},
                            {"text": "Доставка", "callback_data": "delivery"},
                        ]
                    ]
                },
            },
            "chat_instance": "-5326854101236512",
            "data": data,
        },
    )
