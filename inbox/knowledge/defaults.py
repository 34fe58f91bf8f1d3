"""The shipped starter templates (templates/replies/*.yaml), loaded once, on the hub's first start.

Idempotent by key: a key already in the database is left as it is (an admin may have edited it). Once
loaded, `knowledge_state.defaults_loaded_at` is set and the set is not loaded again, so a default an admin
deleted stays deleted. The files are read before the transaction opens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.knowledge.templates import STATE_ID, TemplateInput, bump_generation, create_template
from inbox.models import KnowledgeState, Template, utcnow


class DefaultsError(ValueError):
    """A shipped file that does not hold a list of valid templates (a bug in the release, said loudly)."""


def read_defaults(directory: Path) -> list[TemplateInput]:
    """Every template of every *.yaml file in `directory`, by file name order."""
    entries: list[TemplateInput] = []
    for path in sorted(directory.glob("*.yaml")):
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(raw, list):
            raise DefaultsError(f"{path}: expected a list of templates")
        for position, item in enumerate(raw):
            if not isinstance(item, dict):
                raise DefaultsError(f"{path}: entry {position} is not a mapping")
            try:
                entries.append(TemplateInput.from_mapping(item))
            except ValueError as exc:
                raise DefaultsError(f"{path}: entry {position}: {exc}") from exc
    return entries


async def load_defaults(session: AsyncSession, entries: list[TemplateInput]) -> int:
    """Create the templates whose keys are new, once per database; the number created. Caller commits."""
    state = await session.get(KnowledgeState, STATE_ID)
    if state is not None and state.defaults_loaded_at is not None:
        return 0
    existing = set(await session.scalars(select(Template.key)))
    created = 0
    for entry in entries:
        if entry.key not in existing:
            await create_template(session, entry, actor=None, audited=False)
            created += 1
    await bump_generation(session)  # makes sure the state row exists
    state = await session.get_one(KnowledgeState, STATE_ID)
    state.defaults_loaded_at = utcnow()
    return created
