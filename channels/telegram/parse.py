"""Telegram Bot API updates → inbound items (pure functions over the update's JSON).

One update gives one item or a reason: :class:`Ignored` for a well-formed update the hub deliberately does not
take, :class:`PayloadError` for anything else it cannot take — a malformed update, a kind it does not handle,
a message with nothing to show. Both carry a one-line reason; nothing else is ever raised, whatever the
payload. The connector logs an ignored update and hands a refused one to the quarantine (a ``Refused`` item
with the update's JSON), so nothing the bot receives ends only as a log line.

Ignored by design — nothing a client wrote to the bot (:data:`SIGNALS`):

* ``channel_post`` / ``edited_channel_post`` (a channel's own publications), ``poll`` (the state of a poll),
  ``poll_answer``, ``message_reaction`` / ``message_reaction_count``, ``chat_member``, ``chat_join_request``,
  ``chat_boost`` / ``removed_chat_boost``, ``inline_query`` / ``chosen_inline_result`` (the hub offers no
  inline mode), ``business_connection`` and ``deleted_business_messages``;
* within messages: service notices (:data:`SERVICE_FIELDS`), messages from bots or sent on behalf of a chat,
  messages in channels, group messages while ``allow_groups`` is off; ``my_chat_member`` outside a private
  chat or not turning blocked / unblocked; button presses under inline-mode, game or another bot's messages.

Refused, for the quarantine: ``business_message`` / ``edited_business_message`` (a client's words through a
Telegram Business connection, not taken yet), ``shipping_query``, ``pre_checkout_query`` and
``purchased_paid_media`` (payments: the hub sells nothing, someone must look), a message whose content this
parser does not know (nothing to show), and any update kind the Bot API adds.

What becomes what:

* ``message`` in a private chat (groups and supergroups only with ``allow_groups``): text with its entities,
  photo, document, animation, voice, video, video note, audio (files as attachments described by their
  Telegram file ids in ``meta["telegram"]["files"]``; the connector downloads them), sticker as a labelled
  placeholder, location, venue, dice, poll, and a contact share. A contact the sender shares *of themselves*
  (``contact.user_id`` equals the sender) adds their phone as a second identity of the sender, so it lands
  on their card; someone else's contact is shown but never attached to the sender's card.
* replies reference ``"<chat id>:<message id>"`` of the message replied to (threading); a forward is labelled
  with its origin in the text (``[Forwarded from Новости магазина (Анна)]``: a user's name, a hidden user's,
  a chat's or channel's title) and described in ``meta["forward"]`` (kind, name, the channel's id, the post's
  id, signature and t.me link, the original date) for every origin kind, Bot API 7's ``forward_origin``
  and the older ``forward_*`` fields alike.
* ``edited_message``: the new version of a message, marked with :class:`inbox.items.MessageEdit`.
* ``callback_query`` (a button under a message of our bot): a message ``[Button: label]`` in the same thread
  as the message carrying the button.
* ``my_chat_member`` in a private chat: the user blocked or unblocked the bot, as a conversation mark
  (:class:`inbox.items.ConversationMark`).

External ids are ``"<chat id>:<message id>"`` (unique per bot, and what a reply needs), ``callback:<id>`` for
button presses and ``member:<chat id>:<date>:<status>`` for membership changes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from channels.base import AccountContext, PayloadError
from channels.payloads import Ignored, items_of_file, one_item
from channels.payloads import obj_field as _obj
from channels.payloads import oneline as _oneline
from channels.payloads import safe_filename as _safe_name
from channels.payloads import text_or_none as _str
from inbox.items import (
    ConversationMark,
    IdentityRef,
    InboundAttachment,
    InboundMessage,
    MessageEdit,
    Sender,
)

# What a parsed update is: a new message (a button press is one too), an edit, or a mark.
Parsed = InboundMessage | MessageEdit | ConversationMark

__all__ = ["Ignored", "parse_file", "parse_update"]

PRIVATE = "private"
GROUP_TYPES = ("group", "supergroup")
# Message fields that are service notices, not something a client wrote.
SERVICE_FIELDS = (
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "message_auto_delete_timer_changed",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "pinned_message",
    "successful_payment",
    "users_shared",
    "chat_shared",
    "write_access_allowed",
    "connected_website",
    "proximity_alert_triggered",
    "forum_topic_created",
    "forum_topic_edited",
    "forum_topic_closed",
    "forum_topic_reopened",
    "video_chat_scheduled",
    "video_chat_started",
    "video_chat_ended",
    "video_chat_participants_invited",
    "web_app_data",
    "boost_added",
)
# Update kinds skipped by design, with what to say about them: none carries a client's words to the bot.
SIGNALS = {
    "channel_post": "a channel post",
    "edited_channel_post": "an edited channel post",
    "inline_query": "an inline query",
    "chosen_inline_result": "a chosen inline result",
    "poll": "a poll state",
    "poll_answer": "a poll answer",
    "chat_member": "a chat member change",
    "chat_join_request": "a chat join request",
    "message_reaction": "a reaction",
    "message_reaction_count": "reaction counts",
    "chat_boost": "a chat boost",
    "removed_chat_boost": "a removed chat boost",
    "business_connection": "a business connection",
    "deleted_business_messages": "deleted business messages",
}
# Update kinds refused on purpose (kept in the quarantine for a person to see), with what to say about them.
NOT_TAKEN = {
    "business_message": "a business message (Telegram Business connections are not taken yet)",
    "edited_business_message": "an edited business message (Telegram Business connections are not taken yet)",
    "shipping_query": "a shipping query (the hub takes no payments)",
    "pre_checkout_query": "a pre-checkout query (the hub takes no payments)",
    "purchased_paid_media": "a paid media purchase (the hub takes no payments)",
}


def _int(value: Any, field: str) -> int:
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) < 20:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError("expected an integer" if value is not None else "missing", field)
    if abs(value) >= 2**63:
        raise PayloadError("integer out of range", field)
    return value


def _when(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _duration(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 10**9:
        return ""  # also NaN, which compares false with everything
    seconds = int(value)
    return f", {seconds // 60}:{seconds % 60:02d}"


def _user_name(user: Mapping[str, Any]) -> str | None:
    parts = [_str(user.get("first_name")), _str(user.get("last_name"))]
    name = " ".join(p.strip() for p in parts if p and p.strip())
    return name[:200] or None


def _sender(user: Mapping[str, Any], field: str, extra: Sequence[IdentityRef] = ()) -> Sender:
    user_id = _int(user.get("id"), f"{field}.id")
    return Sender(
        (IdentityRef("telegram", str(user_id)), *extra),
        name=_user_name(user),
        username=(_str(user.get("username")) or "")[:200] or None,
    )


def _chat(msg: Mapping[str, Any], field: str, allow_groups: bool) -> tuple[int, str]:
    chat = _obj(msg.get("chat"), f"{field}.chat")
    chat_id = _int(chat.get("id"), f"{field}.chat.id")
    chat_type = _str(chat.get("type")) or ""
    if chat_type == PRIVATE:
        return chat_id, chat_type
    if chat_type in GROUP_TYPES:
        if allow_groups:
            return chat_id, chat_type
        raise Ignored(f"a {chat_type} chat message (groups are off for this account: allow_groups)")
    if chat_type == "channel":
        raise Ignored("a message in a channel")
    raise Ignored(f"a message in a chat of unknown type {_oneline(chat_type or 'none')!r}")


def _file(
    obj: Mapping[str, Any], *, filename: str, content_type: str, kind: str
) -> tuple[InboundAttachment, dict[str, Any]]:
    size = obj.get("file_size")
    size = size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else 0
    attachment = InboundAttachment(filename=filename[:255], content_type=content_type[:120], size=size)
    ref = {
        "kind": kind,
        "file_id": _str(obj.get("file_id")),
        "file_unique_id": _str(obj.get("file_unique_id")),
        "file_size": size or None,
    }
    return attachment, ref


def _biggest_photo(sizes: Any) -> Mapping[str, Any] | None:
    best: Mapping[str, Any] | None = None
    best_key = (-1, -1)
    for size in sizes if isinstance(sizes, list) else ():
        if not isinstance(size, Mapping) or not _str(size.get("file_id")):
            continue
        width, height, file_size = (size.get(k) for k in ("width", "height", "file_size"))
        area = width * height if isinstance(width, int) and isinstance(height, int) else 0
        key = (area, file_size if isinstance(file_size, int) else 0)
        if key > best_key:
            best, best_key = size, key
    return best


class _Content:
    """What a message carries, as text for agents plus attachments and meta."""

    def __init__(self) -> None:
        self.label: str | None = None
        self.attachments: list[InboundAttachment] = []
        self.files: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = {}
        self.identities: list[IdentityRef] = []

    def add_file(self, pair: tuple[InboundAttachment, dict[str, Any]]) -> None:
        self.attachments.append(pair[0])
        self.files.append(pair[1])


def _content(msg: Mapping[str, Any], sender_id: int, message_id: int) -> _Content:
    c = _Content()
    uid = message_id
    if isinstance(msg.get("photo"), list):
        photo = _biggest_photo(msg["photo"])
        if photo is not None:
            unique = _safe_name(photo.get("file_unique_id"), str(uid))
            c.add_file(_file(photo, filename=f"photo_{unique}.jpg", content_type="image/jpeg", kind="photo"))
        c.label = "[Photo]"
    elif isinstance(msg.get("animation"), Mapping):  # comes with a "document" twin: check it first
        anim = msg["animation"]
        name = _safe_name(anim.get("file_name"), f"animation_{uid}.mp4")
        c.add_file(
            _file(
                anim, filename=name, content_type=_str(anim.get("mime_type")) or "video/mp4", kind="animation"
            )
        )
        c.label = "[GIF]"
    elif isinstance(msg.get("document"), Mapping):
        doc = msg["document"]
        name = _safe_name(doc.get("file_name"), f"document_{uid}")
        mime = _str(doc.get("mime_type")) or "application/octet-stream"
        c.add_file(_file(doc, filename=name, content_type=mime, kind="document"))
        c.label = f"[Document: {_oneline(name)}]"
    elif isinstance(msg.get("voice"), Mapping):
        voice = msg["voice"]
        mime = _str(voice.get("mime_type")) or "audio/ogg"
        c.add_file(_file(voice, filename=f"voice_{uid}.ogg", content_type=mime, kind="voice"))
        c.label = f"[Voice message{_duration(voice.get('duration'))}]"
    elif isinstance(msg.get("video_note"), Mapping):
        note = msg["video_note"]
        c.add_file(_file(note, filename=f"video_note_{uid}.mp4", content_type="video/mp4", kind="video_note"))
        c.label = f"[Video message{_duration(note.get('duration'))}]"
    elif isinstance(msg.get("video"), Mapping):
        video = msg["video"]
        name = _safe_name(video.get("file_name"), f"video_{uid}.mp4")
        mime = _str(video.get("mime_type")) or "video/mp4"
        c.add_file(_file(video, filename=name, content_type=mime, kind="video"))
        c.label = f"[Video{_duration(video.get('duration'))}]"
    elif isinstance(msg.get("audio"), Mapping):
        audio = msg["audio"]
        title = " – ".join(t for t in (_str(audio.get("performer")), _str(audio.get("title"))) if t)
        name = _safe_name(audio.get("file_name"), f"audio_{uid}.mp3")
        mime = _str(audio.get("mime_type")) or "audio/mpeg"
        c.add_file(_file(audio, filename=name, content_type=mime, kind="audio"))
        c.label = f"[Audio: {_oneline(title or name)}{_duration(audio.get('duration'))}]"
    elif isinstance(msg.get("sticker"), Mapping):
        sticker = msg["sticker"]
        emoji = _str(sticker.get("emoji"))
        c.label = f"[Sticker {emoji}]" if emoji else "[Sticker]"
        c.meta["sticker"] = {k: sticker.get(k) for k in ("file_id", "file_unique_id", "set_name", "emoji")}
    elif isinstance(msg.get("venue"), Mapping):
        venue = msg["venue"]
        location = venue.get("location") if isinstance(venue.get("location"), Mapping) else {}
        c.label = f"[Venue: {_oneline(venue.get('title') or '')}, {_oneline(venue.get('address') or '')}]"
        c.meta["location"] = {"latitude": location.get("latitude"), "longitude": location.get("longitude")}
    elif isinstance(msg.get("location"), Mapping):
        loc = msg["location"]
        lat, lon = loc.get("latitude"), loc.get("longitude")
        if not isinstance(lat, int | float) or not isinstance(lon, int | float):
            raise PayloadError("a location without latitude and longitude", "message.location")
        c.label = f"[Location: {lat:.6f}, {lon:.6f}]"
        c.meta["location"] = {"latitude": lat, "longitude": lon}
    elif isinstance(msg.get("contact"), Mapping):
        contact = msg["contact"]
        phone = _str(contact.get("phone_number"))
        name = _user_name(contact) or ""
        c.label = f"[Contact: {_oneline(' '.join(p for p in (name, phone or '') if p))}]"
        own = contact.get("user_id") == sender_id
        c.meta["contact"] = {"phone_number": phone, "name": name or None, "user_id": contact.get("user_id")}
        if phone and own:
            c.identities.append(IdentityRef("phone", phone))
            c.meta["contact"]["own"] = True
    elif isinstance(msg.get("dice"), Mapping):
        dice = msg["dice"]
        c.label = f"[Dice {_str(dice.get('emoji')) or '🎲'}: {dice.get('value')}]"
    elif isinstance(msg.get("poll"), Mapping):
        c.label = f"[Poll: {_oneline(msg['poll'].get('question') or '')}]"
    elif isinstance(msg.get("story"), Mapping):
        c.label = "[Story]"
    elif isinstance(msg.get("game"), Mapping):
        c.label = "[Game]"
    return c


def _chat_title(*chats: Any) -> str | None:
    """The first title (else @username) among `chats`: a channel's name as agents know it."""
    for chat in chats:
        if isinstance(chat, Mapping) and _str(chat.get("title")):
            return str(chat["title"])
    for chat in chats:
        if isinstance(chat, Mapping) and _str(chat.get("username")):
            return "@" + str(chat["username"])
    return None


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63 else None


def _forward(msg: Mapping[str, Any]) -> dict[str, Any] | None:
    """Who and where a forwarded message came from (Bot API 7 ``forward_origin``, or the older forward_*
    fields): ``{"origin", "name", …}`` with the chat's id and the post's id, signature and public link where
    the update gives them; None for a message that is no forward.

    ``origin`` is the Bot API's kind — ``user`` (MessageOriginUser: ``sender_user``), ``hidden_user``
    (``sender_user_name``), ``chat`` (MessageOriginChat: ``sender_chat``, sent on behalf of a group) or
    ``channel`` (MessageOriginChannel: ``chat``, ``message_id``) — or ``unknown``. A channel or chat is named
    by its title wherever the update carries it (the origin's chat, the older ``forward_from_chat``), else
    its @username, with the post's signature when it is signed.
    """
    origin = msg.get("forward_origin")
    legacy_chat = msg.get("forward_from_chat")
    found: dict[str, Any]
    if isinstance(origin, Mapping):
        kind = _str(origin.get("type")) or "unknown"
        if kind == "user" and isinstance(origin.get("sender_user"), Mapping):
            user = origin["sender_user"]
            name = _user_name(user) or _str(user.get("username")) or "a user"
            found = {"origin": "user", "name": name, "user_id": _opt_int(user.get("id"))}
        elif kind == "hidden_user":
            found = {"origin": "hidden_user", "name": _str(origin.get("sender_user_name")) or "a hidden user"}
        elif kind in ("channel", "chat") or "chat" in origin or "sender_chat" in origin:
            chat = origin.get("chat") if kind == "channel" or "chat" in origin else origin.get("sender_chat")
            title = _chat_title(chat, origin.get("sender_chat"), legacy_chat)
            is_channel = kind == "channel"
            found = {
                "origin": "channel" if is_channel else "chat",
                "name": title or ("a channel" if is_channel else "a chat"),
                "chat_id": _opt_int(chat.get("id")) if isinstance(chat, Mapping) else None,
                "message_id": _opt_int(origin.get("message_id")),
                "signature": _str(origin.get("author_signature")) or _str(msg.get("forward_signature")),
                "username": _str(chat.get("username")) if isinstance(chat, Mapping) else None,
            }
        else:
            found = {"origin": "unknown", "name": "unknown origin"}
        found["date"] = _opt_int(origin.get("date"))
    elif isinstance(msg.get("forward_from"), Mapping):
        user = msg["forward_from"]
        found = {"origin": "user", "name": _user_name(user) or "a user", "user_id": _opt_int(user.get("id"))}
    elif isinstance(legacy_chat, Mapping):
        is_channel = legacy_chat.get("type") == "channel"
        found = {
            "origin": "channel" if is_channel else "chat",
            "name": _chat_title(legacy_chat) or ("a channel" if is_channel else "a chat"),
            "chat_id": _opt_int(legacy_chat.get("id")),
            "message_id": _opt_int(msg.get("forward_from_message_id")),
            "signature": _str(msg.get("forward_signature")),
            "username": _str(legacy_chat.get("username")),
        }
    elif _str(msg.get("forward_sender_name")):
        found = {"origin": "hidden_user", "name": str(msg["forward_sender_name"])}
    elif msg.get("forward_date") is not None:
        found = {"origin": "unknown", "name": "unknown origin"}
    else:
        return None
    if "date" not in found:
        found["date"] = _opt_int(msg.get("forward_date"))
    if found.get("username") and found.get("message_id"):
        found["link"] = f"https://t.me/{found['username']}/{found['message_id']}"
    return {k: v for k, v in found.items() if v is not None}


def _forward_origin(msg: Mapping[str, Any]) -> str | None:
    """The forward's origin as the timeline's label names it: the name, with a signed post's signature."""
    found = _forward(msg)
    if found is None:
        return None
    signature = found.get("signature")
    return f"{found['name']} ({signature})" if signature else str(found["name"])


def _message(
    msg_value: Any, field: str, *, account_id: int, allow_groups: bool, edited: bool
) -> InboundMessage | MessageEdit:
    msg = _obj(msg_value, field)
    message_id = _int(msg.get("message_id"), f"{field}.message_id")
    chat_id, chat_type = _chat(msg, field, allow_groups)
    user_value = msg.get("from")
    if not isinstance(user_value, Mapping):
        raise Ignored("a message without a sender (sent on behalf of a chat)")
    if user_value.get("is_bot") is True:
        raise Ignored("a message from a bot")
    sender_id = _int(user_value.get("id"), f"{field}.from.id")
    present = [k for k in SERVICE_FIELDS if k in msg]
    text = _str(msg.get("text")) or _str(msg.get("caption"))
    content = _content(msg, sender_id, message_id)
    if text is None and content.label is None:
        if present:
            raise Ignored(f"a service message ({present[0]})")
        fields = sorted(str(k) for k in msg if k not in ("message_id", "from", "chat", "date"))
        # A client wrote something this parser does not know: refused, never skipped.
        raise PayloadError(
            f"a message with nothing this channel shows (fields: {_oneline(', '.join(fields))})"
        )
    body = text if text is not None else content.label or ""
    telegram: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id, "chat_type": chat_type}
    entities = msg.get("entities") if msg.get("text") else msg.get("caption_entities")
    if isinstance(entities, list) and entities:
        telegram["entities"] = entities
    if content.files:
        telegram["files"] = content.files
    meta: dict[str, Any] = {"telegram": telegram, **content.meta}
    if content.label and text is not None:
        meta["label"] = content.label
    origin = _forward_origin(msg)
    if origin is not None:
        meta["forwarded_from"] = origin
        meta["forward"] = _forward(msg)
        body = f"[Forwarded from {_oneline(origin)}]\n{body}"
    references: tuple[str, ...] = ()
    reply = msg.get("reply_to_message")
    if isinstance(reply, Mapping) and isinstance(reply.get("message_id"), int):
        reply_ext = f"{chat_id}:{reply['message_id']}"
        references = (reply_ext,)
        excerpt = _str(reply.get("text")) or _str(reply.get("caption")) or ""
        meta["reply_to"] = {"external_id": reply_ext, "text": excerpt[:300]}
    item = InboundMessage(
        account_id=account_id,
        external_id=f"{chat_id}:{message_id}",
        sender=_sender(user_value, f"{field}.from", content.identities),
        text=body,
        sent_at=_when(msg.get("date")),
        attachments=tuple(content.attachments),
        references=references,
        meta=meta,
        raw=msg,
    )
    if edited:
        edited_at = _when(msg.get("edit_date")) or _when(msg.get("date")) or datetime.now(UTC)
        return MessageEdit(item, edited_at)
    return item


def _button_label(markup: Any, data: str | None) -> str | None:
    if data is None or not isinstance(markup, Mapping):
        return None
    rows = markup.get("inline_keyboard")
    for row in rows if isinstance(rows, list) else ():
        for button in row if isinstance(row, list) else ():
            if isinstance(button, Mapping) and button.get("callback_data") == data:
                return _str(button.get("text"))
    return None


def _callback_query(value: Any, *, account_id: int, allow_groups: bool, bot_id: int | None) -> InboundMessage:
    query = _obj(value, "callback_query")
    query_id = _str(query.get("id"))
    if query_id is None or len(query_id) > 200:
        raise PayloadError(
            "missing" if query_id is None else "longer than 200 characters", "callback_query.id"
        )
    user = _obj(query.get("from"), "callback_query.from")
    message = query.get("message")
    if not isinstance(message, Mapping):
        raise Ignored("a button press under an inline-mode message (no chat to answer in)")
    if _str(query.get("game_short_name")):
        raise Ignored("a game button press")
    chat_id, chat_type = _chat(message, "callback_query.message", allow_groups)
    message_id = _int(message.get("message_id"), "callback_query.message.message_id")
    author = message.get("from")
    if isinstance(author, Mapping):
        if bot_id is not None and author.get("id") != bot_id:
            raise Ignored("a button under a message another bot sent")
        if author.get("is_bot") is False:
            raise Ignored("a button under a message no bot sent")
    data = _str(query.get("data"))
    label = _button_label(message.get("reply_markup"), data)
    if label:
        text = f"[Button: {label}]"
    elif data:
        text = f"[Button pressed: {data}]"
    else:
        text = "[Button pressed]"
    telegram = {
        "chat_id": chat_id,
        "chat_type": chat_type,
        "message_id": message_id,
        "callback_query_id": query_id,
        "callback_data": data,
    }
    return InboundMessage(
        account_id=account_id,
        external_id=f"callback:{query_id}",
        sender=_sender(user, "callback_query.from"),
        text=text,
        references=(f"{chat_id}:{message_id}",),
        meta={"telegram": telegram},
        raw=query,
    )


def _my_chat_member(value: Any, *, account_id: int) -> ConversationMark:
    update = _obj(value, "my_chat_member")
    chat = _obj(update.get("chat"), "my_chat_member.chat")
    chat_id = _int(chat.get("id"), "my_chat_member.chat.id")
    chat_type = _str(chat.get("type")) or "unknown"
    old = _obj(update.get("old_chat_member"), "my_chat_member.old_chat_member").get("status")
    new = _obj(update.get("new_chat_member"), "my_chat_member.new_chat_member").get("status")
    if chat_type != PRIVATE:
        raise Ignored(f"the bot's membership changed in a {_oneline(chat_type)} chat")
    user = _obj(update.get("from"), "my_chat_member.from")
    if new == "kicked" and old != "kicked":
        blocked, reason = True, "The user blocked the bot"
    elif old == "kicked" and new != "kicked":
        blocked, reason = False, "The user unblocked the bot"
    else:
        raise Ignored(f"the bot's status in a private chat did not turn blocked or unblocked ({old} → {new})")
    if user.get("is_bot") is True:
        raise Ignored("a membership change made by a bot")
    date = _int(update.get("date"), "my_chat_member.date")
    return ConversationMark(
        account_id=account_id,
        external_id=f"member:{chat_id}:{date}:{new}",
        sender=_sender(user, "my_chat_member.from"),
        blocked=blocked,
        reason=reason,
        sent_at=_when(date),
        meta={"telegram": {"chat_id": chat_id, "chat_type": chat_type, "status": new}},
        raw=update,
    )


def update_type(update: Mapping[str, Any]) -> str | None:
    """The kind of an update: its one field besides update_id."""
    return next((str(k) for k in update if k != "update_id"), None)


def parse_update(
    update: Any, *, account_id: int, allow_groups: bool = False, bot_id: int | None = None
) -> Parsed:
    """One update → one item; :class:`Ignored` or :class:`PayloadError` (one line each) otherwise."""
    return one_item(
        lambda: _parse_update(update, account_id=account_id, allow_groups=allow_groups, bot_id=bot_id),
        "update",
    )


def _parse_update(update: Any, *, account_id: int, allow_groups: bool, bot_id: int | None) -> Parsed:
    if not isinstance(update, Mapping):
        raise PayloadError("an update must be a JSON object")
    _int(update.get("update_id"), "update_id")
    kind = update_type(update)
    if kind is None:
        raise PayloadError("the update carries nothing besides update_id")
    value = update[kind]
    if kind == "message":
        return _message(value, kind, account_id=account_id, allow_groups=allow_groups, edited=False)
    if kind == "edited_message":
        return _message(value, kind, account_id=account_id, allow_groups=allow_groups, edited=True)
    if kind == "callback_query":
        return _callback_query(value, account_id=account_id, allow_groups=allow_groups, bot_id=bot_id)
    if kind == "my_chat_member":
        return _my_chat_member(value, account_id=account_id)
    signal = SIGNALS.get(kind)
    if signal is not None:
        raise Ignored(f"{signal} ({kind}) is not taken by this channel")
    refused = NOT_TAKEN.get(kind)
    if refused is not None:
        raise PayloadError(f"{refused} ({kind}) is not taken by this channel")
    # A layout we do not know is not a choice to skip it: refused, so the quarantine keeps it for a parser
    # that will know it.
    raise PayloadError(f"an update of unknown type {_oneline(kind)!r}")


def updates_in(payload: Any) -> tuple[list[Any], str | None]:
    """The updates in a file: one Update, a getUpdates result array, or a whole getUpdates answer."""
    if isinstance(payload, Mapping) and "ok" in payload and "update_id" not in payload:
        if payload.get("ok") is not True:
            return [], f"a failed Bot API answer: {_oneline(payload.get('description') or 'no description')}"
        payload = payload.get("result")
        if not isinstance(payload, list):
            return [], "a Bot API answer whose result is not a list of updates"
    if isinstance(payload, list):
        return list(payload), None
    if isinstance(payload, Mapping):
        return [payload], None
    return [], "expected an Update object or an array of them"


def parse_file(
    data: bytes, name: str, *, account: AccountContext, region: str = "RU"
) -> Iterator[Parsed | PayloadError]:
    """`okno ingest telegram FILE.json`: each update → an item, or a PayloadError naming why not."""
    allow_groups = account.options.get("allow_groups") is True
    return items_of_file(
        data,
        updates_in,
        lambda entry: parse_update(entry, account_id=account.id, allow_groups=allow_groups),
        "update",
        lambda payload, entries: len(entries) > 1 or isinstance(payload, list),
    )
