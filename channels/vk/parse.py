"""VK community events (Callback API bodies, Bots Long Poll updates) → inbound items, as pure functions.

One event gives one item or a reason: :class:`Ignored` for a well-formed event the hub deliberately does not
take, :class:`PayloadError` for anything else it cannot take — a malformed event, an event type it does not
handle, a message with nothing to show. Both carry a one-line reason; nothing else is ever raised, whatever
the payload. The connector logs an ignored event and hands a refused one to the quarantine (a ``Refused``
item with the event's JSON), so nothing a community receives ends only as a log line.

Ignored by design — signals that carry nothing a client wrote to the community (:data:`SIGNALS`):

* ``confirmation`` (the Callback API's address check), ``message_typing_state``, ``message_read``,
  ``message_reaction_event``, ``like_add`` / ``like_remove``, ``group_join`` / ``group_leave``,
  ``poll_vote_new``, ``user_block`` / ``user_unblock`` (a community admin's action),
  ``group_officers_edit``, ``group_change_settings``, ``group_change_photo``;
* within message events: the community's own messages (``out``, ``admin_author_id``; a reply sent through
  Okno comes back as ``message_reply`` and is a duplicate, or an echo the connector drops by its
  ``random_id``), messages of other communities and dialogs with one, group chats while ``allow_groups`` is
  off, chat service messages (``action``: someone joined, the title changed), and a ``message_reply`` in a
  group chat.

Everything else is refused, so the quarantine keeps it for a parser that will take it: wall, photo, video,
board and market comments, wall posts, market orders, ``message_event`` (a callback button: our keyboards
send text buttons, which arrive as ``message_new``), VK Pay and Donut events, and any type VK adds. A
community that does not want those should switch them off in its Callback API or Long Poll settings.

* ``message_new`` (API ≥ 5.103: ``object.message`` plus ``client_info``; older: the message itself): text,
  attachments — photo, doc and audio_message as files (their URLs in ``meta["vk"]["files"]``, fetched by the
  connector), an audio message's transcript when VK has one, sticker, wall post, video, link and others as
  labelled lines — a reply (threaded by ``references``) and forwarded messages (quoted in the text).
* ``message_edit`` of a client's message: the new version, marked with :class:`inbox.items.MessageEdit`.
* ``message_reply``: a message the community sent. A reply sent through Okno was stored under the id
  ``messages.send`` returned, which is this event's id, so the ingest path finds it a duplicate; one sent from
  VK's own interface is kept on the client's conversation as an event (kind ``"event"``), never as something
  the client wrote.
* ``message_allow`` / ``message_deny``: conversation marks (:class:`inbox.items.ConversationMark`).

Senders are ``vk:<user id>``; names come from users.get in the connector (events carry none). Group chats
(``peer_id`` ≥ 2000000000) are ignored unless ``allow_groups``; messages from other communities always are.
External ids are VK message ids; a chat message without one is ``<peer id>_<conversation message id>``.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import Iterator, Mapping
from dataclasses import replace
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

__all__ = ["CHAT_PEER_OFFSET", "SIGNALS", "Ignored", "events_in", "parse_event", "parse_file"]

CHAT_PEER_OFFSET = 2_000_000_000
FORWARD_DEPTH = 3
# Event types skipped by design, with what to say about them: none carries anything a client wrote.
SIGNALS = {
    "confirmation": "a Callback API confirmation request (nothing to ingest)",
    "message_typing_state": "a typing notice",
    "message_read": "a read receipt",
    "message_reaction_event": "a reaction to a message",
    "like_add": "a like",
    "like_remove": "a like taken back",
    "group_join": "someone joined the community",
    "group_leave": "someone left the community",
    "poll_vote_new": "a poll vote",
    "user_block": "the community blocked a user",
    "user_unblock": "the community unblocked a user",
    "group_officers_edit": "a change of the community's officers",
    "group_change_settings": "a change of the community's settings",
    "group_change_photo": "a change of the community's photo",
}


def _opt_int(value: Any) -> int | None:
    """An integer (or a string of digits) within 64 bits, else None."""
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) < 20:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
        return None
    return value


def _int(value: Any, field: str) -> int:
    number = _opt_int(value)
    if number is None:
        raise PayloadError("expected an integer" if value is not None else "missing", field)
    return number


def _when(value: Any) -> datetime | None:
    stamp = _opt_int(value)
    if stamp is None or stamp <= 0:
        return None
    try:
        return datetime.fromtimestamp(stamp, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _duration(value: Any) -> str:
    seconds = _opt_int(value)
    if seconds is None or seconds < 0:
        return ""
    return f", {seconds // 60}:{seconds % 60:02d}"


def _size(value: Any) -> int:
    size = _opt_int(value)
    return size if size is not None and size >= 0 else 0


def _biggest_photo_url(photo: Mapping[str, Any]) -> str | None:
    orig = photo.get("orig_photo")
    if isinstance(orig, Mapping) and _str(orig.get("url")):
        return str(orig["url"])
    best: str | None = None
    best_area = -1
    sizes = photo.get("sizes")
    for size in sizes if isinstance(sizes, list) else ():
        if not isinstance(size, Mapping) or not _str(size.get("url")):
            continue
        width, height = _opt_int(size.get("width")) or 0, _opt_int(size.get("height")) or 0
        if width * height > best_area:
            best, best_area = str(size["url"]), width * height
    if best is None:  # API versions before sizes[]: photo_75 … photo_2560
        for key in ("photo_2560", "photo_1280", "photo_807", "photo_604", "photo_130", "photo_75"):
            if _str(photo.get(key)):
                return str(photo[key])
    return best


class _Rendered:
    def __init__(self) -> None:
        self.lines: list[str] = []  # what files cannot show: stickers, wall posts, links, transcripts
        self.file_labels: list[str] = []
        self.attachments: list[InboundAttachment] = []
        self.files: list[dict[str, Any]] = []

    def add_file(self, attachment: InboundAttachment, kind: str, url: str | None, label: str) -> None:
        attachment = replace(
            attachment, filename=attachment.filename[:255], content_type=attachment.content_type[:120]
        )
        self.attachments.append(attachment)
        self.files.append({"kind": kind, "url": url, "size": attachment.size or None})
        self.file_labels.append(label)


def _attachment(att: Mapping[str, Any], out: _Rendered) -> None:
    kind = _str(att.get("type")) or "unknown"
    body = att.get(kind)
    obj: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    ident = f"{obj.get('owner_id', '')}_{obj.get('id', '')}".strip("_") or "0"
    if kind == "photo":
        url = _biggest_photo_url(obj)
        out.add_file(
            InboundAttachment(filename=f"photo{ident}.jpg", content_type="image/jpeg", size=0),
            "photo",
            url,
            "[Photo]",
        )
        if _str(obj.get("text")):
            out.lines.append(f"[Photo caption: {_oneline(obj['text'], 300)}]")
    elif kind == "doc":
        title = _safe_name(obj.get("title"), f"doc{ident}")
        ext = _str(obj.get("ext"))
        if ext and not title.lower().endswith("." + ext.lower()):
            title = f"{title}.{ext}"[:255]
        mime = mimetypes.guess_type(title)[0] or "application/octet-stream"
        out.add_file(
            InboundAttachment(filename=title, content_type=mime, size=_size(obj.get("size"))),
            "doc",
            _str(obj.get("url")),
            f"[Document: {_oneline(title)}]",
        )
    elif kind == "audio_message":
        url = _str(obj.get("link_ogg")) or _str(obj.get("link_mp3"))
        is_ogg = bool(_str(obj.get("link_ogg")))
        filename = f"voice{ident}.{'ogg' if is_ogg else 'mp3'}"
        label = f"[Voice message{_duration(obj.get('duration'))}]"
        out.add_file(
            InboundAttachment(
                filename=filename, content_type="audio/ogg" if is_ogg else "audio/mpeg", size=0
            ),
            "audio_message",
            url,
            label,
        )
        transcript = _str(obj.get("transcript"))
        if transcript:
            out.lines.append(f"{label} Transcript: {transcript}")
    elif kind == "sticker":
        out.lines.append("[Sticker]")
    elif kind == "wall":
        owner = _opt_int(obj.get("owner_id")) or _opt_int(obj.get("to_id")) or _opt_int(obj.get("from_id"))
        post_id = _opt_int(obj.get("id"))
        link = f"https://vk.com/wall{owner}_{post_id}" if owner is not None and post_id is not None else "?"
        text = _str(obj.get("text"))
        author = obj.get("from")  # the community (or person) whose post it is, where VK includes it
        name = _str(author.get("name")) if isinstance(author, Mapping) else None
        label = f"Wall post of {_oneline(name, 200)}" if name else "Wall post"
        out.lines.append(f"[{label}: {link}]" + (f" {_oneline(text, 500)}" if text else ""))
    elif kind == "wall_reply":
        out.lines.append(f"[Wall comment: {_oneline(obj.get('text') or '', 300)}]")
    elif kind == "video":
        out.lines.append(
            f"[Video: {_oneline(obj.get('title') or 'untitled')}{_duration(obj.get('duration'))}]"
        )
    elif kind == "audio":
        who = " – ".join(p for p in (_str(obj.get("artist")), _str(obj.get("title"))) if p)
        out.lines.append(f"[Audio: {_oneline(who or 'untitled')}{_duration(obj.get('duration'))}]")
    elif kind == "link":
        out.lines.append(f"[Link: {_oneline(obj.get('url') or '', 300)}]")
    elif kind == "market":
        out.lines.append(f"[Product: {_oneline(obj.get('title') or 'untitled')}]")
    elif kind == "poll":
        out.lines.append(f"[Poll: {_oneline(obj.get('question') or '')}]")
    elif kind == "graffiti":
        out.lines.append("[Graffiti]")
    elif kind == "gift":
        out.lines.append("[Gift]")
    elif kind == "story":
        out.lines.append("[Story]")
    elif kind == "call":
        out.lines.append("[Call]")
    else:
        out.lines.append(f"[Attachment: {_oneline(kind, 40)}]")


def _render(msg: Mapping[str, Any], depth: int = 0) -> tuple[str, _Rendered]:
    """A message's text for agents (its own text, then what attachments, location and forwards add)."""
    rendered = _Rendered()
    atts = msg.get("attachments")
    for att in atts if isinstance(atts, list) else ():
        if isinstance(att, Mapping):
            _attachment(att, rendered)
    lines = [str(msg["text"])] if _str(msg.get("text")) else []
    lines.extend(rendered.lines)
    geo = msg.get("geo")
    if isinstance(geo, Mapping) and isinstance(geo.get("coordinates"), Mapping):
        coords = geo["coordinates"]
        lat, lon = coords.get("latitude"), coords.get("longitude")
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            lines.append(f"[Location: {lat:.6f}, {lon:.6f}]")
    forwards = msg.get("fwd_messages")
    for fwd in forwards if isinstance(forwards, list) else ():
        if not isinstance(fwd, Mapping):
            continue
        if depth >= FORWARD_DEPTH:
            lines.append("[Forwarded messages nested deeper are not shown]")
            break
        inner, inner_rendered = _render(fwd, depth + 1)
        author = _opt_int(fwd.get("from_id"))
        shown = inner or " ".join(inner_rendered.file_labels) or "(empty)"
        quoted = "\n".join("> " + line for line in shown.splitlines())
        # A negative id is a community (its page is vk.com/club<id>), not a person.
        page = f"vk.com/club{-author}" if author and author < 0 else f"vk.com/id{author}" if author else None
        lines.append(f"[Forwarded message from {page}]\n{quoted}" if page else f"[Forwarded]\n{quoted}")
    if not lines and rendered.file_labels:
        lines = list(rendered.file_labels)
    return "\n".join(lines), rendered


def _external_id(msg: Mapping[str, Any], peer_id: int) -> str:
    message_id = _opt_int(msg.get("id"))
    if message_id:
        return str(message_id)
    conversation_message_id = _opt_int(msg.get("conversation_message_id"))
    if conversation_message_id:
        return f"{peer_id}_{conversation_message_id}"
    raise PayloadError("a message with neither id nor conversation_message_id", "object.id")


def _check_peer(peer_id: int, allow_groups: bool) -> None:
    if peer_id >= CHAT_PEER_OFFSET and not allow_groups:
        raise Ignored("a group chat message (groups are off for this account: allow_groups)")
    if peer_id < 0:
        raise Ignored("a message in a dialog with a community")


def _message(
    msg_value: Any, field: str, *, account_id: int, allow_groups: bool, event_type: str
) -> InboundMessage | MessageEdit:
    msg = _obj(msg_value, field)
    peer_id = _int(msg.get("peer_id"), f"{field}.peer_id")
    from_id = _int(msg.get("from_id"), f"{field}.from_id")
    _check_peer(peer_id, allow_groups)
    if msg.get("out") == 1 or msg.get("admin_author_id") is not None:
        raise Ignored(f"{event_type} of a message the community sent")
    if from_id < 0:
        raise Ignored("a message written by a community")
    action = msg.get("action")
    if isinstance(action, Mapping):
        raise Ignored(f"a chat service message ({_oneline(action.get('type') or 'action', 40)})")
    external_id = _external_id(msg, peer_id)
    text, rendered = _render(msg)
    if not text.strip() and not rendered.attachments:
        fields = sorted(str(k) for k in msg if k not in ("id", "peer_id", "from_id", "date", "out"))
        raise PayloadError(
            f"a message with nothing this channel shows (fields: {_oneline(', '.join(fields))})"
        )
    vk: dict[str, Any] = {"peer_id": peer_id, "from_id": from_id, "message_id": _opt_int(msg.get("id"))}
    cmid = _opt_int(msg.get("conversation_message_id"))
    if cmid is not None:
        vk["conversation_message_id"] = cmid
    if rendered.files:
        vk["files"] = rendered.files
    if _str(msg.get("payload")):
        vk["payload"] = msg["payload"]
    meta: dict[str, Any] = {"vk": vk}
    references: tuple[str, ...] = ()
    reply = msg.get("reply_message")
    if isinstance(reply, Mapping):
        reply_id = _opt_int(reply.get("id"))
        reply_cmid = _opt_int(reply.get("conversation_message_id"))
        reply_ext = str(reply_id) if reply_id else (f"{peer_id}_{reply_cmid}" if reply_cmid else None)
        if reply_ext:
            references = (reply_ext,)
            meta["reply_to"] = {"external_id": reply_ext, "text": (_str(reply.get("text")) or "")[:300]}
    item = InboundMessage(
        account_id=account_id,
        external_id=external_id,
        sender=Sender((IdentityRef("vk", str(from_id)),)),
        text=text,
        sent_at=_when(msg.get("date")),
        attachments=tuple(rendered.attachments),
        references=references,
        meta=meta,
        raw=msg,
    )
    if event_type == "message_edit":
        edited_at = _when(msg.get("update_time")) or datetime.now(UTC)
        return MessageEdit(item, edited_at)
    return item


def _community_reply(value: Any, *, account_id: int, allow_groups: bool) -> InboundMessage:
    msg = _obj(value, "object")
    peer_id = _int(msg.get("peer_id"), "object.peer_id")
    _check_peer(peer_id, allow_groups)
    if peer_id >= CHAT_PEER_OFFSET:
        raise Ignored("a community message in a group chat")
    external_id = _external_id(msg, peer_id)
    text, _ = _render(msg)
    vk: dict[str, Any] = {
        "peer_id": peer_id,
        "message_id": _opt_int(msg.get("id")),
        "outgoing": True,
        "admin_author_id": _opt_int(msg.get("admin_author_id")),
        "random_id": _opt_int(msg.get("random_id")),
    }
    return InboundMessage(
        account_id=account_id,
        external_id=external_id,
        sender=Sender((IdentityRef("vk", str(peer_id)),)),
        text=f"[Sent by the community from VK]\n{text}" if text else "[Sent by the community from VK]",
        sent_at=_when(msg.get("date")),
        kind="event",
        from_account=True,
        meta={"vk": vk},
        raw=msg,
    )


def _permission(event: Mapping[str, Any], *, account_id: int, allowed: bool) -> ConversationMark:
    obj = _obj(event.get("object"), "object")
    user_id = _int(obj.get("user_id"), "object.user_id")
    if user_id <= 0:
        raise PayloadError("expected a user id", "object.user_id")
    kind = "allow" if allowed else "deny"
    event_id = _str(event.get("event_id"))
    if event_id is None:
        digest = hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
        event_id = f"{user_id}:{digest}"
    reason = (
        "The user allowed messages from the community"
        if allowed
        else "The user denied messages from the community"
    )
    return ConversationMark(
        account_id=account_id,
        external_id=f"{kind}:{event_id}"[:500],
        sender=Sender((IdentityRef("vk", str(user_id)),)),
        blocked=not allowed,
        reason=reason,
        meta={"vk": {"peer_id": user_id, "event": f"message_{kind}"}},
        raw=event,
    )


def message_of(event: Mapping[str, Any]) -> Any:
    """The message object of a message event (5.103+: ``object.message``; earlier: the object itself)."""
    obj = event.get("object")
    if isinstance(obj, Mapping) and isinstance(obj.get("message"), Mapping):
        return obj["message"]
    return obj


def parse_event(
    event: Any, *, account_id: int, allow_groups: bool = False, group_id: int | None = None
) -> Parsed:
    """One event → one item; :class:`Ignored` or :class:`PayloadError` (one line each) otherwise."""
    return one_item(
        lambda: _parse_event(event, account_id=account_id, allow_groups=allow_groups, group_id=group_id),
        "event",
    )


def _parse_event(event: Any, *, account_id: int, allow_groups: bool, group_id: int | None) -> Parsed:
    if not isinstance(event, Mapping):
        raise PayloadError("an event must be a JSON object")
    kind = _str(event.get("type"))
    if kind is None:
        raise PayloadError("missing", "type")
    if (
        group_id is not None
        and event.get("group_id") is not None
        and _opt_int(event.get("group_id")) != group_id
    ):
        raise PayloadError(
            f"an event of community {_oneline(event.get('group_id'))}, not {group_id}", "group_id"
        )
    signal = SIGNALS.get(kind)
    if signal is not None:
        raise Ignored(f"{signal} ({kind}): a signal this channel does not take")
    if kind in ("message_new", "message_edit"):
        obj = event.get("object")
        wrapped = (
            kind == "message_new" and isinstance(obj, Mapping) and isinstance(obj.get("message"), Mapping)
        )
        field = "object.message" if wrapped else "object"
        return _message(
            message_of(event), field, account_id=account_id, allow_groups=allow_groups, event_type=kind
        )
    if kind == "message_reply":
        return _community_reply(event.get("object"), account_id=account_id, allow_groups=allow_groups)
    if kind == "message_allow":
        return _permission(event, account_id=account_id, allowed=True)
    if kind == "message_deny":
        return _permission(event, account_id=account_id, allowed=False)
    # Not a choice to skip it: refused, so the quarantine keeps it for a parser that will take it.
    raise PayloadError(f"a {_oneline(kind, 40)} event is not taken by this channel")


def events_in(payload: Any) -> tuple[list[Any], str | None]:
    """The events in a file: a Callback API body, a long-poll answer, or an array of events."""
    if isinstance(payload, list):
        return list(payload), None
    if not isinstance(payload, Mapping):
        return [], "expected a Callback API body, a long-poll answer or an array of events"
    if "failed" in payload and "updates" not in payload:
        return [], f"a long-poll answer with failed={_oneline(payload.get('failed'), 20)} carries no events"
    if "updates" in payload:
        updates = payload.get("updates")
        if not isinstance(updates, list):
            return [], "a long-poll answer whose updates are not a list"
        return list(updates), None
    if "error" in payload and "type" not in payload:
        return [], "a VK API error answer carries no events"
    return [payload], None


def parse_file(
    data: bytes, name: str, *, account: AccountContext, region: str = "RU"
) -> Iterator[Parsed | PayloadError]:
    """`okno ingest vk FILE.json`: each event → an item, or a PayloadError naming why not."""
    allow_groups = account.options.get("allow_groups") is True
    return items_of_file(
        data,
        events_in,
        lambda entry: parse_event(entry, account_id=account.id, allow_groups=allow_groups),
        "event",
        lambda payload, entries: len(entries) > 1 or isinstance(payload, list) or "updates" in payload,
    )
