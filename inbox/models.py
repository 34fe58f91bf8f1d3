"""ORM models of the domain (SQLAlchemy 2, typed mappings).

They live in `inbox`, not in `hub`, because the domain services query them and `inbox` must not import
`hub`; `hub` owns only the engine, sessions and migrations. Timestamps are stored as timezone-aware UTC
(`UtcDateTime`) so SQLite and PostgreSQL give the same values back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, orm_insert_sentinel, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


# SQLite keeps a DATETIME as this text (sqlalchemy.dialects.sqlite.DATETIME's default storage format).
_SQLITE_DATETIME_FORMAT = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no offset of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        """On SQLite, one function where the default chain calls two (`process_bind_param`, then SQLite's
        DATETIME formatting through a dict): the same text, written for every time of every row ingested."""
        impl = self.impl_instance.dialect_impl(dialect)
        if dialect.name != "sqlite" or getattr(impl, "_storage_format", None) != _SQLITE_DATETIME_FORMAT:
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime given where UTC is required")
            # "YYYY-MM-DD HH:MM:SS.ffffff+00:00" without its offset: SQLite DATETIME's storage format.
            return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Integer on SQLite (so it is the rowid alias and autoincrements), BIGINT on PostgreSQL.
IdType = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class BulkInserted:
    """Tables the ingest path inserts many rows into at once.

    SQLite cannot promise the order of rows returned by a multi-row INSERT ... RETURNING, so without a
    sentinel column SQLAlchemy falls back to one INSERT per row to learn each new id (3x slower ingest).
    The sentinel is a nullable integer that SQLAlchemy fills and reads back only during such inserts.
    """

    _sentinel: Mapped[int] = orm_insert_sentinel()


agent_teams = Table(
    "agent_teams",
    Base.metadata,
    Column("agent_id", ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
)


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Routing (inbox.routing): how dialogs are handed out, the capacity of a member who has none of
    # their own, and how long an assigned dialog may wait for a human reply before it moves on.
    strategy: Mapped[str] = mapped_column(String(20), default="round_robin", server_default="round_robin")
    agent_capacity: Mapped[int | None]
    answer_timeout_seconds: Mapped[int | None]
    agents: Mapped[list[Agent]] = relationship(secondary=agent_teams, back_populates="teams")


class Agent(Base):
    __tablename__ = "agents"
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="agent")  # agent | supervisor | admin
    capacity: Mapped[int | None] = mapped_column(default=None)  # None: the team's default (inbox.routing)
    # The availability the agent sets: online | busy | offline (only "online" with a live socket routes).
    status: Mapped[str] = mapped_column(String(10), default="offline", server_default="offline")
    status_changed_at: Mapped[datetime | None]
    last_assigned_at: Mapped[datetime | None]  # round robin: the least recently given goes first
    last_socket_at: Mapped[datetime | None]  # when their last socket anywhere closed
    channel_capacity: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # e.g. {"webchat": 3}
    extension: Mapped[str | None] = mapped_column(String(32), index=True)
    language: Mapped[str | None] = mapped_column(String(8))
    # The IANA zone the agent reads times in (inbox.agents.set_timezone); None: the hub's business hours'.
    timezone: Mapped[str | None] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    teams: Mapped[list[Team]] = relationship(secondary=agent_teams, back_populates="agents")


class ApiToken(Base):
    """A bearer token for the API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]


class WebSession(Base):
    """A browser session: the cookie holds a random token, the table its hash and the CSRF token."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class ChannelAccount(Base):
    """A configured channel account. Secrets stay in configuration; the row keeps cursor and state."""

    __tablename__ = "channel_accounts"
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    cursor: Mapped[str | None] = mapped_column(Text)
    # The key that signs a web-chat account's visitor tokens when configuration gives none
    # (inbox.signing_keys); kept apart from the cursor, which is the connector's to move.
    signing_key: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(20), default="stopped")
    state_detail: Mapped[str | None] = mapped_column(Text)
    state_changed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Contact(BulkInserted, Base):
    """A client card."""

    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_created", "created_at"),)  # the leads report (0011_report_speed)
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    company: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10), default="lead")  # lead | client
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"), index=True)
    source_channel: Mapped[str | None] = mapped_column(String(20))
    source_detail: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    merged_at: Mapped[datetime | None]
    identities: Mapped[list[Identity]] = relationship(
        back_populates="contact", order_by="Identity.id", cascade="all, delete-orphan"
    )


class Identity(BulkInserted, Base):
    """(kind, normalized value) → contact. Not unique across cards: two cards sharing one are duplicates.

    `trust` is "vouched" (a platform said so; matching senders uses only these) or "typed" (a visitor
    wrote it into a form: kept on their own card as an unverified detail, never matched on).
    """

    __tablename__ = "identities"
    __table_args__ = (
        UniqueConstraint("contact_id", "kind", "value"),
        # Matching a sender (kind, value) and the search of phone digits, which reads the phones' range
        # without their rows (contact_id in it: 0017_inbox_indexes).
        Index("ix_identities_kind_value", "kind", "value", "contact_id"),
        # The phone digits' search on PostgreSQL (value LIKE '%digits%'): a trigram index of the phones,
        # made by 0017_inbox_indexes only where the pg_trgm extension can be created (not in the metadata).
        # Search by a value's prefix, any kind (inbox.search): a range read in byte order (0014_inbox_speed).
        Index("ix_identities_value", "value").ddl_if(dialect="sqlite"),
        Index("ix_identities_value", text('value COLLATE "C"')).ddl_if(dialect="postgresql"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(320))
    trust: Mapped[str] = mapped_column(String(10), default="vouched", server_default="vouched")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    contact: Mapped[Contact] = relationship(back_populates="identities")


class DuplicateCandidate(BulkInserted, Base):
    """Two cards that may be one client. Listed for a person to merge or dismiss, never merged silently."""

    __tablename__ = "duplicate_candidates"
    __table_args__ = (UniqueConstraint("contact_a_id", "contact_b_id"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    contact_a_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    contact_b_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | merged | dismissed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# A dialog waiting for an agent (inbox.routing.router.waiting), as an index's condition.
WAITING = "rules_applied_at IS NOT NULL AND assignee_id IS NULL AND status = 'open' AND team_id IS NOT NULL"


class Conversation(BulkInserted, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_contact_account_status", "contact_id", "account_id", "status"),
        Index("ix_conversations_account_visitor", "account_id", "visitor_id"),
        Index("ix_conversations_snoozed_until", "snoozed_until"),  # the scheduler's due snoozes
        # The router's reads, kept small by covering only the dialogs still waiting (partial indexes).
        Index(
            "ix_conversations_waiting",
            "team_id",
            "created_at",
            sqlite_where=text("assignee_id IS NULL AND status = 'open'"),
            postgresql_where=text("assignee_id IS NULL AND status = 'open'"),
        ),
        Index(
            "ix_conversations_unruled",
            "id",
            sqlite_where=text("rules_applied_at IS NULL"),
            postgresql_where=text("rules_applied_at IS NULL"),
        ),
        Index("ix_conversations_reroute_due", "reroute_due"),  # the scheduler's unanswered assignments
        # The open dialogs' queue counters and the lines of those waiting for an agent (inbox.queues:
        # queue_counts, queue_places; 0017_inbox_indexes): every column they read, status too (SQLite takes
        # the index for covering only with it), led by the assignee (each part of an agent's visibility, and
        # a team's line, is then a range of it), for the open ones alone — partial, so SQLite never prefers
        # it to the lists' or the scheduler's indexes (see below).
        Index(
            "ix_conversations_open",
            "assignee_id",
            "team_id",
            "channel_kind",
            "status",
            "priority",
            "queued_at",
            "created_at",
            "rules_applied_at",
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        # The teams' lines in queue order (inbox.routing.router: queue_order, waiting; 0019): a listed row's
        # place counts a range of it (inbox.queues.queue_places).
        Index(
            "ix_conversations_line",
            "team_id",
            text("priority DESC"),
            text("coalesce(queued_at, created_at)"),
            "id",
            *("queued_at", "created_at", "rules_applied_at", "assignee_id", "status"),  # read from it alone
            sqlite_where=text(WAITING),
            postgresql_where=text(WAITING),
        ),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id"))
    channel_kind: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(12), default="open")  # open|pending|snoozed|resolved
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    priority: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime | None] = mapped_column(index=True)
    waiting_since: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    first_response_due: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    snoozed_until: Mapped[datetime | None]
    blocked_reason: Mapped[str | None] = mapped_column(Text)
    # The web-chat visitor who started it: the widget shows a visitor only the conversations they started.
    visitor_id: Mapped[str | None] = mapped_column(String(64))
    # Routing: when the rules looked at it (it waits for an agent only after), when nobody could take it
    # (its place in the team's queue), when it was assigned, and when an assignment with no human reply
    # moves on to the next agent.
    rules_applied_at: Mapped[datetime | None]
    queued_at: Mapped[datetime | None]
    assigned_at: Mapped[datetime | None]
    reroute_due: Mapped[datetime | None]
    contact: Mapped[Contact] = relationship()


# A conversation's latest activity: what the agent's lists sort by (newest first, then by id). The indexes
# below hold the conversations in that order (0014_inbox_speed), so a page of a list reads its rows from an
# index in order instead of sorting the table, and a keyset cursor continues from the last row: any list
# walks the first one (status, team and assignee in it are checked before the row is read); a list of one
# assignee or one team and a status reads the others. No index leads with `status` alone: without
# statistics SQLite would prefer it to the scheduler's indexes (due snoozes, answer timeouts).
CONVERSATION_ACTIVITY = func.coalesce(Conversation.last_message_at, Conversation.created_at)
Index(
    "ix_conversations_activity",
    CONVERSATION_ACTIVITY,
    Conversation.id,
    Conversation.status,
    Conversation.team_id,
    Conversation.assignee_id,
)
Index(
    "ix_conversations_assignee_activity",
    Conversation.assignee_id,
    Conversation.status,
    CONVERSATION_ACTIVITY,
    Conversation.id,
)
Index(
    "ix_conversations_team_activity",
    Conversation.team_id,
    Conversation.status,
    CONVERSATION_ACTIVITY,
    Conversation.id,
)


class Message(BulkInserted, Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("account_id", "external_id"),
        Index("ix_messages_conversation_created", "conversation_id", "created_at"),
        Index("ix_messages_account_created", "account_id", "created_at"),  # the channels page's "last item"
        Index(  # the volume report's outbound messages (0011_report_speed)
            "ix_messages_outbound_created",
            "created_at",
            "conversation_id",
            "agent_id",
            "direction",  # SQLite reads only the index when the column of its WHERE is in it
            postgresql_where=text("direction = 'out'"),
            sqlite_where=text("direction = 'out'"),
        ),
        Index(  # client messages by conversation: the unread counts (inbox.reads, 0013_reads_tz)
            "ix_messages_inbound",
            "conversation_id",
            "id",
            "direction",  # direction, kind: SQLite then reads the index alone
            "kind",
            postgresql_where=text("direction = 'in' AND kind = 'message'"),
            sqlite_where=text("direction = 'in' AND kind = 'message'"),
        ),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id"))
    direction: Mapped[str] = mapped_column(String(4))  # in | out | note
    kind: Mapped[str] = mapped_column(String(12), default="message")
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    external_id: Mapped[str | None] = mapped_column(String(500))
    subject: Mapped[str | None] = mapped_column(String(500))
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None]
    delivery_status: Mapped[str | None] = mapped_column(String(12))  # queued|sent|delivered|failed
    delivery_error: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    conversation: Mapped[Conversation] = relationship()
    contact: Mapped[Contact | None] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="message", order_by="Attachment.id", cascade="all, delete-orphan"
    )


class ConversationRead(Base):
    """How far an agent has read a conversation (inbox.reads): client messages after the marker are unread
    for them. One row per agent and conversation, written when they open it."""

    __tablename__ = "conversation_reads"
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    last_read_message_id: Mapped[int] = mapped_column(IdType, default=0)
    read_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(BulkInserted, Base):
    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    refused: Mapped[str | None] = mapped_column(String(400))
    message: Mapped[Message] = relationship(back_populates="attachments")


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("account_id", "call_id"),
        Index("ix_calls_started", "started_at"),  # the calls report's period (0011_report_speed)
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id"))
    call_id: Mapped[str] = mapped_column(String(200))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    direction: Mapped[str] = mapped_column(String(8))  # inbound | outbound | internal
    from_number: Mapped[str | None] = mapped_column(String(40))
    to_number: Mapped[str | None] = mapped_column(String(40))
    did: Mapped[str | None] = mapped_column(String(40))
    extension: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    wait_seconds: Mapped[int | None]
    talk_seconds: Mapped[int | None]
    disposition: Mapped[str | None] = mapped_column(String(12))  # answered|missed|busy|failed|voicemail
    recording_url: Mapped[str | None] = mapped_column(String(1000))
    ad_source: Mapped[str | None] = mapped_column(String(200))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Task(Base):
    __tablename__ = "tasks"
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="todo")  # todo | callback
    title: Mapped[str] = mapped_column(String(300))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | done | cancelled
    due_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(Text)


class Template(Base):
    """A reply template of the knowledge base (see inbox.knowledge).

    `key` is stable (import updates by it); `channels` empty means every channel; `owner_id` set makes
    it an agent's personal template, seen only by that agent.
    """

    __tablename__ = "templates"
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="ru")
    tags: Mapped[list[str]] = mapped_column(default=list)
    channels: Mapped[list[str]] = mapped_column(default=list)
    usage_count: Mapped[int] = mapped_column(default=0)
    last_used_at: Mapped[datetime | None]
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KnowledgeState(Base):
    """One row: `generation` changes with every template change, so each hub process knows when its
    in-memory search index is stale (checked per search); `defaults_loaded_at` marks the shipped starter
    set as loaded once, so a default an admin deleted does not come back on the next start."""

    __tablename__ = "knowledge_state"
    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[str] = mapped_column(String(32))
    defaults_loaded_at: Mapped[datetime | None]


class ReportingEvent(BulkInserted, Base):
    """A measured fact, written in the same transaction as the fact itself."""

    __tablename__ = "reporting_events"
    __table_args__ = (
        # Covering (0011_report_speed): on SQLite the included columns follow the key.
        Index(
            "ix_reporting_events_name_occurred",
            "name",
            "occurred_at",
            postgresql_include=["team_id", "channel_kind", "agent_id"],
        ),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(30))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    value_seconds: Mapped[float | None]
    business_seconds: Mapped[float | None]
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("channel_accounts.id", ondelete="SET NULL"))
    channel_kind: Mapped[str | None] = mapped_column(String(20))
    # The knowledge-base template a reply was written from ("template_reply" events).
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id", ondelete="SET NULL"))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # e.g. a hand-over's from, to and reason


class ReportCount(Base):
    """How many reporting events of a kind the volume report reads (conversation_opened, message_received,
    message_sent) fell in one UTC hour (`width` "h": per team and channel) or one UTC day ("d": per team,
    channel and agent). Kept by triggers on reporting_events in the event's own transaction (migration
    0016_report_rollups), never written by the code; a missing team, channel or agent is 0 / ""."""

    __tablename__ = "report_counts"
    __table_args__ = ({"sqlite_with_rowid": False},)  # SQLite: the rows kept in key order
    width: Mapped[str] = mapped_column(String(1), primary_key=True)
    name: Mapped[str] = mapped_column(String(30), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    channel_kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    agent_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class ReportWaitSum(Base):
    """How many ended, measured waits of a kind (not dropped, with a value) with a value in one bucket
    (inbox.reports.wait_sums) started in one UTC hour (`width` "h"), or in one UTC day per team ("t"),
    channel ("c") or agent ("a"), and the sum of their wall-clock seconds. Kept by triggers on report_waits
    in the wait's own transaction (migration 0018_wait_rollups), never written by the code; a missing team,
    channel or agent is 0 / ""."""

    __tablename__ = "report_wait_sums"
    __table_args__ = ({"sqlite_with_rowid": False},)
    width: Mapped[str] = mapped_column(String(1), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    start: Mapped[datetime] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    channel_kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    agent_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[float]


class ConversationCount(Base):
    """How many conversations there are of a status and channel kind, in a team, assigned to an agent: what
    the inbox's queue counters add up (inbox.queues.queue_counts). Kept by triggers on conversations in the
    conversation's own transaction (migration 0019_conversation_counts), never written by the code; a
    missing team or assignee is 0."""

    __tablename__ = "conversation_counts"
    __table_args__ = ({"sqlite_with_rowid": False},)
    status: Mapped[str] = mapped_column(String(12), primary_key=True)
    team_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    assignee_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    channel_kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class ReportWait(BulkInserted, Base):
    """One wait the reports measure, written when it starts and closed when it ends (see inbox.reports).

    `kind` is first_response, reply or resolution; `team_id` is the conversation's team when the wait
    began (a figure belongs to that team); `agent_id` who ended it. `outcome` is null while the wait is
    open, "replied" or "resolved" when it ended as measured, "dropped" when the conversation was resolved
    before anyone replied (such a wait is no reply time, and no longer a pending SLA breach).
    """

    __tablename__ = "report_waits"
    __table_args__ = (
        # Covering (0011_report_speed): on SQLite the included columns follow the key, and SQLite has
        # ix_report_waits_kind_value too (kind, value_seconds, …): a percentile's rank read in value order.
        Index(
            "ix_report_waits_kind_started",
            "kind",
            "started_at",
            postgresql_include=[
                "outcome",
                "value_seconds",
                "business_seconds",
                "team_id",
                "agent_id",
                "channel_kind",
            ],
        ),
        Index("ix_report_waits_conversation_open", "conversation_id", "outcome"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("channel_accounts.id", ondelete="SET NULL"))
    channel_kind: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(10))
    value_seconds: Mapped[float | None]
    business_seconds: Mapped[float | None]


class HistoryLine(Base):
    """A line of an imported history file that was applied (`okno import history`): a line seen again,
    in the same file or another, changes nothing. `digest` is the SHA-256 of the line's canonical JSON; a
    file's conversation KEY is remembered the same way (`inbox.history.key_digest`), so a later run goes on
    with its conversation."""

    __tablename__ = "history_lines"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class Outbox(Base):
    """One outbound message to deliver: attempts, backoff, last error; `sent` or `dead` at the end."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id"))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending|sending|sent|dead
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class AgentPresence(Base):
    """How many agent sockets one hub process holds for an agent, refreshed by that process's heartbeat;
    a row older than the presence TTL belongs to a dead process and no longer counts."""

    __tablename__ = "agent_presence"
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    process_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sockets: Mapped[int] = mapped_column(default=0)
    idle_sockets: Mapped[int] = mapped_column(default=0, server_default="0")  # idle tabs: away
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class RoutingRule(Base):
    """One ordered routing rule (inbox.routing.rules): conditions → team, priority, tags and an auto-reply
    (a shared knowledge-base template, by key). First match wins."""

    __tablename__ = "routing_rules"
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(120))
    conditions: Mapped[dict[str, Any]]
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    priority: Mapped[int | None]
    tags: Mapped[list[str]] = mapped_column(default=list)
    auto_reply: Mapped[str | None] = mapped_column(String(100))  # a shared template's key
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuarantineItem(Base):
    """Something a channel received and could not take (see inbox.quarantine): kept with its raw bytes.

    The bytes are in the blob store under `sha256`; `raw` holds them only when no blob store is configured.
    (account, position, sha256) is the idempotency key: the same refused item read again from the same
    cursor position is stored once.
    """

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("account_id", "position", "sha256"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    # "" when the channel has no position for it (a push): NULL would defeat the unique key.
    position: Mapped[str] = mapped_column(String(500), default="")
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # retries after the first refusal
    retried_at: Mapped[datetime | None]


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    actor_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
