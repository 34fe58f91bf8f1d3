"""The items that cross the domain's border: what channels hand in and what the outbox hands out.

Channels normalize their platform payloads at the edge into these frozen dataclasses; nothing inside
`inbox` ever sees a platform dict. What a channel hands in is one of a closed set, :data:`InboundItem`:
a new message (:class:`InboundMessage`, also called :data:`NewMessage`), an edit of one
(:class:`MessageEdit`), a mark on the client's conversations (:class:`ConversationMark`: blocked /
unblocked), a phone-call event (:class:`CallEvent`) or something the channel could not take
(:class:`Refused`). :mod:`inbox.dispatch` maps each type to its handler; ``meta`` on an item is free-form
platform detail kept for debugging and for the connector itself, never a switch the inbox acts on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

IdentityKind = Literal["email", "phone", "telegram", "vk", "webchat", "external"]
IDENTITY_KINDS: tuple[IdentityKind, ...] = ("email", "phone", "telegram", "vk", "webchat", "external")
# "vouched": the platform says so (a Telegram/VK id, the widget's own visitor id, a caller id, an
# authenticated API sender, an e-mail From, a site-signed identifier). "typed": a person wrote it into a
# form (pre-chat, offline form); it never joins another card nor opens its history (see inbox.ingest).
Trust = Literal["vouched", "typed"]
TRUST_LEVELS: tuple[Trust, ...] = ("vouched", "typed")


@dataclass(frozen=True, slots=True)
class IdentityRef:
    """A sender's identity as the channel saw it; normalized by :mod:`inbox.identities` before use."""

    kind: IdentityKind
    value: str
    trust: Trust = "vouched"


@dataclass(frozen=True, slots=True)
class Sender:
    """Who wrote: a display name and every identity the channel knows for them."""

    identities: tuple[IdentityRef, ...]
    name: str | None = None
    username: str | None = None


@dataclass(frozen=True, slots=True)
class InboundAttachment:
    """An attachment as received. `refused` names why it was not stored (too large, unsafe).

    `content` (the bytes) is written to the blob store by the ingest path, which fills in `sha256`.
    """

    filename: str
    content_type: str
    size: int
    sha256: str | None = None
    refused: str | None = None
    content: bytes | None = field(default=None, repr=False, compare=False)


MessageKind = Literal["message", "auto_reply", "bounce", "event"]
# Where a conversation hint came from: a signed reply token only Okno can have written, or a "[#N]" subject
# tag anyone can type (which joins only its own contact's conversation; see inbox.ingest).
HintSource = Literal["reply_token", "subject_tag"]


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One inbound message, normalized.

    `account_id` is the internal id of the channel account; `external_id` is the platform's id of the
    message and the idempotency key together with the account. `references` are external ids of earlier
    messages this one answers (e-mail threading); `conversation_hint` is a conversation id the channel
    decoded from its own marks (a reply token, a "[#N]" subject), used when no reference matches and the
    conversation belongs to the same account. `kind` other than "message" is stored but never opens a new
    dialog (auto-replies, bounces, service events).

    `content_key` is for platforms whose ids senders make up (an e-mail Message-ID): a digest of what
    the sender wrote. A message whose external id is already stored with another content key is a
    different message reusing the id, not a redelivery, and is stored too (see :mod:`inbox.ingest`).
    """

    account_id: int
    external_id: str
    sender: Sender
    text: str
    html: str | None = None
    subject: str | None = None
    sent_at: datetime | None = None
    attachments: tuple[InboundAttachment, ...] = ()
    references: tuple[str, ...] = ()
    conversation_hint: int | None = None
    hint_source: HintSource | None = None
    kind: MessageKind = "message"
    offline_form: bool = False
    # Written by the account itself on the platform (a VK community's reply sent from VK, not from Okno):
    # stored as a service event; the outbox drops it when it turns out to be the echo of our own reply.
    from_account: bool = False
    content_key: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    # Opens a conversation of its own even when the sender has one open on the account (a history import's
    # new KEY: another system's second ticket of the same client); references and hints still thread it.
    own_conversation: bool = False
    raw: Any = field(default=None, compare=False, repr=False)


# The type name the issue gives a new message; ``InboundMessage`` is kept (it is used across every channel).
NewMessage = InboundMessage


@dataclass(frozen=True, slots=True)
class MessageEdit:
    """The client changed a message the hub may already hold: `message` is the new version, with the same
    external id as the original; `edited_at` is when the platform says the edit was made (timezone-aware)."""

    message: InboundMessage
    edited_at: datetime

    def __post_init__(self) -> None:
        if self.edited_at.tzinfo is None:
            raise ValueError("edited_at must be timezone-aware")

    @property
    def account_id(self) -> int:
        return self.message.account_id

    @property
    def external_id(self) -> str:
        return self.message.external_id


@dataclass(frozen=True, slots=True)
class ConversationMark:
    """Whether the client can be reached: they blocked (or unblocked) the bot, denied (or allowed) messages.

    Stored as a service event on the client's conversation for the account (never opening a dialog of its
    own); `reason` is what agents read. `external_id` makes a redelivered mark a no-op.
    """

    account_id: int
    external_id: str
    sender: Sender
    blocked: bool
    reason: str
    sent_at: datetime | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    raw: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Refused:
    """Something a channel received and could not turn into an item: kept so that nothing is lost silently.

    `raw` is the payload as received, `reason` why it was refused, `position` the channel's cursor where it
    was read (an update id, an IMAP UID, a file name and line), if any.
    """

    account_id: int
    raw: bytes = field(repr=False)
    reason: str
    position: str | None = None


CallStage = Literal["ring", "answer", "hangup", "record"]


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One event of a phone call, or a whole call record ("record": a CDR line).

    Events of one call share `call_id` and are merged onto one Call; `event_id` makes each event
    idempotent (a repeated event changes nothing). Numbers are raw here and normalized in the domain.
    """

    account_id: int
    call_id: str
    event_id: str
    stage: CallStage
    at: datetime | None = None
    direction: Literal["inbound", "outbound", "internal"] | None = None
    from_number: str | None = None
    to_number: str | None = None
    did: str | None = None
    extension: str | None = None
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    wait_seconds: int | None = None
    talk_seconds: int | None = None
    disposition: Literal["answered", "missed", "busy", "failed", "voicemail"] | None = None
    forwarded: bool = False
    recording_url: str | None = None
    caller_name: str | None = None  # the name the PBX shows for the caller (a new card's name)
    meta: Mapping[str, Any] = field(default_factory=dict)
    raw: Any = field(default=None, compare=False, repr=False)


# The closed set of what a channel hands in; inbox.dispatch has one handler for each.
InboundItem = InboundMessage | MessageEdit | ConversationMark | CallEvent | Refused


@dataclass(frozen=True, slots=True)
class OutboundAttachment:
    """A file an agent's reply carries, with its bytes (read from the blob store by the outbox worker)."""

    filename: str
    content_type: str
    content: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One reply for a connector to deliver.

    `idempotency_key` is stable for the outbox row across retries and restarts; connectors pass it to
    the platform where it deduplicates (e-mail Message-ID, VK random_id, a callback header).
    """

    outbox_id: int
    message_id: int
    account_id: int
    conversation_id: int
    idempotency_key: str
    text: str
    html: str | None
    recipients: tuple[IdentityRef, ...]
    contact_name: str | None
    agent_name: str | None
    subject: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    attachments: tuple[OutboundAttachment, ...] = ()
    buttons: tuple[str, ...] = ()  # quick answers the client can press (where the channel has buttons)
    # Sent by the hub itself (a routing rule's auto-reply), not written by a person: e-mail marks it
    # `Auto-Submitted: auto-replied` (RFC 3834) so that other systems' responders do not answer it.
    automatic: bool = False


DeliveryStatus = Literal["sent", "delivered"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a connector reports after handing a message to its platform."""

    external_id: str | None
    status: DeliveryStatus = "sent"


class DeliveryError(Exception):
    """A send failed. `permanent` failures are not retried; `retry_after` (seconds) overrides backoff.

    `blocks_conversation` marks failures agents must see on the conversation itself (a bot blocked
    by the user, messages not allowed).
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        blocks_conversation: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        self.blocks_conversation = blocks_conversation


class MessageSender(Protocol):
    """What the outbox worker calls: a connector's `send`. Raises :class:`DeliveryError` on failure."""

    async def send(self, out: OutboundMessage) -> Delivery: ...
