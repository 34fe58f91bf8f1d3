"""Routing rules: ordered conditions on a new dialog → its team, priority and tags. First match wins;
no match leaves the dialog with its account's team.

A rule (``[[routing.rules]]`` in configuration, or edited by admins through the API) reads::

    name = "refunds"
    team = "Billing"          # the team to route to (by name)
    priority = 2              # optional: the team's queue hands out higher priorities first
    tags = ["refund"]         # added to the client card
    auto_reply = "ru.out-of-hours"   # optional: a shared knowledge-base template sent to the client
    [routing.rules.when]      # every condition given must hold; none given: always
    account = ["shop"]        # channel account names
    channel = ["email"]       # channel kinds
    card = "client"           # "lead" or "client"
    tags = ["vip"]            # the card has any of these tags
    language = ["en"]         # the message's meta "language", else the card's custom field "language"
    keywords = ["refund"]     # any of these words in the text (case-insensitive)
    regex = "order\\s*#\\d+"   # a regular expression found in the text (case-insensitive)
    business_hours = false    # true: only within business hours; false: only outside them
    vip = true                # the card carries one of `[routing] vip_tags` or a truthy custom field "vip"

Rules apply once, to a dialog they have not looked at (``rules_applied_at`` empty; set after), in
the router's own transaction right after the ingest commit — the regex never runs inside the ingest's
group commit. Regular expressions are compiled when the rules are validated, so a bad one is refused
with the rule's index and key, never at routing time. Text longer than `MAX_TEXT` is matched on its
beginning only (a rule is about what a client asks, and a megabyte of mail must not stall routing).

A rule's auto-reply (see :mod:`inbox.routing.auto_reply`) is staged in the same transaction as the rule's
decision — a message of kind ``auto_reply`` and its outbox row — so it goes out at most once per dialog:
the rules look at a dialog once. Its template key must name a shared template when the rules are stored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import audit
from inbox.bus import Event
from inbox.business_hours import BusinessHours
from inbox.conversations import scope
from inbox.knowledge.templates import KEY
from inbox.models import ChannelAccount, Contact, Conversation, Message, RoutingRule, Team, Template
from inbox.routing.auto_reply import AutoReplies, stage_auto_reply
from inbox.routing.router import keep_in_step

MAX_TEXT = 10_000
MAX_RULES = 200


class RuleError(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Conditions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: list[str] = Field(default_factory=list, max_length=100)
    channel: list[str] = Field(default_factory=list, max_length=20)
    card: Literal["lead", "client"] | None = None
    tags: list[str] = Field(default_factory=list, max_length=50)
    language: list[str] = Field(default_factory=list, max_length=20)
    keywords: list[str] = Field(default_factory=list, max_length=200)
    regex: str | None = Field(None, max_length=1000)
    business_hours: bool | None = None
    vip: bool | None = None

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value


class RuleSpec(BaseModel):
    """One rule as written in configuration or sent by an admin."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=120)
    team: str | None = Field(None, min_length=1, max_length=120)
    priority: int | None = Field(None, ge=0, le=10)
    tags: list[str] = Field(default_factory=list, max_length=20)
    auto_reply: str | None = Field(None, max_length=100, pattern=KEY.pattern)
    when: Conditions = Field(default_factory=Conditions)


def parse_rules(raw: Sequence[Any]) -> list[RuleSpec]:
    """Validate rules; the error names the rule's index and the bad key (``rules[2].when.regex``)."""
    if len(raw) > MAX_RULES:
        raise RuleError(f"at most {MAX_RULES} rules", "rules")
    specs = []
    for index, item in enumerate(raw):
        try:
            specs.append(RuleSpec.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise RuleError(f"rules[{index}].{where}: {first['msg']}", f"rules[{index}].{where}") from None
    return specs


@dataclass(frozen=True, slots=True)
class Facts:
    """What the conditions look at, for one new dialog."""

    account: str
    channel: str
    card: str
    tags: frozenset[str]
    language: str | None
    text: str
    in_business_hours: bool
    vip: bool = False


FALSE_WORDS = frozenset({"", "0", "false", "no", "off", "нет"})


def is_vip(tags: Sequence[str] | None, custom_fields: dict[str, Any] | None, vip_tags: Sequence[str]) -> bool:
    """A VIP card carries one of `vip_tags` (``[routing] vip_tags``) or a truthy custom field ``vip``
    (a word like "false", "no", "0" or "нет" is not truthy)."""
    if set(tags or ()).intersection(vip_tags):
        return True
    flag = (custom_fields or {}).get("vip")
    if isinstance(flag, str):
        return flag.strip().casefold() not in FALSE_WORDS
    return bool(flag)


def matches(when: Conditions, facts: Facts) -> bool:
    if when.account and facts.account not in when.account:
        return False
    if when.channel and facts.channel not in when.channel:
        return False
    if when.card is not None and facts.card != when.card:
        return False
    if when.tags and not facts.tags.intersection(when.tags):
        return False
    if when.language and facts.language not in when.language:
        return False
    text = facts.text[:MAX_TEXT]
    if when.keywords and not any(k.casefold() in text.casefold() for k in when.keywords):
        return False
    if when.regex is not None and re.search(when.regex, text, re.IGNORECASE) is None:
        return False
    if when.vip is not None and facts.vip != when.vip:
        return False
    return when.business_hours is None or when.business_hours == facts.in_business_hours


def first_match(rules: Sequence[RuleSpec], facts: Facts) -> RuleSpec | None:
    return next((rule for rule in rules if matches(rule.when, facts)), None)


async def load_rules(session: AsyncSession) -> list[tuple[RuleSpec, int | None]]:
    """The stored rules in order, each with its team's id."""
    rows = await session.scalars(select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id))
    teams = {t.id: t.name for t in await session.scalars(select(Team))}
    found = []
    for row in rows:
        spec = RuleSpec(
            name=row.name,
            team=teams.get(row.team_id) if row.team_id is not None else None,
            priority=row.priority,
            tags=list(row.tags),
            auto_reply=row.auto_reply,
            when=Conditions.model_validate(row.conditions),
        )
        found.append((spec, row.team_id))
    return found


async def store_rules(
    session: AsyncSession, specs: Sequence[RuleSpec], *, actor_id: int | None, create_teams: bool = False
) -> None:
    """Replace the stored rules by `specs`, in order (audited); the caller commits. A team or an
    auto-reply template that does not exist is a :class:`RuleError` naming ``rules[i].team`` or
    ``rules[i].auto_reply``."""
    team_ids: list[int | None] = []
    keys = {spec.auto_reply for spec in specs if spec.auto_reply is not None}
    shared = set(
        await session.scalars(select(Template.key).where(Template.key.in_(keys), Template.owner_id.is_(None)))
        if keys
        else ()
    )
    for index, spec in enumerate(specs):
        if spec.auto_reply is not None and spec.auto_reply not in shared:
            raise RuleError(
                f"rules[{index}].auto_reply: no shared template has the key {spec.auto_reply!r}",
                f"rules[{index}].auto_reply",
            )
        if spec.team is None:
            team_ids.append(None)
            continue
        team = await session.scalar(select(Team).where(Team.name == spec.team))
        if team is None and create_teams:
            team = Team(name=spec.team)
            session.add(team)
            await session.flush()
        if team is None:
            raise RuleError(f"rules[{index}].team: team {spec.team!r} not found", f"rules[{index}].team")
        team_ids.append(team.id)
    await session.execute(delete(RoutingRule))
    for position, (spec, team_id) in enumerate(zip(specs, team_ids, strict=True)):
        session.add(
            RoutingRule(
                position=position,
                name=spec.name,
                conditions=spec.when.model_dump(exclude_defaults=True),
                team_id=team_id,
                priority=spec.priority,
                tags=list(spec.tags),
                auto_reply=spec.auto_reply,
            )
        )
    audit.record(
        session,
        "routing.rules",
        entity="routing_rules",
        actor_agent_id=actor_id,
        detail={"rules": [s.name for s in specs]},
    )
    await session.flush()


async def apply_rules(
    session: AsyncSession,
    now: datetime,
    hours: BusinessHours,
    *,
    limit: int = 200,
    vip_tags: Sequence[str] = ("vip",),
    auto_replies: AutoReplies | None = None,
) -> list[Event]:
    """Apply the first matching rule to each open, unassigned dialog the rules have not looked at yet and
    mark it looked at; only then does the router hand it out. A dialog left with no team is in the
    shared queue (``queued_at``): agents take it by hand. A rule's auto-reply is staged here too (see
    :mod:`inbox.routing.auto_reply`; `auto_replies` says what the hub's channels can carry). The caller
    commits."""
    fresh = (
        Conversation.assignee_id.is_(None),
        Conversation.status == "open",
        Conversation.rules_applied_at.is_(None),
    )
    rules = await load_rules(session)
    if not rules:  # the common case, in two statements: mark them looked at, team-less ones queued
        ids = list(
            await session.scalars(
                select(Conversation.id).where(*fresh).order_by(Conversation.id).limit(limit)
            )
        )
        if ids:
            table = cast(Table, Conversation.__table__)
            await session.execute(update(table).where(table.c.id.in_(ids)).values(rules_applied_at=now))
            teamless = await session.scalars(
                update(table)
                .where(table.c.id.in_(ids), table.c.team_id.is_(None))
                .values(queued_at=now)
                .returning(table.c.id)
            )
            for conv_id in ids:
                keep_in_step(session, Conversation, conv_id, rules_applied_at=now)
            for conv_id in teamless:
                keep_in_step(session, Conversation, conv_id, queued_at=now)
        return []
    stmt = select(Conversation).where(*fresh).order_by(Conversation.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    convs = list(await session.scalars(stmt.execution_options(populate_existing=True)))
    if not convs:
        return []
    events: list[Event] = []
    in_hours = hours.is_open(now)
    accounts = {a.id: a.name for a in await session.scalars(select(ChannelAccount))}
    for conv in convs:
        conv.rules_applied_at = now
        if rules:
            contact = await session.get_one(Contact, conv.contact_id)
            first = await session.scalar(
                select(Message)
                .where(Message.conversation_id == conv.id, Message.direction == "in")
                .order_by(Message.id)
                .limit(1)
            )
            language = (first.meta or {}).get("language") if first is not None else None
            facts = Facts(
                account=accounts.get(conv.account_id, ""),
                channel=conv.channel_kind,
                card=contact.kind,
                tags=frozenset(contact.tags or ()),
                language=str(language or (contact.custom_fields or {}).get("language") or "") or None,
                text=first.body_text if first is not None else "",
                in_business_hours=in_hours,
                vip=is_vip(contact.tags, contact.custom_fields, vip_tags),
            )
            for spec, team_id in rules:
                if not matches(spec.when, facts):
                    continue
                if team_id is not None:
                    conv.team_id = team_id
                if spec.priority is not None:
                    conv.priority = spec.priority
                if spec.tags:
                    contact.tags = sorted(set(contact.tags or ()) | set(spec.tags))
                audit.record(
                    session,
                    "routing.rule",
                    entity="conversation",
                    entity_id=conv.id,
                    detail={"rule": spec.name, "team_id": conv.team_id, "priority": conv.priority},
                )
                events.append(
                    Event("conversation.updated", **scope(conv), data={"rule": spec.name, "reason": "rule"})
                )
                if spec.auto_reply is not None:
                    events += await stage_auto_reply(
                        session,
                        conv,
                        first,
                        rule=spec.name,
                        key=spec.auto_reply,
                        now=now,
                        replies=auto_replies or AutoReplies(),
                    )
                break
        if conv.team_id is None:
            conv.queued_at = now  # the shared queue: agents take it by hand
    await session.flush()
    return events
