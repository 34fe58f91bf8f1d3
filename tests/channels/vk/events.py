"""Builders for VK events shaped as the Callback API / Bots Long Poll documents them (API 5.199)."""

from __future__ import annotations

from typing import Any

DATE = 1_763_800_000
MARIA = 321
PETR = 654


def message(
    text: str = "Здравствуйте!",
    *,
    message_id: int = 985,
    from_id: int = MARIA,
    peer_id: int | None = None,
    date: int = DATE,
    **fields: Any,
) -> dict[str, Any]:
    """A message object."""
    body: dict[str, Any] = {
        "date": date,
        "from_id": from_id,
        "id": message_id,
        "out": 0,
        "version": 10000123,
        "attachments": [],
        "conversation_message_id": message_id - 300,
        "fwd_messages": [],
        "important": False,
        "is_hidden": False,
        "peer_id": peer_id if peer_id is not None else from_id,
        "random_id": 0,
        "text": text,
    }
    body.update(fields)
    return body


def message_new(text: str = "Здравствуйте!", **fields: Any) -> dict[str, Any]:
    client_info = {
        "button_actions": ["text", "vkpay", "open_app", "location", "open_link"],
        "keyboard": True,
        "inline_keyboard": True,
        "carousel": True,
        "lang_id": 0,
    }
    return {"type": "message_new", "object": {"message": message(text, **fields), "client_info": client_info}}


def message_edit(text: str, *, update_time: int = DATE + 60, **fields: Any) -> dict[str, Any]:
    return {"type": "message_edit", "object": message(text, update_time=update_time, **fields)}


def permission(allowed: bool, user_id: int = MARIA) -> dict[str, Any]:
    if allowed:
        return {"type": "message_allow", "object": {"user_id": user_id, "key": "promo"}}
    return {"type": "message_deny", "object": {"user_id": user_id}}


def photo(
    owner_id: int = MARIA, photo_id: int = 457239017, url: str = "https://sun9-1.userapi.com/impg/x.jpg"
) -> dict[str, Any]:
    return {
        "type": "photo",
        "photo": {
            "album_id": -3,
            "date": DATE,
            "id": photo_id,
            "owner_id": owner_id,
            "access_key": "ab12",
            "sizes": [
                {"height": 75, "type": "s", "width": 56, "url": url + "?size=56x75"},
                {"height": 1280, "type": "w", "width": 960, "url": url},
                {"height": 604, "type": "x", "width": 453, "url": url + "?size=453x604"},
            ],
            "text": "",
            "has_tags": False,
        },
    }


def doc(
    title: str = "счёт", ext: str = "pdf", url: str = "https://vk.com/doc321_1?hash=1", size: int = 10
) -> dict[str, Any]:
    return {
        "type": "doc",
        "doc": {
            "id": 1,
            "owner_id": MARIA,
            "title": title,
            "size": size,
            "ext": ext,
            "date": DATE,
            "type": 1,
            "url": url,
        },
    }


def audio_message(transcript: str | None = "Перезвоните мне, пожалуйста") -> dict[str, Any]:
    body: dict[str, Any] = {
        "duration": 5,
        "id": 613,
        "link_mp3": "https://psv4.userapi.com/c1/a.mp3",
        "link_ogg": "https://psv4.userapi.com/c1/a.ogg",
        "owner_id": MARIA,
        "access_key": "k",
        "waveform": [0, 3, 7, 12, 4],
    }
    if transcript is not None:
        body |= {"transcript": transcript, "transcript_state": "done"}
    return {"type": "audio_message", "audio_message": body}


def sticker() -> dict[str, Any]:
    return {
        "type": "sticker",
        "sticker": {
            "product_id": 279,
            "sticker_id": 9008,
            "images": [{"height": 64, "url": "https://vk.com/sticker/1-9008-64", "width": 64}],
        },
    }


def wall(text: str = "Розыгрыш!") -> dict[str, Any]:
    return {
        "type": "wall",
        "wall": {
            "id": 42,
            "from_id": -229000111,
            "to_id": -229000111,
            "owner_id": -229000111,
            "date": DATE,
            "post_type": "post",
            "text": text,
        },
    }
