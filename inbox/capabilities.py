"""What a channel can carry in a reply, and the check that refuses a reply it cannot.

Each connector declares a frozen :class:`Capabilities` (channels/base.py exposes it per kind); the reply
service (:func:`inbox.replies.check_reply`) checks an agent's reply against the capabilities of the account
it will leave through *before* it is stored, so a reply the channel cannot carry is refused with the reason
(422 on the API) instead of being queued to fail, or shown "sent" with its files dropped. The type lives in
the domain because the domain does the checking; channels only fill it in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What `send` can carry on one channel kind.

    `attachment_kinds` are MIME types (``"image/png"``) or families (``"image/*"``); empty means any type.
    `max_attachment_bytes` bounds each file, 0 meaning no bound of the channel's own (the hub's total limit
    still holds).
    """

    text: bool = True
    attachments: bool = False
    max_attachment_bytes: int = 0
    attachment_kinds: frozenset[str] = frozenset()
    edits: bool = False
    typing: bool = False
    buttons: bool = False

    def accepts_type(self, content_type: str) -> bool:
        if not self.attachment_kinds:
            return True
        family = content_type.split("/", 1)[0] + "/*"
        return content_type in self.attachment_kinds or family in self.attachment_kinds

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "attachments": self.attachments,
            "max_attachment_bytes": self.max_attachment_bytes or None,
            "attachment_kinds": sorted(self.attachment_kinds),
            "edits": self.edits,
            "typing": self.typing,
            "buttons": self.buttons,
        }


NOTHING = Capabilities(text=False)  # an account that is gone or a kind without a connector: carries nothing
