"""The template service: create, edit, import by key, delete, and count uses of reply templates.

Who may change what: admins and supervisors manage the shared templates; every agent manages their own
personal ones (`owner_id`). A personal template is seen only by its owner. Each change
- is checked (fields named in the error; a body that would not render or reaches outside the sandbox is
  refused, see :mod:`inbox.knowledge.render`),
- writes an audit row (shared templates: an admin change; personal ones too, for a complete history),
- and moves the knowledge base's generation (:func:`bump_generation`) in the same transaction, which
  tells every hub process that its search index is stale;
- and, once committed, is announced by :func:`template_event` ("template.created", "template.updated",
  "template.deleted") so that open templates pages and reply boxes refresh: a shared template to every
  agent, a personal one to its owner only.
Counting a use does not move the generation (it would rebuild every process's index on every insertion):
the use that breaks near-ties in ranking is read from the rows of the hits when they are fetched
(:func:`inbox.knowledge.search.with_use`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import audit
from inbox.bus import Event, PrivateEvent
from inbox.knowledge.render import TemplateBodyError, check
from inbox.knowledge.search import IndexedTemplate, Usage
from inbox.models import Agent, KnowledgeState, Template, utcnow

KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
LANGUAGE = re.compile(r"^[a-z]{2}$")
CHANNEL = re.compile(r"^[a-z0-9_]{1,20}$")
MAX_TITLE = 200
MAX_TAGS = 50
MAX_TAG = 100
MANAGERS = ("admin", "supervisor")
STATE_ID = 1

Outcome = Literal["created", "updated", "unchanged"]
Change = Literal["created", "updated", "deleted"]


class KnowledgeError(ValueError):
    """A template that cannot be saved or used; `field` names the offending input."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotAllowed(PermissionError):
    """The agent may not change this template (or any shared one)."""


@dataclass(frozen=True, slots=True)
class TemplateInput:
    """A template as given by a person, a file or the API, before it is checked."""

    title: str
    body: str
    key: str | None = None
    language: str = "ru"
    tags: Sequence[str] = ()
    channels: Sequence[str] = ()

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> TemplateInput:
        """From an imported entry; a missing or mistyped field is a KnowledgeError naming it."""
        unknown = set(raw) - {"key", "title", "body", "language", "tags", "channels"}
        if unknown:
            raise KnowledgeError(f"unknown field(s): {', '.join(sorted(unknown))}", sorted(unknown)[0])
        for name in ("key", "title", "body"):
            if not isinstance(raw.get(name), str):
                raise KnowledgeError(f"{name} is required and must be text", name)
        language = raw.get("language", "ru")
        if not isinstance(language, str):
            raise KnowledgeError('language must be text, e.g. "ru"', "language")
        lists: dict[str, list[str]] = {}
        for name in ("tags", "channels"):
            value = raw.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise KnowledgeError(f"{name} must be a list of text", name)
            lists[name] = value
        return cls(
            key=raw["key"],
            title=raw["title"],
            body=raw["body"],
            language=language,
            tags=lists["tags"],
            channels=lists["channels"],
        )


@dataclass(frozen=True, slots=True)
class Checked:
    key: str | None
    title: str
    body: str
    language: str
    tags: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)


def validate(data: TemplateInput) -> Checked:
    """The input, trimmed and checked; KnowledgeError names the first bad field."""
    key = data.key.strip() if data.key is not None else None
    if key is not None and not KEY.fullmatch(key):
        raise KnowledgeError(
            "key: 1–100 characters of lower-case latin letters, digits, '.', '_' and '-'", "key"
        )
    title = data.title.strip()
    if not title:
        raise KnowledgeError("title must not be empty", "title")
    if len(title) > MAX_TITLE:
        raise KnowledgeError(f"title is longer than {MAX_TITLE} characters", "title")
    if not data.body.strip():
        raise KnowledgeError("body must not be empty", "body")
    try:
        check(data.body)
    except TemplateBodyError as exc:
        raise KnowledgeError(str(exc), "body") from None
    language = data.language.strip().lower()
    if not LANGUAGE.fullmatch(language):
        raise KnowledgeError('language: a two-letter code such as "ru" or "en"', "language")
    tags = list(dict.fromkeys(t.strip() for t in data.tags if t.strip()))
    if len(tags) > MAX_TAGS or any(len(t) > MAX_TAG for t in tags):
        raise KnowledgeError(f"tags: at most {MAX_TAGS}, each at most {MAX_TAG} characters", "tags")
    channels = list(dict.fromkeys(c.strip().lower() for c in data.channels if c.strip()))
    bad = [c for c in channels if not CHANNEL.fullmatch(c)]
    if bad:
        raise KnowledgeError(f"channels: {bad[0]!r} is not a channel kind (email, telegram …)", "channels")
    return Checked(key, title, data.body, language, tags, channels)


def may_manage_shared(agent: Agent) -> bool:
    return agent.role in MANAGERS


def may_see(agent: Agent, template: Template) -> bool:
    return template.owner_id is None or template.owner_id == agent.id


def may_change(agent: Agent, template: Template) -> bool:
    if template.owner_id is not None:
        return template.owner_id == agent.id
    return may_manage_shared(agent)


async def bump_generation(session: AsyncSession) -> None:
    """Mark every process's search index stale (in the caller's transaction)."""
    generation = uuid.uuid4().hex
    result = await session.execute(
        update(KnowledgeState).where(KnowledgeState.id == STATE_ID).values(generation=generation)
    )
    if getattr(result, "rowcount", 0):
        return
    try:  # the first change ever: two processes may race to create the row; the loser updates it
        async with session.begin_nested():
            session.add(KnowledgeState(id=STATE_ID, generation=generation))
    except IntegrityError:
        await session.execute(
            update(KnowledgeState).where(KnowledgeState.id == STATE_ID).values(generation=generation)
        )


async def generation(session: AsyncSession) -> str | None:
    return await session.scalar(select(KnowledgeState.generation).where(KnowledgeState.id == STATE_ID))


def _apply(template: Template, checked: Checked) -> dict[str, Any]:
    """Set the checked fields; return what changed (old, new) for the audit row."""
    changed: dict[str, Any] = {}
    for name in ("title", "body", "language", "tags", "channels"):
        new = getattr(checked, name)
        old = getattr(template, name)
        if new != old:
            changed[name] = new if name != "body" else f"{len(new)} characters"
            setattr(template, name, new)
    return changed


async def _key_taken(session: AsyncSession, key: str, but: int | None = None) -> bool:
    query = select(Template.id).where(Template.key == key)
    if but is not None:
        query = query.where(Template.id != but)
    return (await session.scalar(query)) is not None


async def create_template(
    session: AsyncSession,
    data: TemplateInput,
    *,
    actor: Agent | None,
    personal: bool = False,
    audited: bool = True,
) -> Template:
    """A new template (shared; `personal` makes it the actor's own).

    `actor` None: an operator at the command line (audited without an agent), or the shipped defaults
    (`audited=False`: the release put them there, not a person).
    """
    checked = validate(data)
    if actor is not None and not personal and not may_manage_shared(actor):
        raise NotAllowed("only admins and supervisors may create shared templates")
    if personal and actor is None:
        raise KnowledgeError("a personal template needs an owner", "personal")
    key = checked.key or f"t-{uuid.uuid4().hex[:12]}"
    if await _key_taken(session, key):
        raise KnowledgeError(f"key {key!r} is already used by another template", "key")
    now = utcnow()
    template = Template(
        key=key,
        title=checked.title,
        body=checked.body,
        language=checked.language,
        tags=checked.tags,
        channels=checked.channels,
        usage_count=0,
        owner_id=actor.id if personal and actor is not None else None,
        created_at=now,
        updated_at=now,
    )
    session.add(template)
    await session.flush()
    await bump_generation(session)
    if audited:
        audit.record(
            session,
            "template.create",
            entity="template",
            entity_id=template.id,
            actor_agent_id=actor.id if actor is not None else None,
            detail={"key": key, "title": checked.title, "personal": personal},
        )
    return template


async def update_template(
    session: AsyncSession, template: Template, data: TemplateInput, *, actor: Agent | None
) -> bool:
    """Replace the template's fields (and key, if given); True if anything changed."""
    if actor is not None and not may_change(actor, template):
        raise NotAllowed("you may not change this template")
    checked = validate(data)
    changed = _apply(template, checked)
    if checked.key is not None and checked.key != template.key:
        if await _key_taken(session, checked.key, but=template.id):
            raise KnowledgeError(f"key {checked.key!r} is already used by another template", "key")
        changed["key"] = checked.key
        template.key = checked.key
    if not changed:
        return False
    template.updated_at = utcnow()
    await bump_generation(session)
    audit.record(
        session,
        "template.update",
        entity="template",
        entity_id=template.id,
        actor_agent_id=actor.id if actor is not None else None,
        detail={"key": template.key, "changed": changed},
    )
    return True


async def delete_template(session: AsyncSession, template: Template, *, actor: Agent) -> None:
    if not may_change(actor, template):
        raise NotAllowed("you may not delete this template")
    audit.record(
        session,
        "template.delete",
        entity="template",
        entity_id=template.id,
        actor_agent_id=actor.id,
        detail={"key": template.key, "title": template.title},
    )
    await session.delete(template)
    await bump_generation(session)


async def import_one(
    session: AsyncSession, data: TemplateInput, *, actor: Agent | None
) -> tuple[Template, Outcome]:
    """Create the shared template with this key, or update it: the import and the shipped defaults."""
    if not data.key:
        raise KnowledgeError("key is required to import", "key")
    existing = await session.scalar(select(Template).where(Template.key == data.key.strip()))
    if existing is None:
        return await create_template(session, data, actor=actor), "created"
    if existing.owner_id is not None:
        raise KnowledgeError(f"key {data.key!r} belongs to a personal template", "key")
    changed = await update_template(session, existing, data, actor=actor)
    return existing, "updated" if changed else "unchanged"


async def record_use(session: AsyncSession, template: Template) -> None:
    """One more use (an insertion into a reply), counted in the database, not in Python (no lost update)."""
    now = utcnow()
    await session.execute(
        update(Template)
        .where(Template.id == template.id)
        .values(usage_count=Template.usage_count + 1, last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(template, ["usage_count", "last_used_at"])


async def visible_template(session: AsyncSession, agent: Agent, template_id: int) -> Template | None:
    """The template if it exists and the agent may see it (someone else's personal one: None)."""
    template = await session.get(Template, template_id)
    if template is None or not may_see(agent, template):
        return None
    return template


async def list_templates(
    session: AsyncSession,
    agent: Agent,
    *,
    language: str | None = None,
    channel: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Template]:
    """Shared and the agent's own templates, by title."""
    query = select(Template).where(or_(Template.owner_id.is_(None), Template.owner_id == agent.id))
    if language is not None:
        query = query.where(Template.language == language)
    query = query.order_by(Template.title, Template.id)
    rows = list(await session.scalars(query))
    if channel is not None:  # a JSON list: filtered here rather than by dialect-specific JSON operators
        rows = [t for t in rows if not t.channels or channel in t.channels]
    return rows[offset : offset + limit]


def indexed(template: Template) -> IndexedTemplate:
    return IndexedTemplate(
        id=template.id,
        key=template.key,
        title=template.title,
        body=template.body,
        language=template.language,
        tags=tuple(template.tags or ()),
        channels=tuple(template.channels or ()),
        owner_id=template.owner_id,
        usage_count=template.usage_count or 0,
        last_used_at=template.last_used_at,
    )


def usage_of(templates: Sequence[Template]) -> dict[int, Usage]:
    """The current use of each template, by id, for :func:`inbox.knowledge.search.with_use`."""
    return {t.id: Usage(t.usage_count or 0, t.last_used_at) for t in templates}


async def templates_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Template]:
    """The templates with these ids that still exist (one query: the rows behind a list of hits)."""
    if not ids:
        return {}
    return {t.id: t for t in await session.scalars(select(Template).where(Template.id.in_(list(ids))))}


def template_event(template: Template, change: Change) -> Event:
    """The bus event announcing a committed change: everyone's for a shared template, its owner's alone
    for a personal one (the data names the template, never its text)."""
    data = {"id": template.id, "key": template.key, "language": template.language}
    if template.owner_id is not None:
        return PrivateEvent(f"template.{change}", data={**data, "personal": True}, owner_id=template.owner_id)
    return Event(f"template.{change}", data={**data, "personal": False})
