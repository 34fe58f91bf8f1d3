"""Suggested replies: the templates that best answer what the client has just written.

The query is the conversation's recent inbound messages — those since the last reply, at most
:data:`RECENT` (the older ones were answered already) — ranked by :mod:`inbox.knowledge.search` among the
templates of the conversation's language that suit its channel and that the agent may see. The variables
a template renders with come from here too.

The conversation's language (:func:`conversation_language`) is the language the client writes in, read
from their last :data:`LANGUAGE_HISTORY` messages — each without a mail's quoted history and signature
(an English auto-reply quoted under a Russian answer is not the client's language) — the newest weighing
most (each older one a quarter as much) and each by its letters up to :data:`LANGUAGE_LETTERS`, about a
sentence: a newest message of a sentence or more decides (a client who switched languages is answered in
the new one), a one-word "ok" does not turn a Russian conversation English, and one long mail does not
drown the rest. Cyrillic letters
count as Russian, Latin ones as English unless they read as Russian in Latin letters («zakaz ne prishel»).
A conversation with no letters yet takes the agent's language, else the hub's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.knowledge.search import Hit, SearchIndex, visible_to
from inbox.knowledge.text import client_text, language_of, letters_by_language, strip_mail
from inbox.models import Agent, Contact, Conversation, Message

RECENT = 3
SUGGESTIONS = 3
LANGUAGE_HISTORY = 5
LANGUAGE_LETTERS = 60
LANGUAGE_DECAY = 0.25  # the weight of each older message relative to the next newer one


async def recent_inbound(session: AsyncSession, conversation: Conversation, limit: int = RECENT) -> list[str]:
    """The texts of the client's messages since the last reply (else the last ones), oldest first."""
    rows = (
        await session.execute(
            select(Message.direction, Message.subject, Message.body_text)
            .where(Message.conversation_id == conversation.id, Message.direction.in_(("in", "out")))
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(20)
        )
    ).all()
    unanswered: list[str] = []
    for direction, subject, body in rows:
        if direction == "out":
            break
        unanswered.append(" ".join(part for part in (subject, body) if part))
    if not unanswered:
        unanswered = [" ".join(p for p in (s, b) if p) for d, s, b in rows if d == "in"]
    return list(reversed(unanswered[:limit]))


def language_of_messages(texts: Sequence[str], default: str) -> str:
    """The language of a client's messages, `texts` newest first (see the module's docstring)."""
    russian = english = 0.0
    for age, text in enumerate(texts[:LANGUAGE_HISTORY]):
        ru, en = letters_by_language(strip_mail(text))
        total = ru + en
        if not total:
            continue
        weight = LANGUAGE_DECAY**age * min(total, LANGUAGE_LETTERS) / total
        russian += weight * ru
        english += weight * en
    if not russian and not english:
        return default
    return "ru" if russian >= english else "en"


async def conversation_language(session: AsyncSession, conversation: Conversation, default: str) -> str:
    """The language the client writes in (their recent messages); `default` before they wrote any."""
    rows = await session.scalars(
        select(Message.body_text)
        .where(Message.conversation_id == conversation.id, Message.direction == "in")
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(LANGUAGE_HISTORY)
    )
    return language_of_messages([body for body in rows if body], default)


def suggest(
    index: SearchIndex,
    text: str,
    *,
    agent_id: int | None = None,
    language: str | None = None,
    channel: str | None = None,
    limit: int = SUGGESTIONS,
) -> list[Hit]:
    """The best templates for `text`; `language` None: the language the text is written in.

    The text is matched as the client meant it (:func:`inbox.knowledge.text.client_text`): without a
    mail's quoted history and signature, Russian in Latin letters read in Cyrillic.
    """
    language = language or language_of(text)
    query = client_text(text)
    return index.search(query, limit=limit, accept=visible_to(agent_id, language=language, channel=channel))


def _first_name(name: str | None) -> str:
    return name.split()[0] if name and name.split() else ""


async def variables_for(
    session: AsyncSession, conversation: Conversation | None, agent: Agent | None, company: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """What a template may use when `agent` inserts it into `conversation` (None: no conversation). No
    agent (a routing rule's auto-reply): ``agent`` is empty and renders as empty text."""
    contact: dict[str, Any] = {}
    conv: dict[str, Any] = {}
    if conversation is not None:
        card = await session.get(Contact, conversation.contact_id)
        if card is not None:
            contact = {
                "id": card.id,
                "name": card.name or "",
                "first_name": _first_name(card.name),
                "company": card.company or "",
            }
        conv = {
            "id": conversation.id,
            "subject": conversation.subject or "",
            "channel": conversation.channel_kind,
            "status": conversation.status,
        }
    return {
        "contact": contact,
        "agent": {
            "id": agent.id,
            "name": agent.name,
            "first_name": _first_name(agent.name),
            "email": agent.email,
        }
        if agent is not None
        else {},
        "conversation": conv,
        "company": dict(company),
    }
